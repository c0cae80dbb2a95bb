import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import {
  crossEntropyForward,
  crossEntropyForwardBackward,
  defaultCrossEntropyStats,
  readCrossEntropyStats,
  type CrossEntropyParams,
} from '../../src/gpu/ops/cross_entropy.js';
import type { Gpu } from '../../src/gpu/device.js';
import { compare, randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { crossEntropyRef, type CeGeom } from '../../src/ops/reference/ops.js';
import { expectClose } from '../helpers/check.js';
import { loadGolden } from '../helpers/golden.js';

afterAll(releaseGpu);

async function runCe(gpu: Gpu, g: CeGeom, logitsData: Float32Array, labelsData: Uint32Array, reduction: 'sum' | 'mean', microBatches?: number) {
  const logits = Tensor.from(gpu, logitsData, [g.N, g.K, g.H, g.W], 'logits');
  const labels = Tensor.from(gpu, labelsData, [g.N, g.H, g.W], 'labels');
  const losses = Tensor.from(gpu, new Float32Array(g.N).fill(9), [g.N], 'losses');
  const evalLosses = Tensor.zeros(gpu, [g.N], 'losses.eval');
  const dlogits = Tensor.from(gpu, new Float32Array(logits.size).fill(9), [g.N, g.K, g.H, g.W], 'dlogits');
  const stats = Tensor.zeros(gpu, [4], 'stats', 'u32');
  const evalStats = Tensor.zeros(gpu, [4], 'stats.eval', 'u32');
  const p: CrossEntropyParams = { ...g, reduction, stats, microBatches };
  const ds = [
    ...(await crossEntropyForwardBackward(gpu, losses, dlogits, logits, labels, p)),
    ...(await crossEntropyForward(gpu, evalLosses, logits, labels, { ...g, stats: evalStats })),
  ];
  submit(gpu, ds);
  const out = {
    losses: await losses.read(),
    evalLosses: await evalLosses.read(),
    dlogits: await dlogits.read(),
    stats: await readCrossEntropyStats(stats),
    evalStats: await readCrossEntropyStats(evalStats),
  };
  for (const d of ds) disposeDispatch(gpu, d);
  for (const t of [logits, labels, losses, evalLosses, dlogits, stats, evalStats]) t.dispose();
  return out;
}

describe('cross-entropy on the GPU', () => {
  // The losses and gradients against PyTorch (both reductions) and the float64 reference: test/ops/registry.test.ts.
  // Here: the batch statistics the goldens also fix, micro-batch scaling, extremes and errors.
  const golden = loadGolden('ops_cross_entropy');
  for (const c of golden.meta as Array<{ name: string; valid: number } & CeGeom>) {
    for (const reduction of ['sum', 'mean'] as const) {
      it(`reports PyTorch's batch statistics (${c.name}: ${c.N}x${c.K}x${c.H}x${c.W}, reduction '${reduction}', last image fully ignored)`, async () => {
        await withGpu(async (gpu) => {
          const f = (k: string) => golden.f32(`${c.name}.${k}`);
          const r = await runCe(gpu, c, f('logits'), golden.u32(`${c.name}.labels`), reduction);
          expect(r.losses[c.N - 1]).toBe(0);
          expect(r.stats.validPixels).toBe(c.valid);
          expect(r.stats.badLabels).toBe(0);
          expectClose(`${c.name} mean loss`, [r.stats.meanLoss], f('mean_loss'), { atol: 1e-6, rtol: 1e-4 });
          expectClose(`${c.name} sum loss`, [r.stats.sumLoss], [f('losses').reduce((a, b) => a + b, 0)], { atol: 1e-6, rtol: 1e-4 });
          expect(r.evalStats).toEqual(r.stats);
        });
      });
    }
  }

  it('matches the reference on random shapes with more than one pixel chunk, and scales for micro-batches', async () => {
    await withGpu(async (gpu) => {
      const g: CeGeom = { N: 3, K: 7, H: 23, W: 17 }; // 391 pixels: two 256-pixel chunks per image
      const logits = randn(g.N * g.K * g.H * g.W, 51, -4, 4);
      const labels = Uint32Array.from(randn(g.N * g.H * g.W, 52, 0, 1), (u) => (u < 0.2 ? 255 : Math.floor(u * 7.99) % 7));
      const ref = crossEntropyRef(logits, labels, g);
      const sum = await runCe(gpu, g, logits, labels, 'sum');
      expectClose('random losses', sum.losses, ref.losses, { atol: 1e-6, rtol: 1e-4 });
      expectClose('random dlogits (sum)', sum.dlogits, ref.dSum, { atol: 1e-6, rtol: 1e-3 });
      expect(sum.stats.validPixels).toBe(ref.valid);
      const mean = await runCe(gpu, g, logits, labels, 'mean', 4);
      expectClose('random mean loss', [mean.stats.meanLoss], [ref.meanLoss], { atol: 1e-6, rtol: 1e-4 });
      expectClose('random dlogits (mean, 4 micro-batches)', mean.dlogits, ref.dMean.map((v) => v / 4), { atol: 1e-7, rtol: 1e-3 });
    });
  });

  it('stays finite for huge logits, counts labels >= K as bad and gives NaN mean for an all-ignored batch', async () => {
    await withGpu(async (gpu) => {
      const g: CeGeom = { N: 2, K: 3, H: 1, W: 4 };
      const logits = Float32Array.from(randn(g.N * g.K * 4, 61), (v) => v * 1e4);
      const labels = Uint32Array.from([0, 7, 2, 255, 3, 1, 100000, 1]);
      const r = await runCe(gpu, g, logits, labels, 'sum');
      const ref = crossEntropyRef(logits, labels, g);
      expect(r.stats.badLabels).toBe(3);
      expect(r.stats.validPixels).toBe(4);
      expectClose('huge logits losses', r.losses, ref.losses, { atol: 1e-6, rtol: 1e-4 });
      expect(r.dlogits.every(Number.isFinite)).toBe(true);
      // Pixels with bad labels get zero gradient, like ignored ones.
      for (const s of [1, 3]) for (let k = 0; k < g.K; k++) expect(r.dlogits[k * 4 + s]).toBe(0);
      const all = await runCe(gpu, g, logits, new Uint32Array(8).fill(255), 'mean');
      expect(all.stats.validPixels).toBe(0);
      expect(Number.isNaN(all.stats.meanLoss)).toBe(true);
      expect(Array.from(all.losses)).toEqual([0, 0]);
      expect(all.dlogits.every((v) => v === 0)).toBe(true);
    });
  });

  it('uses a per-device stats tensor when none is given', async () => {
    await withGpu(async (gpu) => {
      const g: CeGeom = { N: 1, K: 2, H: 1, W: 2 };
      const logits = Tensor.from(gpu, new Float32Array([0, 1, 0, 0]), [1, 2, 1, 2], 'logits');
      const labels = Tensor.from(gpu, new Uint32Array([1, 0]), [1, 1, 2], 'labels');
      const losses = Tensor.zeros(gpu, [1], 'losses');
      const ds = await crossEntropyForward(gpu, losses, logits, labels, g);
      submit(gpu, ds);
      const s = await readCrossEntropyStats(defaultCrossEntropyStats(gpu));
      // Pixel 0: logits (0, 0), label 1 -> log 2; pixel 1: logits (1, 0), label 0 -> log(1 + e^-1).
      const want = (Math.log(2) + Math.log(1 + Math.exp(-1))) / 2;
      expect(s.validPixels).toBe(2);
      expect(Math.abs(s.meanLoss - want)).toBeLessThan(1e-6);
      for (const d of ds) disposeDispatch(gpu, d);
      for (const t of [logits, labels, losses]) t.dispose();
    });
  });

  it('rejects mismatched shapes and dtypes before dispatch', async () => {
    const gpu = await testGpu();
    const logits = Tensor.zeros(gpu, [2, 3, 4, 5], 'logits');
    const labels = Tensor.zeros(gpu, [2, 4, 5], 'labels', 'u32');
    const labelsF = Tensor.zeros(gpu, [2, 4, 5], 'labelsF');
    const losses = Tensor.zeros(gpu, [2], 'losses');
    const d = Tensor.zeros(gpu, [2, 3, 4, 4], 'd');
    const base = gpu.stats();
    const p: CrossEntropyParams = { N: 2, K: 3, H: 4, W: 5, reduction: 'sum' };
    await expect(crossEntropyForwardBackward(gpu, losses, d, logits, labels, p)).rejects.toThrow(/cross_entropy\.forward_backward: dlogits must be f32 \[2, 3, 4, 5\], got f32 \[2, 3, 4, 4\]/);
    await expect(crossEntropyForward(gpu, losses, logits, labelsF, p)).rejects.toThrow(/labels must be u32 \[2, 4, 5\]/);
    await expect(crossEntropyForward(gpu, losses, logits, labels, { ...p, K: 4 })).rejects.toThrow(/logits must be f32 \[2, 4, 4, 5\]/);
    await expect(crossEntropyForwardBackward(gpu, losses, logits, logits, labels, { ...p, reduction: 'avg' as 'sum' })).rejects.toThrow(/reduction must be/);
    expect(gpu.stats()).toEqual(base);
    for (const t of [logits, labels, labelsF, losses, d]) t.dispose();
  });
});
