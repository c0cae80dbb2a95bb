// Adapter limits: work too big for the device is refused with a clear error before any GPU work
// or split to fit, never left to fail as a validation error deep inside WebGPU; prediction on a
// huge image runs tile-sized plans only, with host memory proportional to the image.
import { afterAll, describe, expect, it } from 'vitest';
import { FcnModel } from '../../src/fcn/model';
import { perImageFootprint } from '../../src/fcn/graph';
import { predictLogits, tileStarts } from '../../src/fcn/predict';
import { chooseMicroBatch, Trainer, type OptimizerOptions } from '../../src/fcn/trainer';
import { GpuError } from '../../src/gpu/device';
import { randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu';

afterAll(releaseGpu);
const SGD: OptimizerOptions = { lr: 0.01, weightDecay: 1e-4, momentum: 0.9, nesterov: false, reduction: 'mean' };

describe('limits', () => {
  it('one 4096x4096 training image with 21 classes (1.4 GB of logits) is refused before any GPU work', async () => {
    await withGpu(async (gpu) => {
      const model = new FcnModel(gpu, { classes: 21, head: 'fcn32s' });
      const trainer = new Trainer(gpu, model, { ...SGD });
      const before = gpu.stats();
      const n = 4096 * 4096;
      // Stand-ins with the right lengths: the step must refuse before it reads a value (a real
      // batch would be 270 MB of host memory for nothing).
      const batch = { images: { length: 3 * n } as Float32Array, labels: { length: n } as Uint32Array };
      const err = await trainer.step(batch, 1, 4096, 4096).then(() => null, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(GpuError);
      expect(err!.message).toMatch(/^train: one 4096x4096 image needs \d+ MiB of activations \(largest tensor 1344\.0 MiB; maxStorageBufferBindingSize \d+/);
      expect(err!.message).toMatch(/use a smaller crop/);
      expect(gpu.stats()).toEqual(before);
      // The eval-mode plan of such an image fails just as clearly and frees what it had made.
      const planErr = await model.plan(1, 4096, 4096, 'eval').then(() => null, (e: unknown) => e as Error);
      expect(planErr).toBeInstanceOf(GpuError);
      expect(planErr!.message).toMatch(/maxStorageBufferBindingSize|maxBufferSize/);
      expect(gpu.stats()).toEqual(before);
      await trainer.dispose();
      await model.dispose();
    });
  });

  it('a batch that fits only when split trains in micro-batches', async () => {
    await withGpu(async (gpu) => {
      const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
      model.initialise({ seed: 3 });
      const [H, W] = [64, 32];
      const { bytes } = perImageFootprint(model.config, H, W);
      // Room for one image's activations, not two.
      const budget = Math.floor(1.5 * bytes);
      expect(chooseMicroBatch(gpu, model, 2, H, W, budget)).toBe(1);
      expect(chooseMicroBatch(gpu, model, 2, H, W, 4 * bytes)).toBe(2);
      // At 32x32 one image leaves train-mode BatchNorm a single value per channel in layer4
      // (PyTorch refuses that too): a split to 1 is refused up front, naming the cause.
      const small = perImageFootprint(model.config, 32, 32).bytes;
      expect(chooseMicroBatch(gpu, model, 2, 32, 32, 4 * small)).toBe(2);
      expect(() => chooseMicroBatch(gpu, model, 2, 32, 32, Math.floor(1.5 * small))).toThrow(/BatchNorm needs at least 2 values per channel .* micro-batches of 1 32x32 crops \(batch 2, split to fit the device\) give 1/);
      const before = gpu.stats();
      const t32 = new Trainer(gpu, model, { ...SGD }, Math.floor(1.5 * small));
      await expect(t32.step({ images: randn(2 * 3 * 32 * 32, 4), labels: new Uint32Array(2 * 32 * 32) }, 2, 32, 32)).rejects.toThrow(/BatchNorm needs/);
      await t32.dispose();
      expect(gpu.stats()).toEqual(before);

      const trainer = new Trainer(gpu, model, { ...SGD }, budget);
      const w0 = (await model.readState()).tensors.get('final_conv.weight')!;
      const B = 2;
      const images = randn(B * 3 * H * W, 5);
      const labels = Uint32Array.from({ length: B * H * W }, (_, i) => (i >> 4) % 3);
      await trainer.step({ images, labels }, B, H, W);
      const { previousLosses } = await trainer.step({ images, labels }, B, H, W);
      const last = await trainer.flush();
      for (const l of [...previousLosses!, ...last!]) expect(Number.isFinite(l) && l > 0).toBe(true);
      expect(previousLosses).toHaveLength(B);
      // One micro-batch per image: BatchNorm counted two forward passes per step.
      expect(model.store.numBatchesTracked).toBe(4);
      const w1 = (await model.readState()).tensors.get('final_conv.weight')!;
      expect(w1.some((v, i) => v !== w0[i])).toBe(true);
      await trainer.dispose();
      await model.dispose();
    });
  });

  it('a big batch is split by the binding-size limit (the chapter default 32 x 320x480, 21 classes)', async () => {
    const gpu = await testGpu();
    const model = { config: { classes: 21, head: 'fcn32s' as const } } as FcnModel;
    const { largestTensorBytes } = perImageFootprint(model.config, 320, 480);
    const m = chooseMicroBatch(gpu, model, 32, 320, 480, 2 ** 50);
    const limit = gpu.limits.maxStorageBufferBindingSize;
    expect(32 % m).toBe(0);
    expect(m * largestTensorBytes).toBeLessThanOrEqual(limit);
    // The largest divisor of 32 that fits: doubling it would not.
    if (m < 32) expect(2 * m * largestTensorBytes).toBeGreaterThan(limit);
    console.log(`batch 32 x 320x480, 21 classes: micro-batches of ${m} (largest tensor ${(largestTensorBytes / 2 ** 20).toFixed(1)} MiB, binding limit ${(limit / 2 ** 20).toFixed(0)} MiB)`);
  });

  it('prediction on a 2000x3000 image runs one tile-sized plan over tiles that cover every pixel', async () => {
    const gpu = await testGpu();
    const H = 2000;
    const W = 3000;
    const K = 3;
    const ys = tileStarts(H, 320, 64);
    const xs = tileStarts(W, 480, 64);
    for (const [starts, len, tile] of [[ys, H, 320], [xs, W, 480]] as const) {
      expect(starts[0]).toBe(0);
      expect(starts[starts.length - 1]! + tile).toBe(len);
      for (let i = 1; i < starts.length; i++) expect(starts[i - 1]! + tile - starts[i]!).toBeGreaterThanOrEqual(64);
    }
    // A stand-in network whose tile logits are class k everywhere (k + 1 for class k): the
    // tiling, accumulation and averaging run for real, without 49 full forward passes on a
    // software adapter. Any pixel no tile covered would come out NaN.
    const plans: string[] = [];
    let tiles = 0;
    const fake = {
      gpu,
      config: { classes: K, head: 'fcn32s' },
      plan: async (n: number, th: number, tw: number, mode: string) => {
        plans.push(`${n}x${th}x${tw}:${mode}`);
        return {
          images: { write: (d: Float32Array) => expect(d.length).toBe(3 * th * tw) },
          forward: [],
          logits: { read: async () => (tiles++, Float32Array.from({ length: K * th * tw }, (_, i) => Math.floor(i / (th * tw)) + 1)) },
        };
      },
    } as unknown as FcnModel;
    const rss0 = process.memoryUsage().rss;
    const gpu0 = gpu.stats();
    const image = new Float32Array(3 * H * W);
    const logits = await predictLogits(fake, image, H, W);
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    expect(plans).toEqual(['1x320x480:eval']);
    expect(tiles).toBe(ys.length * xs.length);
    for (let k = 0; k < K; k++) for (let i = k * H * W; i < (k + 1) * H * W; i += 997) expect(logits[i]).toBe(k + 1);
    expect(logits.every((v) => v >= 1 && v <= K)).toBe(true);
    expect(gpu.stats()).toEqual(gpu0);
    // Host memory: the (3, H, W) input, the (K, H, W) sums and counts, no more than ~2x that.
    const expectedMiB = ((3 + K) * 4 + 2) * H * W / 2 ** 20;
    expect(grown).toBeLessThan(2 * expectedMiB);
    const eval320 = perImageFootprint({ classes: 21, head: 'fcn32s' }, 320, 480);
    expect(eval320.largestTensorBytes).toBeLessThan(gpu.limits.maxStorageBufferBindingSize);
    console.log(`predict 2000x3000: ${ys.length}x${xs.length} tiles of 320x480, one plan, host +${grown.toFixed(0)} MiB (inputs and sums ${expectedMiB.toFixed(0)} MiB)`);
  });
});
