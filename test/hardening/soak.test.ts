// Soak: many training steps at a tiny size in one process (FCN-32s, 3 classes, batch 2, 32x32
// crops, momentum, a test evaluation after every 4-step epoch), with live GPU buffers and bytes,
// WebAssembly memory and resident memory recorded after every step. After warm-up nothing may
// grow: the GPU counts must be identical from step 5 to the last, and after fit() returns only
// the parameters may remain. WEBFCN_SOAK_STEPS sets the length (CI keeps it short).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openVOC } from '../../src/data/dataset';
import { DataLoader } from '../../src/data/loader';
import { writeSyntheticDataset } from '../../src/data/synth';
import { fit } from '../../src/fcn/fit';
import { FcnModel } from '../../src/fcn/model';
import { releaseGpu, withGpu } from '../helpers/gpu';

const STEPS = Math.max(8, Number(process.env.WEBFCN_SOAK_STEPS ?? 12));
const WARMUP = 5;
const dir = mkdtempSync(join(tmpdir(), 'webfcn-soak-'));
afterAll(async () => {
  await releaseGpu();
  rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  step: number;
  liveBuffers: number;
  liveBytes: number;
  wasmBytes: number;
  rssMiB: number;
}

it(`soak: ${STEPS} training steps with flat GPU buffers, WebAssembly and resident memory`, { timeout: 60_000 + STEPS * 15_000 }, async () => {
  const { root } = writeSyntheticDataset({ out: dir, classes: 3, train: 8, val: 2, size: [40, 48], seed: 9 });
  const train = await openVOC(root, 'train', { crop: [32, 32], classes: 3 });
  const val = await openVOC(root, 'val', { crop: [32, 32], classes: 3, preprocessor: train.pre });
  const trainLoader = new DataLoader(train, { batchSize: 2, crop: [32, 32], seed: 1 });
  const testLoader = new DataLoader(val, { batchSize: 2, crop: [32, 32], seed: 1, shuffle: false });
  const epochs = Math.ceil(STEPS / trainLoader.batchesPerEpoch);
  await withGpu(async (gpu) => {
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 4 });
    const idle = gpu.stats();
    const live = () => (gpu as unknown as { live: Map<GPUBuffer, number> }).live;
    const idleSet = new Set(live().keys());
    const samples: Sample[] = [];
    const t0 = performance.now();
    const history = await fit(model, trainLoader, testLoader, {
      epochs,
      optimizer: { lr: 0.01, weightDecay: 1e-4, momentum: 0.9, nesterov: false, reduction: 'mean' },
      schedule: 'poly',
      onProgress: () => {
        const s = gpu.stats();
        samples.push({ step: samples.length + 1, ...s, wasmBytes: train.pre.allocated, rssMiB: process.memoryUsage().rss / 2 ** 20 });
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    expect(history).toHaveLength(epochs);
    expect(samples).toHaveLength(epochs * trainLoader.batchesPerEpoch);
    for (const h of history) expect(Number.isFinite(h.loss) && h.testAccuracy !== null).toBe(true);

    const warm = samples[WARMUP - 1]!;
    const last = samples[samples.length - 1]!;
    for (const s of samples.slice(WARMUP)) {
      expect({ step: s.step, buffers: s.liveBuffers, bytes: s.liveBytes, wasm: s.wasmBytes })
        .toEqual({ step: s.step, buffers: warm.liveBuffers, bytes: warm.liveBytes, wasm: warm.wasmBytes });
    }
    const rssGrowth = last.rssMiB - warm.rssMiB;
    const rssPeak = Math.max(...samples.slice(WARMUP).map((s) => s.rssMiB)) - warm.rssMiB;
    console.log(`soak: ${samples.length} steps (${epochs} epochs with evaluation) in ${seconds.toFixed(1)} s; ` +
      `GPU ${warm.liveBuffers} buffers / ${(warm.liveBytes / 2 ** 20).toFixed(1)} MiB from step ${WARMUP} to ${last.step}; ` +
      `wasm ${(warm.wasmBytes / 2 ** 20).toFixed(1)} MiB; rss ${warm.rssMiB.toFixed(0)} -> ${last.rssMiB.toFixed(0)} MiB (peak +${rssPeak.toFixed(0)})`);
    // A leak of one batch of activations per step would be ~1 MiB/step here; allocator noise is not.
    expect(rssGrowth).toBeLessThan(64);
    // fit() frees its plans, staging and readback buffers. What stays besides the parameters:
    // the SGD momentum (model state, saved in checkpoints) and the device's shared reduction
    // scratch and dummy bias (a few KiB, made once per device), and the device's pooled readback
    // staging buffers (one per readback size bucket, reused by every later read).
    const extra = [...live()].filter(([b]) => !idleSet.has(b)).map(([b, n]) => ({ label: b.label, bytes: n }));
    const momentum = extra.filter((e) => e.label.startsWith('momentum.'));
    const other = extra.filter((e) => !e.label.startsWith('momentum.'));
    expect(momentum.map((e) => e.label).sort()).toEqual(['momentum.bias', 'momentum.weight']);
    // One f32 per parameter, plus the arenas' per-tensor alignment padding.
    const momentumBytes = momentum.reduce((a, e) => a + e.bytes, 0);
    expect(momentumBytes).toBeGreaterThanOrEqual(4 * model.store.parameterCount);
    expect(momentumBytes - 4 * model.store.parameterCount).toBeLessThan(2 ** 20);
    for (const e of other) expect(e.label).toMatch(/\.scratch$|^conv2d\.no-bias$|\.readback$/);
    expect(other.reduce((a, e) => a + e.bytes, 0)).toBeLessThan(64 * 1024);
    expect(gpu.stats().liveBuffers).toBe(idle.liveBuffers + extra.length);
    await model.dispose();
  });
});
