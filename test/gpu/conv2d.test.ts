// conv2d on the paths a model relies on: accumulation, splitting over N, split-K, autotune
// persistence, and shape errors raised before any dispatch. The PyTorch goldens, the float64
// reference (and its finite differences) and random shapes for every kernel variant are in
// test/ops/registry.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device.js';
import { disposeDispatch, submit, type Dispatch } from '../../src/gpu/kernel.js';
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutSize,
  IGEMM_CANDIDATES,
  type Conv2dParams,
} from '../../src/gpu/ops/conv2d.js';
import { Tensor, trimReadbackPool } from '../../src/gpu/tensor.js';
import { randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { withPolicy } from '../../src/gpu/policy.js';
import { refConvBackward, refConvForward } from '../../src/ops/reference/conv.js';
import { expectClose } from '../helpers/check.js';

afterAll(releaseGpu);

// Forward: atol 1e-5 rather than 1e-6 because outputs are f32 sums of up to C·kh·kw = 147
// products of O(1) values summed in a different order than PyTorch's (|y| up to ~10, so one
// f32 ulp of the sum is already ~1e-6).
const FWD = { atol: 1e-5, rtol: 1e-3 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };
const VARIANTS = ['reg4x4', 'tiled64x64'];

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array | null;
  dispatches: number;
  labels: string[];
}

/** Runs forward, backward-input and backward-weight on the GPU; dw/db start at dw0/db0 (accumulation). */
async function runConv(
  gpu: Gpu, p: Conv2dParams, xs: Float32Array, ws: Float32Array, bs: Float32Array | null, dys: Float32Array,
  opts: { dx0?: Float32Array; dw0?: Float32Array; db0?: Float32Array } = {},
): Promise<Run> {
  const { OH, OW } = conv2dOutSize(p);
  const x = Tensor.from(gpu, xs, [p.N, p.C, p.H, p.W], 'x'); // (N, C, H, W)
  const w = Tensor.from(gpu, ws, [p.K, p.C, p.kh, p.kw], 'w'); // (K, C, kh, kw)
  const b = bs ? Tensor.from(gpu, bs, [p.K], 'b') : null; // (K)
  const dy = Tensor.from(gpu, dys, [p.N, p.K, OH, OW], 'dy'); // (N, K, OH, OW)
  const y = Tensor.zeros(gpu, [p.N, p.K, OH, OW], 'y'); // (N, K, OH, OW)
  const dx = opts.dx0 ? Tensor.from(gpu, opts.dx0, [p.N, p.C, p.H, p.W], 'dx') : Tensor.zeros(gpu, [p.N, p.C, p.H, p.W], 'dx');
  const dw = opts.dw0 ? Tensor.from(gpu, opts.dw0, w.shape, 'dw') : Tensor.zeros(gpu, w.shape, 'dw');
  const db = bs ? (opts.db0 ? Tensor.from(gpu, opts.db0, [p.K], 'db') : Tensor.zeros(gpu, [p.K], 'db')) : null;
  const ds: Dispatch[] = [
    ...(await conv2dForward(gpu, y, x, w, b, p, 'test')),
    ...(await conv2dBackwardInput(gpu, dx, dy, w, p, !!opts.dx0, 'test')),
    ...(await conv2dBackwardWeight(gpu, dw, db, dy, x, p, 'test')),
  ];
  submit(gpu, ds);
  const out = { y: await y.read(), dx: await dx.read(), dw: await dw.read(), db: db ? await db.read() : null, dispatches: ds.length, labels: ds.map((d) => d.label) };
  for (const d of ds) disposeDispatch(gpu, d);
  for (const t of [x, w, b, dy, y, dx, dw, db]) t?.dispose();
  return out;
}

describe('matmul', () => {
  it('the baseline matmul (bench:kernels) is exact on small integers', async () => {
    const { matmul } = await import('../../src/gpu/ops/matmul.js');
    await withGpu(async (gpu) => {
      const M = 72, K = 36, N = 80;
      const av = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
      const bv = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
      for (const v of ['reg', 'reg8', 'tiled'] as const) {
        const a = Tensor.from(gpu, av, [M, K], 'a'), b = Tensor.from(gpu, bv, [K, N], 'b'), c = Tensor.zeros(gpu, [M, N], 'c');
        const d = await matmul(gpu, c, a, b, v);
        submit(gpu, [d]);
        const got = await c.read();
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += av[i * K + k]! * bv[k * N + j]!;
            expect(got[i * N + j], `${v} (${i}, ${j})`).toBe(s);
          }
        disposeDispatch(gpu, d);
        [a, b, c].forEach((t) => t.dispose());
      }
    });
  });
});

describe('conv2d model paths', () => {
  const p: Conv2dParams = { N: 4, C: 4, H: 8, W: 8, K: 4, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
  const { OH, OW } = conv2dOutSize(p);
  const xs = randn(p.N * p.C * p.H * p.W, 21), ws = randn(p.K * p.C * 9, 22), bs = randn(p.K, 23);
  const dys = randn(p.N * p.K * OH * OW, 24);
  const ref = () => ({ y: refConvForward(xs, ws, bs, p), ...refConvBackward(xs, ws, dys, p) });

  it('accumulates into dx (accumulate=true), dw and db', async () => {
    await withGpu(async (gpu) => {
      const dx0 = randn(xs.length, 31), dw0 = randn(ws.length, 32), db0 = randn(p.K, 33);
      const r = await runConv(gpu, p, xs, ws, bs, dys, { dx0, dw0, db0 });
      const g = ref();
      expectClose('dx', r.dx, g.dx.map((v, i) => v + dx0[i]!), GRAD);
      expectClose('dw', r.dw, g.dw.map((v, i) => v + dw0[i]!), GRAD);
      expectClose('db', r.db!, g.db.map((v, i) => v + db0[i]!), GRAD);
    });
  });

  for (const variant of VARIANTS) {
    it(`splits over N when activations exceed the binding limit (${variant})`, async () => {
      // 1 KiB per image for x, y, dx, dy: a 2 KiB limit forces chunks of two images.
      await withGpu(async (gpu) => {
        const r = await runConv(gpu, p, xs, ws, bs, dys);
        const g = ref();
        // forward 2 + backward-input 2 + wgrad 2 (+ reduces) + bias 2: more than one pass per op
        expect(r.dispatches).toBeGreaterThanOrEqual(8);
        expectClose('y', r.y, g.y, FWD);
        expectClose('dx', r.dx, g.dx, GRAD);
        expectClose('dw', r.dw, g.dw, GRAD);
        expectClose('db', r.db!, g.db, GRAD);
      }, { policy: { autotune: { force: variant }, conv: { maxBindingBytes: 2048 } } });
    });
  }

  for (const variant of VARIANTS) {
    it(`splits the forward / backward-input reduction (split-K), keeping overwrite and accumulate (${variant})`, async () => {
      for (const [splits, chSplits] of [[2, 1], [3, 1], [1, 3], [2, 2]] as const) {
        await withGpu(async (gpu) => {
          // (withGpu fails the test if the partial sums outlive the dispatches.)
          const dx0 = randn(xs.length, 51);
          const r = await runConv(gpu, p, xs, ws, bs, dys, { dx0 });
          expect(r.labels).toContain('conv2d.forward.reduce(test)');
          expect(r.labels).toContain('conv2d.backward_input.reduce(test)');
          const g = ref();
          expectClose(`y splits=${splits}x${chSplits}`, r.y, g.y, FWD);
          expectClose(`dx splits=${splits}x${chSplits}`, r.dx, g.dx.map((v, i) => v + dx0[i]!), GRAD);
        }, { policy: { autotune: { force: variant }, conv: { igemmSplits: splits, igemmChSplits: chSplits } } });
      }
    });
  }

  it('splits the weight-gradient reduction (split-K) and reduces into dw', async () => {
    for (const splits of [1, 3, 32]) {
      await withGpu(async (gpu) => {
        // (withGpu fails the test if the partial-sum scratch outlives the dispatches.)
        const dw0 = randn(ws.length, 41);
        const r = await runConv(gpu, p, xs, ws, bs, dys, { dw0 });
        expectClose(`dw splits=${splits}`, r.dw, ref().dw.map((v, i) => v + dw0[i]!), GRAD);
      }, { policy: { conv: { wgradSplits: splits } } });
    }
  });

  it('autotune measures the candidates once per shape, caches the winner and persists it per adapter', async () => {
    const { mkdtempSync, readFileSync: read } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { adapterKey, configureAutotune } = await import('../../src/gpu/autotune.js');
    const file = join(mkdtempSync(join(tmpdir(), 'webfcn-')), 'autotune.json');
    const q: Conv2dParams = { ...p, N: 1, H: 6, W: 5, K: 3 }; // a shape no other test plans
    configureAutotune({ file }); // the process's persistence file, as the webfcn command sets it
    try {
      await withGpu(async (gpu) => {
        const { OH: oh, OW: ow } = conv2dOutSize(q);
        const x = Tensor.from(gpu, randn(q.C * 30, 71), [1, q.C, 6, 5], 'x');
        const w = Tensor.from(gpu, randn(3 * q.C * 9, 72), [3, q.C, 3, 3], 'w');
        const y = Tensor.zeros(gpu, [1, 3, oh, ow], 'y');
        // (a forced, untimed plan first creates the per-device 1-element stand-in for a missing bias)
        await withPolicy(gpu, { autotune: { force: 'reg4x4' } }, async () =>
          (await conv2dForward(gpu, y, x, w, null, q)).forEach((d) => disposeDispatch(gpu, d)));
        const before = gpu.stats();
        const ds = await conv2dForward(gpu, y, x, w, null, q, 'tuned');
        const table = JSON.parse(read(file, 'utf8')) as Record<string, Record<string, string>>;
        const chosen = Object.entries(table[adapterKey(gpu)]!).find(([k]) => k.startsWith('conv2d.igemm:fwd,1,'))?.[1];
        expect(IGEMM_CANDIDATES.map((c) => c.name)).toContain(chosen);
        // Timing ran on scratch buffers: the op's own tensors were not touched, and the scratch is gone.
        expect(Array.from(await y.read()).every((v) => v === 0)).toBe(true);
        submit(gpu, ds);
        expectClose('y', await y.read(), refConvForward(await x.read(), await w.read(), null, q), FWD);
        ds.forEach((d) => disposeDispatch(gpu, d));
        trimReadbackPool(gpu); // (the reads above left idle staging buffers)
        expect(gpu.stats()).toEqual(before);
        [x, w, y].forEach((t) => t.dispose());
      }, { policy: { autotune: { mode: 'on', reps: 1 } } });
    } finally {
      configureAutotune({ file: null });
    }
  });

  it('throws on bad shapes before creating or dispatching anything, naming op and shapes', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [p.N, p.C, p.H, p.W], 'x');
    const w = Tensor.zeros(gpu, [p.K, p.C, 3, 3], 'w');
    const wBad = Tensor.zeros(gpu, [p.K, p.C + 1, 3, 3], 'wbad');
    const y = Tensor.zeros(gpu, [p.N, p.K, OH, OW], 'y');
    const yBad = Tensor.zeros(gpu, [p.N, p.K, OH + 1, OW], 'ybad');
    const before = gpu.stats();
    await expect(conv2dForward(gpu, y, x, wBad, null, p)).rejects.toThrow(/conv2d\.forward: shape mismatch.*w \[4, 5, 3, 3\] \(want \[4, 4, 3, 3\]\)/);
    await expect(conv2dBackwardInput(gpu, x, yBad, w, p)).rejects.toThrow(/conv2d\.backward_input: shape mismatch.*dy \[4, 4, 9, 8\]/);
    await expect(conv2dBackwardWeight(gpu, wBad, null, y, x, p)).rejects.toThrow(/conv2d\.backward_weight: shape mismatch.*dw \[4, 5, 3, 3\]/);
    await expect(conv2dForward(gpu, y, x, w, null, { ...p, strideH: 0 })).rejects.toThrow(/conv2d\.forward: parameter strideH = 0/);
    // Too big to split: one image over the limit.
    await withPolicy(gpu, { conv: { maxBindingBytes: 512 } }, () =>
      expect(conv2dForward(gpu, y, x, w, null, p)).rejects.toThrow(/conv2d\.forward: cannot split over N to fit maxStorageBufferBindingSize 512/));
    expect(gpu.stats()).toEqual(before);
    for (const t of [x, w, wBad, y, yBad]) t.dispose();
  });
});

describe('conv2d reductions longer than a software adapter allows one invocation', () => {
  // llvmpipe ends a shader invocation after 65,535 loop iterations in all, silently (README, "What
  // CPU adapters demand of kernels"). A 64×64 kernel over 16 channels sums 65,536 products per
  // output; with 1024 outputs × 16 channels there are enough threads that no split is needed for
  // occupancy, so only the loop limit can force one (the FCN head's backward-input at large batches
  // is such a pass: 21 × 64 × 64 = 86,016 terms).
  const p: Conv2dParams = { N: 1, C: 16, H: 95, W: 95, K: 16, kh: 64, kw: 64, strideH: 1, strideW: 1, padH: 0, padW: 0 };
  it('splits the reduction so that every output is right (reg4x4)', async () => {
    await withGpu(async (gpu) => {
      const { OH, OW } = conv2dOutSize(p);
      expect(OH * OW).toBe(1024);
      const xs = randn(p.C * p.H * p.W, 91), ws = randn(p.K * p.C * 64 * 64, 92, -0.05, 0.05);
      const x = Tensor.from(gpu, xs, [1, p.C, p.H, p.W], 'x');
      const w = Tensor.from(gpu, ws, [p.K, p.C, 64, 64], 'w');
      const y = Tensor.zeros(gpu, [1, p.K, OH, OW], 'y');
      const ds = await conv2dForward(gpu, y, x, w, null, p, 'long');
      submit(gpu, ds);
      const got = await y.read();
      ds.forEach((d) => disposeDispatch(gpu, d));
      [x, w, y].forEach((t) => t.dispose());
      // 97 outputs spread over every channel and position, against float64.
      const at = Array.from({ length: 97 }, (_, i) => (i * 337) % got.length);
      const want = at.map((o) => {
        const k = Math.floor(o / (OH * OW)), oy = Math.floor(o / OW) % OH, ox = o % OW;
        let s = 0;
        for (let c = 0; c < p.C; c++) for (let ky = 0; ky < 64; ky++) for (let kx = 0; kx < 64; kx++) s += xs[(c * p.H + oy + ky) * p.W + ox + kx]! * ws[((k * p.C + c) * 64 + ky) * 64 + kx]!;
        return s;
      });
      expectClose('y', at.map((o) => got[o]!), want, { atol: 1e-4, rtol: 1e-3 });
      expect(ds.some((d) => d.label === 'conv2d.forward.reduce(long)'), 'the reduction was split').toBe(gpu.report.software);
    }, { policy: { autotune: { force: 'reg4x4' } } });
  });

  it('splits a weight gradient over rows of outputs even when one split is asked for', async () => {
    // 1×1 conv over 256 × 256 pixels: one split would loop 256 rows × 256 columns = 65,536 times.
    const q: Conv2dParams = { N: 1, C: 4, H: 256, W: 256, K: 4, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 };
    await withGpu(async (gpu) => {
      const xs = randn(4 * 256 * 256, 93), dys = randn(4 * 256 * 256, 94);
      const x = Tensor.from(gpu, xs, [1, 4, 256, 256], 'x');
      const dy = Tensor.from(gpu, dys, [1, 4, 256, 256], 'dy');
      const dw = Tensor.zeros(gpu, [4, 4, 1, 1], 'dw');
      const ds = await conv2dBackwardWeight(gpu, dw, null, dy, x, q, 'long');
      submit(gpu, ds);
      const got = await dw.read();
      ds.forEach((d) => disposeDispatch(gpu, d));
      [x, dy, dw].forEach((t) => t.dispose());
      // Each dw sums 65,536 products of O(1) values (|dw| ~ 256): f32 sums in another order than
      // float64's are good to ~1e-4 of that, far below the error of a cut-off loop (~10).
      expectClose('dw', got, refConvBackward(xs, new Float32Array(16), dys, q).dw, { atol: 1e-3, rtol: 1e-4 });
      expect(ds.some((d) => d.label === 'conv2d.backward_weight.reduce(long)'), 'the rows were split').toBe(gpu.report.software);
    }, { policy: { autotune: { force: 'wg4x4t4k' }, conv: { wgradSplits: 1 } } });
  });
});
