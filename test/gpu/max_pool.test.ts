import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { maxPool2dBackward, maxPool2dForward, maxPoolOutputSize, type MaxPoolParams } from '../../src/gpu/ops/max_pool.js';
import type { Gpu } from '../../src/gpu/device.js';
import { compare, randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { dot, finiteDiff, loadGolden, maxPoolBackwardRef, maxPoolRef, poolOut, type PoolGeom } from '../helpers/reference-ops.js';

afterAll(releaseGpu);

async function runPool(gpu: Gpu, p: MaxPoolParams, xs: Float32Array, dys: Float32Array) {
  const [OH, OW] = maxPoolOutputSize(p);
  const x = Tensor.from(gpu, xs, [p.N, p.C, p.H, p.W], 'x');
  const y = Tensor.zeros(gpu, [p.N, p.C, OH, OW], 'y');
  const indices = Tensor.zeros(gpu, [p.N, p.C, OH, OW], 'indices', 'u32');
  const dy = Tensor.from(gpu, dys, [p.N, p.C, OH, OW], 'dy');
  const dx = Tensor.from(gpu, new Float32Array(x.size).fill(7), [p.N, p.C, p.H, p.W], 'dx');
  const ds = [await maxPool2dForward(gpu, y, indices, x, p), await maxPool2dBackward(gpu, dx, dy, indices, p)];
  submit(gpu, ds);
  const out = { y: await y.read(), indices: await indices.readU32(), dx: await dx.read() };
  for (const d of ds) disposeDispatch(gpu, d);
  for (const t of [x, y, indices, dy, dx]) t.dispose();
  return out;
}

describe('max_pool2d reference (float64)', () => {
  it('backward matches finite differences (distinct values, so the argmax is stable)', () => {
    const p: PoolGeom = { N: 1, C: 2, H: 5, W: 4, k: 3, stride: 2, pad: 1 };
    const n = p.N * p.C * p.H * p.W;
    // A permutation scaled by 0.1: every value distinct by far more than the FD step.
    const x = Float64Array.from(randn(n, 3), (_, i) => ((i * 7) % n) * 0.1 - 1);
    const [OH, OW] = poolOut(p);
    const dy = Float64Array.from(randn(p.N * p.C * OH * OW, 4));
    const { indices } = maxPoolRef(x, p);
    const dx = maxPoolBackwardRef(dy, indices, p);
    const fd = finiteDiff((v) => dot(maxPoolRef(v, p).y, dy), x);
    expect(compare(dx, fd, 1e-7, 1e-6).ok).toBe(true);
    expect(dx.some((v) => v !== 0)).toBe(true);
  });
});

describe('max_pool2d on the GPU', () => {
  const golden = loadGolden('ops_max_pool');
  for (const c of golden.meta as Array<{ name: string } & MaxPoolParams>) {
    it(`matches PyTorch values, indices and dx exactly (${c.name}: ${c.N}x${c.C}x${c.H}x${c.W}, k${c.k} s${c.stride} p${c.pad})`, async () => {
      await withGpu(async (gpu) => {
        const g = (k: string) => golden.f32(`${c.name}.${k}`);
        const r = await runPool(gpu, c, g('x'), g('dy'));
        // Max and index selection are exact; dx sums at most ceil(k/S)² values in PyTorch's order.
        const ey = compare(r.y, g('y'), 0, 0);
        const ei = compare(r.indices, golden.u32(`${c.name}.indices`), 0, 0);
        const ed = compare(r.dx, g('dx'), 1e-6, 1e-6);
        console.info(`max_pool ${c.name}: y max |err| ${ey.maxAbs}, indices ${ei.maxAbs}, dx ${ed.maxAbs.toExponential(2)}`);
        expect(ey.ok).toBe(true);
        expect(ei.ok).toBe(true);
        expect(ed.ok).toBe(true);
      });
    });
  }

  const random: MaxPoolParams[] = [
    { N: 2, C: 3, H: 13, W: 10, k: 3, stride: 2, pad: 1 },
    { N: 1, C: 2, H: 9, W: 12, k: 4, stride: 3, pad: 2 },
    { N: 3, C: 1, H: 6, W: 7, k: 2, stride: 1, pad: 1 },
    { N: 1, C: 1, H: 3, W: 3, k: 3, stride: 2, pad: 0 },
  ];
  for (const p of random) {
    it(`matches the reference on random data with ties (${p.N}x${p.C}x${p.H}x${p.W}, k${p.k} s${p.stride} p${p.pad})`, async () => {
      await withGpu(async (gpu) => {
        const n = p.N * p.C * p.H * p.W;
        const xs = randn(n, 31 + p.k).map((v) => Math.round(v * 3) / 2); // few distinct values: ties
        const [OH, OW] = poolOut(p);
        const dys = randn(p.N * p.C * OH * OW, 32);
        const r = await runPool(gpu, p, xs, dys);
        const ref = maxPoolRef(xs, p);
        expect(compare(r.y, ref.y, 0, 0).ok).toBe(true);
        expect(Array.from(r.indices)).toEqual(Array.from(ref.indices));
        const e = compare(r.dx, maxPoolBackwardRef(dys, ref.indices, p), 1e-6, 1e-6);
        expect(e.ok, `dx max |err| ${e.maxAbs}`).toBe(true);
      });
    });
  }

  it('rejects bad geometry and shapes before dispatch, naming the op', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [1, 2, 8, 8], 'x');
    const y = Tensor.zeros(gpu, [1, 2, 4, 4], 'y');
    const yf = Tensor.zeros(gpu, [1, 2, 4, 4], 'yf');
    const idx = Tensor.zeros(gpu, [1, 2, 4, 4], 'idx', 'u32');
    const p = { N: 1, C: 2, H: 8, W: 8, k: 3, stride: 2, pad: 1 };
    const base = gpu.stats();
    await expect(maxPool2dForward(gpu, y, idx, x, { ...p, pad: 2 })).rejects.toThrow(/max_pool\.forward: pad 2 must be an integer in \[0, k\/2/);
    await expect(maxPool2dForward(gpu, y, idx, x, { ...p, stride: 1 })).rejects.toThrow(/y must be f32 \[1, 2, 8, 8\].*got f32 \[1, 2, 4, 4\]/);
    await expect(maxPool2dForward(gpu, y, yf, x, p)).rejects.toThrow(/indices must be u32\/i32/);
    await expect(maxPool2dBackward(gpu, y, y, idx, p)).rejects.toThrow(/max_pool\.backward: dx must be f32 \[1, 2, 8, 8\]/);
    await expect(maxPool2dForward(gpu, y, idx, x, { ...p, H: 1, W: 1, k: 4, pad: 1 })).rejects.toThrow(/smaller than the 4x4 window/);
    expect(gpu.stats()).toEqual(base);
    for (const t of [x, y, yf, idx]) t.dispose();
  });
});
