import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { maxPool2dBackward, maxPool2dForward, maxPoolOutputSize, type MaxPoolParams } from '../../src/gpu/ops/max_pool.js';
import type { Gpu } from '../../src/gpu/device.js';
import { compare, randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { maxPoolBackwardRef, maxPoolRef, poolOut } from '../../src/ops/reference/ops.js';

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

// The PyTorch goldens, finite differences and distinct-valued random shapes: test/ops/registry.test.ts.
describe('max_pool2d on the GPU', () => {
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
