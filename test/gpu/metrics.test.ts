import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { argmax } from '../../src/gpu/ops/argmax.js';
import { confusionAccumulate } from '../../src/gpu/ops/confusion.js';
import { fwIoU, meanIoU, pixelAccuracy, segMetrics } from '../../src/fcn/metrics.js';
import { fill } from '../../src/gpu/ops/fill.js';
import { randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { confusionRef } from '../../src/ops/reference/ops.js';

afterAll(releaseGpu);

describe('segmentation metrics (host)', () => {
  // Rows: ground truth, columns: prediction. Class 2 is predicted once but never labelled;
  // class 3 appears nowhere.
  const K = 4;
  const conf = [5, 1, 0, 0, 2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];

  it('computes pixel accuracy, mean accuracy, IoU, mIoU and fwIoU of a hand-made matrix', () => {
    const m = segMetrics(conf, K);
    expect(m.pixelAccuracy).toBeCloseTo(8 / 12, 12);
    expect(m.classAccuracy.slice(0, 2)).toEqual([5 / 6, 3 / 6]);
    expect(Number.isNaN(m.classAccuracy[2])).toBe(true);
    expect(Number.isNaN(m.classAccuracy[3])).toBe(true);
    expect(m.meanAccuracy).toBeCloseTo((5 / 6 + 1 / 2) / 2, 12);
    expect(m.iou.slice(0, 3)).toEqual([5 / 8, 3 / 7, 0]);
    expect(Number.isNaN(m.iou[3])).toBe(true);
    expect(m.meanIoU).toBeCloseTo((5 / 8 + 3 / 7 + 0) / 3, 12);
    expect(m.fwIoU).toBeCloseTo(0.5 * (5 / 8) + 0.5 * (3 / 7), 12);
    expect(pixelAccuracy(conf, K)).toBe(m.pixelAccuracy);
    expect(meanIoU(conf, K)).toBe(m.meanIoU);
    expect(fwIoU(conf, K)).toBe(m.fwIoU);
  });

  it('is perfect on a diagonal matrix and rejects a matrix of the wrong size', () => {
    const m = segMetrics([3, 0, 0, 9], 2);
    expect([m.pixelAccuracy, m.meanAccuracy, m.meanIoU, m.fwIoU]).toEqual([1, 1, 1, 1]);
    expect(() => segMetrics([1, 2, 3], 2)).toThrow(/segMetrics: confusion matrix has 3 entries, K·K = 4/);
  });
});

// The argmax golden (ties, 21 classes) and the confusion matrix on random data: test/ops/registry.test.ts.
describe('argmax on the GPU', () => {
  it('rejects a wrongly shaped output', async () => {
    const gpu = await testGpu();
    const logits = Tensor.zeros(gpu, [1, 3, 2, 2], 'logits');
    const out = Tensor.zeros(gpu, [1, 2, 3], 'out', 'u32');
    await expect(argmax(gpu, out, logits)).rejects.toThrow(/argmax: out must be u32\/i32 \[1, 2, 2\], got u32 \[1, 2, 3\]/);
    logits.dispose();
    out.dispose();
  });
});

describe('confusion matrix on the GPU', () => {
  for (const K of [21, 40]) {
    it(`matches a host bincount, skipping 255 and labels >= K, and accumulates (K = ${K}, ${K * K <= 1024 ? 'workgroup histogram' : 'global atomics'})`, async () => {
      await withGpu(async (gpu) => {
        const n = 2 * 50 * 61;
        const labelsData = Uint32Array.from(randn(n, 71, 0, 1), (u, i) => (u < 0.1 ? 255 : i % 97 === 0 ? K + 3 : Math.floor(u * K * 1.1) % K));
        const predData = Uint32Array.from(randn(n, 72, 0, 1), (u) => Math.floor(u * K) % K);
        const pred = Tensor.from(gpu, predData, [2, 50, 61], 'pred');
        const labels = Tensor.from(gpu, labelsData, [2, 50, 61], 'labels');
        const conf = Tensor.from(gpu, new Uint32Array(K * K).fill(5), [K * K], 'conf'); // stale counts: fill must clear them
        const zero = await fill(gpu, conf, 0);
        const acc = await confusionAccumulate(gpu, conf, pred, labels, K);
        submit(gpu, [zero, acc]);
        const want = confusionRef(predData, labelsData, K);
        expect(Array.from(await conf.readU32())).toEqual(Array.from(want));
        submit(gpu, [acc]);
        expect(Array.from(await conf.readU32())).toEqual(Array.from(want, (v) => 2 * v));
        const total = want.reduce((a, b) => a + b, 0);
        expect(total).toBe(labelsData.filter((l) => l < K).length);
        for (const d of [zero, acc]) disposeDispatch(gpu, d);
        for (const t of [pred, labels, conf]) t.dispose();
      });
    });
  }

  it('rejects a matrix of the wrong size or dtype', async () => {
    const gpu = await testGpu();
    const p = Tensor.zeros(gpu, [4], 'p', 'u32');
    const conf = Tensor.zeros(gpu, [9], 'conf');
    await expect(confusionAccumulate(gpu, conf, p, p, 3)).rejects.toThrow(/confusion: conf must be u32 with K·K = 9 elements, got f32 \[9\]/);
    await expect(confusionAccumulate(gpu, p, p, p, 3)).rejects.toThrow(/K·K = 9/);
    p.dispose();
    conf.dispose();
  });
});
