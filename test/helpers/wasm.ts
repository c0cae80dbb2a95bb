// The WebAssembly runtime for tests: one per thread count per test file (1 thread: no workers;
// 2 threads: the caller and one worker on shared memory), disposed after the file.
import { afterAll } from 'vitest';
import { runSteps, wasmConvOptions, type Step } from '../../src/backends/wasm/conv2d.js';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import type { HostTensors, OpEntry, PassName, WasmVariant } from '../../src/ops/types.js';

const runtimes = new Map<number, Promise<WasmRuntime>>();

/** The test file's runtime with `threads` threads. */
export function testRuntime(threads: number): Promise<WasmRuntime> {
  let r = runtimes.get(threads);
  if (!r) runtimes.set(threads, (r = WasmRuntime.create({ threads })));
  return r;
}

afterAll(async () => {
  for (const r of runtimes.values()) await (await r).dispose();
  runtimes.clear();
});

/** Thread counts every kernel test runs with. */
export const THREADS = [1, 2];

/** Copies `data` into a new region of the runtime's memory; returns its byte offset. */
export function put(rt: WasmRuntime, data: ArrayLike<number>, label = 'tensor'): number {
  const p = rt.arena.alloc(data.length * 4, label);
  rt.write(p, data);
  return p;
}

/** A new region of `n` f32 filled with `value`. */
export function filled(rt: WasmRuntime, n: number, value = 0, label = 'tensor'): number {
  const p = rt.arena.alloc(n * 4, label);
  rt.f32(p, n).fill(value);
  return p;
}

/** Runs `fn` and then frees what it allocated from the arena. */
export async function scoped<T>(rt: WasmRuntime, fn: () => T | Promise<T>): Promise<T> {
  const m = rt.arena.mark();
  try {
    return await fn();
  } finally {
    rt.arena.release(m);
  }
}

/**
 * Runs every pass of one case of a registered op on the wasm backend: the case's tensors in the
 * arena (inputs from `inputs`, outputs at their init or a copy of their `from` input), each pass
 * planned in order then run, every output read back, and the arena released to where it was.
 * Returns the outputs and `<step label>:<step variant>` of each planned step (which kernels ran).
 */
export function runWasmOp<P>(rt: WasmRuntime, op: OpEntry<P>, p: P, inputs: HostTensors, passes: readonly PassName[] = op.passes): WasmOpRun {
  const mark = rt.arena.mark();
  const base = rt.arena.top;
  try {
    const specs = op.tensors(p);
    const t: Record<string, number> = {};
    for (const [name, s] of Object.entries(specs)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const given = s.role === 'input' ? inputs[name] : s.from ? inputs[s.from] : undefined;
      if (s.role === 'input' && !given) throw new Error(`${op.name}: no data for input '${name}'`);
      if (given && given.length !== n) throw new Error(`${op.name}: '${name}' has ${given.length} values, shape [${s.shape.join(', ')}] needs ${n}`);
      // At least 4 bytes: a zero-sized tensor still gets an address of its own.
      const ptr = rt.arena.alloc(Math.max(n, 1) * 4, `${op.name}.${name}`);
      const view = s.dtype === 'f32' ? rt.f32(ptr, n) : new Uint32Array(rt.memory.buffer, ptr, n);
      if (given) view.set(given);
      else view.fill(s.init ?? 0);
      t[name] = ptr;
    }
    const steps: Step[] = [];
    for (const pass of passes) {
      const planner = op.backends.wasm.passes[pass];
      if (!planner) throw new Error(`${op.name}: no wasm planner for pass '${pass}'`);
      steps.push(...planner.plan(rt, p, t, 'case'));
    }
    const planned = rt.arena.top;
    runSteps(steps);
    const ran = rt.arena.top;
    const outputs: HostTensors = {};
    for (const [name, s] of Object.entries(specs)) {
      if (s.role !== 'output') continue;
      const n = s.shape.reduce((a, b) => a * b, 1);
      outputs[name] = s.dtype === 'f32' ? rt.read(t[name]!, n) : new Uint32Array(rt.memory.buffer, t[name]!, n).slice();
    }
    return { outputs, kernels: steps.map((x) => `${x.label}:${x.variant ?? ''}`), arena: { base, planned, ran } };
  } finally {
    rt.arena.release(mark);
  }
}

export interface WasmOpRun {
  outputs: HostTensors;
  kernels: string[];
  /** Arena top before the case, after planning (tensors and scratch), after running the steps. */
  arena: { base: number; planned: number; ran: number };
}

/**
 * Runs `fn` on a runtime of the variant's configuration with its Winograd setting, restoring the
 * setting after; checks the runtime has the SIMD level the variant asks for.
 */
export async function withWasmVariant<T>(v: WasmVariant, fn: (rt: WasmRuntime) => T | Promise<T>): Promise<T> {
  const rt = await testRuntime(v.threads);
  if (rt.threads !== v.threads) throw new Error(`${v.name}: the runtime has ${rt.threads} threads (${rt.reason})`);
  if (v.simd && rt.simd !== v.simd) throw new Error(`${v.name}: the runtime runs ${rt.simd} (${rt.reason})`);
  const saved = { ...wasmConvOptions };
  if (v.winograd !== undefined) wasmConvOptions.winograd = v.winograd;
  if (v.splitK !== undefined) wasmConvOptions.splitK = v.splitK;
  if (v.tconvPhases !== undefined) wasmConvOptions.tconvPhases = v.tconvPhases;
  if (v.tconvDirect !== undefined) wasmConvOptions.tconvDirect = v.tconvDirect;
  if (v.directPack !== undefined) wasmConvOptions.directPack = v.directPack;
  try {
    return await fn(rt);
  } finally {
    Object.assign(wasmConvOptions, saved);
  }
}
