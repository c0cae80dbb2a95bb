import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit, type Dispatch } from '../../src/gpu/kernel.js';
import { batchNormBackward, batchNormForward, type BatchNormParams } from '../../src/gpu/ops/batch_norm.js';
import { compare, randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef, type Nchw } from '../../src/ops/reference/ops.js';
import { expectClose } from '../helpers/check.js';
import { loadGolden } from '../helpers/golden.js';
import type { Gpu } from '../../src/gpu/device.js';

afterAll(releaseGpu);

interface Run {
  y: Float32Array;
  mean: Float32Array;
  invstd: Float32Array;
  rm: Float32Array;
  rv: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  yEval: Float32Array;
}

/** Train forward + backward (dweight/dbias pre-filled with `acc0` to see accumulation), and eval forward. */
async function runBn(gpu: Gpu, p: BatchNormParams, d: { x: Float32Array; w: Float32Array; b: Float32Array; rm: Float32Array; rv: Float32Array; dy: Float32Array }, acc0: number): Promise<Run> {
  const act = [p.N, p.C, p.H, p.W];
  const C = p.C;
  const x = Tensor.from(gpu, d.x, act, 'x');
  const dy = Tensor.from(gpu, d.dy, act, 'dy');
  const w = Tensor.from(gpu, d.w, [C], 'w');
  const b = Tensor.from(gpu, d.b, [C], 'b');
  const rm = Tensor.from(gpu, d.rm, [C], 'rm');
  const rv = Tensor.from(gpu, d.rv, [C], 'rv');
  const rmEval = Tensor.from(gpu, d.rm, [C], 'rm.eval');
  const rvEval = Tensor.from(gpu, d.rv, [C], 'rv.eval');
  const y = Tensor.zeros(gpu, act, 'y');
  const yEval = Tensor.zeros(gpu, act, 'y.eval');
  const dx = Tensor.from(gpu, new Float32Array(x.size).fill(123), act, 'dx');
  const dw = Tensor.from(gpu, new Float32Array(C).fill(acc0), [C], 'dw');
  const db = Tensor.from(gpu, new Float32Array(C).fill(acc0), [C], 'db');
  const saved = { mean: Tensor.zeros(gpu, [C], 'mean'), invstd: Tensor.zeros(gpu, [C], 'invstd') };
  const ds: Dispatch[] = [
    ...(await batchNormForward(gpu, y, x, w, b, rm, rv, saved, 'train', p)),
    ...(await batchNormBackward(gpu, dx, dw, db, dy, x, w, saved, p)),
    ...(await batchNormForward(gpu, yEval, x, w, b, rmEval, rvEval, saved, 'eval', p)),
  ];
  submit(gpu, ds);
  const out: Run = {
    y: await y.read(),
    mean: await saved.mean.read(),
    invstd: await saved.invstd.read(),
    rm: await rm.read(),
    rv: await rv.read(),
    dx: await dx.read(),
    dw: await dw.read(),
    db: await db.read(),
    yEval: await yEval.read(),
  };
  // Eval mode must leave the running statistics alone.
  expect(Array.from(await rmEval.read())).toEqual(Array.from(d.rm));
  expect(Array.from(await rvEval.read())).toEqual(Array.from(d.rv));
  for (const dd of ds) disposeDispatch(gpu, dd);
  for (const t of [x, dy, w, b, rm, rv, rmEval, rvEval, y, yEval, dx, dw, db, saved.mean, saved.invstd]) t.dispose();
  return out;
}

describe('batch_norm on the GPU', () => {
  // The goldens of every case and random shapes under both reduction variants: test/ops/registry.test.ts.
  // Here: the case that needs more than a tolerance, and the chunking edge cases.
  const golden = loadGolden('ops_batch_norm');
  const c = (golden.meta as Array<{ name: string } & Nchw>).find((k) => k.name === 'offset')!;
  it('is as accurate as PyTorch on x ≈ 100 ± 0.01 (offset), measured against float64', async () => {
    await withGpu(async (gpu) => {
      const g = (k: string) => golden.f32(`${c.name}.${k}`);
      const p: BatchNormParams = { N: c.N, C: c.C, H: c.H, W: c.W };
      const r = await runBn(gpu, p, { x: g('x'), w: g('weight'), b: g('bias'), rm: g('running_mean0'), rv: g('running_var0'), dy: g('dy') }, 0.5);
      // Against the exact (float64) gradient of the same f32 inputs the GPU must be about as
      // accurate as PyTorch's CPU kernel (double accumulation; off by ~1e-2 here because the
      // saved mean itself is rounded to f32).
      const exact = batchNormBackwardRef(g('dy'), g('x'), g('weight'), c).dx;
      const ours = compare(r.dx, exact, 0, 0).maxAbs;
      const torch = compare(g('dx'), exact, 0, 0).maxAbs;
      console.info(`batch_norm offset dx: max |err| vs float64 ${ours.toExponential(2)} (PyTorch f32: ${torch.toExponential(2)})`);
      expect(ours).toBeLessThanOrEqual(Math.max(1.5 * torch, 1e-4));
    });
  });

  const random: Array<[string, BatchNormParams]> = [
    ['partial last chunk', { N: 3, C: 7, H: 9, W: 5, chunk: 16 }],
    ['more chunks than finalize threads', { N: 2, C: 3, H: 40, W: 40, chunk: 8 }],
    ['single pixel planes', { N: 5, C: 4, H: 1, W: 1 }],
  ];
  for (const [name, p] of random) for (const cpuVariants of [true, false]) {
    const variant = cpuVariants ? 'CPU-adapter reductions' : '64-wide reductions';
    it(`matches the float64 reference on random data (${name}: ${p.N}x${p.C}x${p.H}x${p.W}, chunk ${p.chunk ?? 'default'}, ${variant})`, async () => {
      await withGpu(async (gpu) => {
        const n = p.N * p.C * p.H * p.W;
        const d = {
          x: randn(n, 21, -3, 5),
          w: randn(p.C, 22, 0.5, 1.5),
          b: randn(p.C, 23),
          rm: randn(p.C, 24),
          rv: randn(p.C, 25, 0.5, 2),
          dy: randn(n, 26),
        };
        const r = await runBn(gpu, p, d, 0);
        const ref = batchNormTrainRef(d.x, d.w, d.b, p);
        const bwd = batchNormBackwardRef(d.dy, d.x, d.w, p);
        expectClose(`${name} y`, r.y, ref.y, { atol: 1e-5, rtol: 1e-3 });
        expectClose(`${name} running_mean`, r.rm, d.rm.map((v, c) => 0.9 * v + 0.1 * ref.mean[c]!), { atol: 1e-6, rtol: 1e-5 });
        expectClose(`${name} running_var`, r.rv, d.rv.map((v, c) => 0.9 * v + 0.1 * ref.varUnbiased[c]!), { atol: 1e-6, rtol: 1e-4 });
        expectClose(`${name} y eval`, r.yEval, batchNormEvalRef(d.x, d.w, d.b, d.rm, d.rv, p), { atol: 1e-5, rtol: 1e-4 });
        expectClose(`${name} dx`, r.dx, bwd.dx, { atol: 1e-4, rtol: 1e-3 });
        expectClose(`${name} dweight`, r.dw, bwd.dw, { atol: 1e-4, rtol: 1e-3 });
        expectClose(`${name} dbias`, r.db, bwd.db, { atol: 1e-4, rtol: 1e-3 });
      }, { policy: { batchNorm: { cpuVariants } } });
    });
  }

  it('rejects bad shapes and single-value channels before creating anything', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [2, 3, 4, 5], 'x');
    const y = Tensor.zeros(gpu, [2, 3, 4, 4], 'y');
    const c3 = () => Tensor.zeros(gpu, [3], 'c');
    const [w, b, rm, rv, m, is] = [c3(), c3(), c3(), c3(), c3(), c3()];
    const saved = { mean: m, invstd: is };
    const base = gpu.stats();
    const p = { N: 2, C: 3, H: 4, W: 5 };
    await expect(batchNormForward(gpu, y, x, w, b, rm, rv, saved, 'train', p, 'bn1')).rejects.toThrow(/batch_norm\.forward\(train\).*y must be f32 \[2, 3, 4, 5\], got f32 \[2, 3, 4, 4\]/);
    await expect(batchNormForward(gpu, x, x, w, b, rm, rv, saved, 'train', { ...p, C: 4 })).rejects.toThrow(/x must be f32 \[2, 4, 4, 5\]/);
    const x1 = Tensor.zeros(gpu, [1, 3, 1, 1], 'x1');
    const y1 = Tensor.zeros(gpu, [1, 3, 1, 1], 'y1');
    const after = gpu.stats();
    await expect(batchNormForward(gpu, y1, x1, w, b, rm, rv, saved, 'train', { N: 1, C: 3, H: 1, W: 1 })).rejects.toThrow(/more than 1 value per channel/);
    await expect(batchNormBackward(gpu, y, w, b, x, x, w, saved, p)).rejects.toThrow(/batch_norm\.backward: dx must be f32 \[2, 3, 4, 5\]/);
    expect(gpu.stats().liveBuffers).toBe(after.liveBuffers);
    expect(after.liveBuffers).toBe(base.liveBuffers + 2);
    for (const t of [x, y, w, b, rm, rv, m, is, x1, y1]) t.dispose();
  });
});
