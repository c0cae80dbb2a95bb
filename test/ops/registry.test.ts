// One test for every registered op (src/ops/registry.ts), on every pass and every kernel variant:
//   - the entry is complete (a planner per pass, every output written, the golden files present);
//   - PyTorch goldens, under the variants each golden source names;
//   - the float64 reference's gradients against finite differences (one checker, float64);
//   - random tiny shapes against the float64 reference, for EVERY variant, checking that the
//     forced kernels are the ones that ran;
//   - planning that fails half-way (an injected failure at every allocation and bind group in
//     turn) frees everything it made;
// and, through withGpu, that no case leaves a GPU buffer behind. The wasm column walks the same
// goldens, references, tolerances and random shapes for every op × pass × wasm variant (thread
// count, Winograd on/off), checks the steps that ran, and that each case's arena returns to its
// baseline (scratch is all taken at planning; running takes none). Per-op test files keep only
// what is special to their op; test/wasm/ keeps what is special to the wasm runtime.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device.js';
import { disposeDispatch } from '../../src/gpu/kernel.js';
import { scratchHolders } from '../../src/gpu/pool.js';
import { OPS } from '../../src/ops/registry.js';
import { GRADIENT, PASS_LABELS, type GoldenCase, type HostTensors, type OpEntry, type Tolerance, type Variant } from '../../src/ops/types.js';
import { expectClose, finiteDiff } from '../helpers/check.js';
import { loadGolden } from '../helpers/golden.js';
import { injectFailure, randn, releaseDeviceCaches, releaseGpu, withGpu } from '../helpers/gpu.js';
import { makeTensors, planPasses, runOp } from '../helpers/ops.js';
import { runWasmOp, withWasmVariant } from '../helpers/wasm.js';

type Op = OpEntry<unknown>;
const ops = OPS as unknown as readonly Op[];

/** Random shapes per (op, variant). */
const SHAPES = 3;
const covered = new Map<string, number>();

afterAll(async () => {
  await releaseGpu();
  const total = ops.reduce((a, op) => a + op.passes.length * op.backends.webgpu.variants.length, 0);
  const wasm = ops.reduce((a, op) => a + op.passes.length * op.backends.wasm.variants.length, 0);
  console.log(`registry: ${ops.length} ops, ${total} op × pass × variant cases on webgpu and ${wasm} on wasm (${total + wasm} op × pass × backend × variant); random-shape runs per case: ${[...covered.values()].join('+')}`);
});

/** Random inputs of a case: the entry's own generator, else uniform in [−1, 1) per input. */
function inputsFor(op: Op, p: unknown, seed: number): HostTensors {
  if (op.randomInputs) return op.randomInputs(p, seed);
  const out: HostTensors = {};
  let k = 0;
  for (const [name, s] of Object.entries(op.tensors(p))) {
    if (s.role !== 'input') continue;
    const n = s.shape.reduce((a, b) => a * b, 1);
    out[name] = s.dtype === 'f32' ? randn(n, seed * 31 + k++) : Uint32Array.from(randn(n, seed * 31 + k++, 0, 4), Math.floor);
  }
  return out;
}

type Golden = ReturnType<typeof loadGolden>;

/** The inputs of a golden case: from the file, or generated from 'seed:S[:lo:hi]' (the file holds only results), bit for bit as tools/golden/head.py. */
function goldenInputs(op: Op, c: GoldenCase<unknown>, golden: Golden): HostTensors {
  const specs = op.tensors(c.params);
  const inputs: HostTensors = {};
  for (const [name, key] of Object.entries(c.inputs)) {
    const n = specs[name]!.shape.reduce((a, b) => a * b, 1);
    const seeded = /^seed:(\d+)(?::([-\d.e]+):([-\d.e]+))?$/.exec(key);
    inputs[name] = seeded
      ? randn(n, Number(seeded[1]), seeded[2] ? Number(seeded[2]) : -1, seeded[3] ? Number(seeded[3]) : 1)
      : specs[name]!.dtype === 'u32' ? golden.u32(key) : golden.f32(key);
  }
  return inputs;
}

/** Compares a run's outputs with a golden case's expected tensors (except `skip`); returns the max error per output. */
function checkGolden(op: Op, c: GoldenCase<unknown>, golden: Golden, outputs: HostTensors, skip: Record<string, string> = {}): Record<string, number> {
  const specs = op.tensors(c.params);
  const errs: Record<string, number> = {};
  for (const [name, key] of Object.entries(c.expected)) {
    const base = name.split('#')[0]!;
    if (base in skip) continue;
    const full = outputs[base]!;
    const got = c.reduce?.[name] ? c.reduce[name]!(full) : full;
    const want = specs[base]!.dtype === 'u32' && !c.reduce?.[name] ? golden.u32(key) : golden.f32(key);
    errs[name] = expectClose(`${c.name} ${name}`, got, want, tolFor(op, name, c.tolerance));
  }
  return errs;
}

const f64 = (h: HostTensors) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Float64Array.from(v)]));
const tolFor = (op: Op, name: string, override?: Record<string, Tolerance>): Tolerance => override?.[name] ?? op.tolerance?.[name] ?? GRADIENT;

/** Compares every output of a run with the float64 reference. */
function checkAgainstReference(op: Op, p: unknown, inputs: HostTensors, outputs: HostTensors, tag: string, skip: Record<string, string> = {}): void {
  const want = op.reference(p, f64(inputs));
  for (const [name, got] of Object.entries(outputs)) {
    if (name in skip) continue;
    expect(want[name], `${op.name}: the reference has no '${name}'`).toBeDefined();
    expectClose(`${tag} ${name}`, got, want[name]!, tolFor(op, name));
  }
}

describe.each(ops.map((op) => [op.name, op] as const))('%s', (_name, op) => {
  const column = op.backends.webgpu;

  it('names a planner for every pass, writes every output, and has unique variants and its golden files', () => {
    expect(op.passes.length).toBeGreaterThan(0);
    for (const pass of op.passes) {
      expect(column.passes[pass], `${op.name}.${pass}: webgpu planner`).toBeDefined();
      expect(op.writes[pass]?.length, `${op.name}.${pass}: writes`).toBeGreaterThan(0);
    }
    const p = op.randomParams(1, column.variants[0]!);
    const outputs = Object.entries(op.tensors(p)).filter(([, s]) => s.role === 'output').map(([n]) => n).sort();
    const written = op.passes.flatMap((pass) => op.writes[pass] ?? []);
    for (const o of outputs) expect(written, `${op.name}: output '${o}' written by no pass`).toContain(o);
    expect(column.variants.length).toBeGreaterThan(0);
    expect(new Set(column.variants.map((v) => v.name)).size).toBe(column.variants.length);
    for (const g of op.goldens) {
      expect(existsSync(fileURLToPath(new URL(`../golden/${g.file}.safetensors`, import.meta.url))), g.file).toBe(true);
      expect(!!g.cases !== !!g.special, `${g.file}: either cases or the reason the op's own test reads it`).toBe(true);
      for (const v of g.variants ?? []) expect(column.variants.map((x) => x.name)).toContain(v);
    }
  });

  for (const source of op.goldens.filter((g) => g.cases)) {
    const golden = loadGolden(source.file);
    const variants = column.variants.filter((v) => !source.variants || source.variants.includes(v.name));
    for (const c of source.cases!(golden.meta)) {
      for (const v of variants) {
        it(`matches the PyTorch golden ${source.file}/${c.name} (${v.name})`, async () => {
          const inputs = goldenInputs(op, c, golden);
          const run = await withGpu((gpu) => runOp(gpu, op, c.params, inputs), { policy: v.policy });
          const errs = checkGolden(op, c, golden, run.outputs);
          console.log(`${op.name} golden ${c.name} (${v.name}) max|err| ${JSON.stringify(errs)}`);
        });
      }
    }
  }

  if (op.gradients?.length) {
    it('has a float64 reference whose gradients match finite differences', () => {
      for (const seed of [11, 12]) {
        const p = op.randomParams(seed, column.variants[0]!);
        const specs = op.tensors(p);
        const inputs = f64(inputsFor(op, p, seed));
        const ref = op.reference(p, inputs);
        for (const g of op.gradients!) {
          if (!inputs[g.wrt]) continue; // an optional input this case does not have (no bias)
          const n = inputs[g.wrt]!.length;
          // At most 48 evenly spread coordinates per tensor: finite differences cost two forward passes each.
          const at = Array.from(new Set(Array.from({ length: Math.min(n, 48) }, (_, i) => Math.floor((i * n) / Math.min(n, 48)))));
          const fd = finiteDiff((x) => g.loss(p, { ...inputs, [g.wrt]: x }), Float64Array.from(inputs[g.wrt]!), { at });
          const init = specs[g.grad]!.accumulates ? specs[g.grad]!.init ?? 0 : 0;
          const want = at.map((i) => ref[g.grad]![i]! - init);
          expectClose(`${op.name} seed ${seed} d/d${g.wrt}`, fd, want, { atol: 1e-6, rtol: 1e-6 });
        }
      }
    });
  }

  column.variants.forEach((v: Variant, vi: number) => {
    it(`matches the float64 reference on ${SHAPES} random shapes (${v.name})`, async () => {
      const kernels = new Set<string>();
      await withGpu(async (gpu) => {
        for (let s = 0; s < SHAPES; s++) {
          const seed = 1000 * (vi + 1) + s;
          const p = op.randomParams(seed, v);
          const inputs = inputsFor(op, p, seed);
          const run = await runOp(gpu, op, p, inputs);
          run.kernels.forEach((k) => kernels.add(k));
          // One naming: a pass spelled in a dispatch label (`conv2d.backward_weight.reduce(case)`) is a pass of this op.
          for (const label of run.labels) {
            const short = label.startsWith(`${op.name}.`) ? /^[a-z_]+/.exec(label.slice(op.name.length + 1))?.[0] : undefined;
            // ('forward' in a label also names the train / eval / fused forward passes.)
            if (short && short in PASS_LABELS) expect(op.passes.some((x) => x.startsWith(PASS_LABELS[short]!)), `${label}: no such pass`).toBe(true);
          }
          checkAgainstReference(op, p, inputs, run.outputs, `${op.name} ${v.name} ${JSON.stringify(p)}`);
        }
      }, { policy: v.policy });
      for (const re of v.uses ?? []) expect([...kernels].some((k) => re.test(k)), `${v.name}: no ${re} among ${[...kernels].join(', ')}`).toBe(true);
      covered.set(op.name, (covered.get(op.name) ?? 0) + SHAPES * op.passes.length);
    });
  });

  for (const mode of ['buffer', 'bindGroup'] as const) {
    it(`frees everything a plan made when planning fails at any ${mode === 'buffer' ? 'buffer allocation' : 'bind group'}`, async () => {
      await withGpu(async (gpu) => {
        const v = column.variants.find((x) => x.shapes) ?? column.variants[0]!;
        const p = op.randomParams(7, v);
        const t = makeTensors(gpu, op, p, inputsFor(op, p, 7));
        try {
          for (const pass of op.passes) {
            let failures = 0;
            for (let k = 0; ; k++) {
              releaseDeviceCaches(gpu);
              const base = gpu.stats();
              const injected = injectFailure(gpu, mode, k);
              let ds;
              try {
                ds = await planPasses(gpu, op, p, t, [pass]);
              } catch (e) {
                expect(injected.fired(), `${op.name}.${pass}: unexpected ${(e as Error).message}`).toBe(true);
                expect((e as Error).message).toContain('injected');
              } finally {
                injected.restore();
              }
              if (ds) {
                expect(injected.fired(), `${op.name}.${pass}: the plan swallowed the injected failure`).toBe(false);
                for (const d of ds) disposeDispatch(gpu, d);
              }
              expect(scratchHolders(gpu), `${op.name}.${pass} failing at ${mode} ${k}: scratch still held`).toBe(0);
              releaseDeviceCaches(gpu);
              expect(gpu.stats(), `${op.name}.${pass} failing at ${mode} ${k}: ${gpu.liveLabels().slice(-5).join(', ')}`).toEqual(base);
              if (ds) break;
              failures++;
            }
            expect(failures, `${op.name}.${pass}: no ${mode} to fail at`).toBeGreaterThan(0);
          }
        } finally {
          for (const x of Object.values(t)) x.dispose();
        }
      }, { policy: column.variants.find((x) => x.shapes)?.policy ?? {} });
    });
  }
});

describe.each(ops.map((op) => [op.name, op] as const))('%s on wasm', (_name, op) => {
  const column = op.backends.wasm;
  const skips = column.skips ?? {};

  it('names a wasm planner for every pass, has unique variants, and skips only outputs it names with a reason', () => {
    for (const pass of op.passes) expect(column.passes[pass], `${op.name}.${pass}: wasm planner`).toBeDefined();
    expect(column.variants.length).toBeGreaterThan(0);
    expect(new Set(column.variants.map((v) => v.name)).size).toBe(column.variants.length);
    for (const g of op.goldens) for (const v of g.wasmVariants ?? []) expect(column.variants.map((x) => x.name)).toContain(v);
    const outputs = Object.entries(op.tensors(op.randomParams(1, column.variants[0]!))).filter(([, s]) => s.role === 'output').map(([n]) => n);
    for (const [name, why] of Object.entries(skips)) {
      expect(outputs, `${op.name}: skips '${name}', which is no output`).toContain(name);
      expect(why.length).toBeGreaterThan(10);
    }
    expect(Object.keys(skips).length, `${op.name}: every output skipped`).toBeLessThan(outputs.length);
  });

  for (const source of op.goldens.filter((g) => g.cases)) {
    const golden = loadGolden(source.file);
    const variants = column.variants.filter((v) => !source.wasmVariants || source.wasmVariants.includes(v.name));
    for (const c of source.cases!(golden.meta)) {
      for (const v of variants) {
        it(`matches the PyTorch golden ${source.file}/${c.name} (${v.name})`, async () => {
          const inputs = goldenInputs(op, c, golden);
          const run = await withWasmVariant(v, (rt) => runWasmOp(rt, op, c.params, inputs));
          const errs = checkGolden(op, c, golden, run.outputs, skips);
          expect(Object.keys(errs).length).toBeGreaterThan(0);
          console.log(`${op.name} wasm golden ${c.name} (${v.name}) max|err| ${JSON.stringify(errs)}`);
        });
      }
    }
  }

  column.variants.forEach((v, vi) => {
    it(`matches the float64 reference on ${SHAPES} random shapes, and its arena returns to its baseline (${v.name})`, async () => {
      const kernels = new Set<string>();
      await withWasmVariant(v, (rt) => {
        const baseline = rt.arena.top;
        for (let s = 0; s < SHAPES; s++) {
          const seed = 1000 * (vi + 1) + s;
          const p = op.randomParams(seed, v);
          const inputs = inputsFor(op, p, seed);
          const run = runWasmOp(rt, op, p, inputs);
          run.kernels.forEach((k) => kernels.add(k));
          expect(run.arena.base).toBe(baseline);
          expect(run.arena.planned, 'planning takes the case tensors at least').toBeGreaterThan(run.arena.base);
          expect(run.arena.ran, `${op.name} ${v.name}: running the steps took arena memory (scratch belongs to planning)`).toBe(run.arena.planned);
          expect(rt.arena.top, `${op.name} ${v.name}: the arena did not return to its baseline`).toBe(baseline);
          checkAgainstReference(op, p, inputs, run.outputs, `${op.name} wasm ${v.name} ${JSON.stringify(p)}`, skips);
        }
      });
      for (const re of v.uses ?? []) expect([...kernels].some((k) => re.test(k)), `${v.name}: no ${re} among ${[...kernels].join(', ')}`).toBe(true);
      covered.set(`${op.name} wasm`, (covered.get(`${op.name} wasm`) ?? 0) + SHAPES * op.passes.length);
    });
  });
});

