// The training loop: per-epoch metrics, the poly learning-rate schedule, cancellation, and a loss
// that turns NaN stopping the run with a clear error while the last good checkpoint stays intact.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVOC } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';
import { decodeModelFile } from '../../src/fcn/checkpoint.js';
import { fit, TrainingCancelled, TrainingDiverged, type EpochMetrics } from '../../src/fcn/fit.js';
import { FcnModel } from '../../src/fcn/model.js';
import { CHAPTER_OPTIMIZER } from '../../src/fcn/trainer.js';
import { saveCheckpoint } from '../../src/cli/model-files.js';
import { releaseGpu, testGpu } from '../helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'webfcn-fit-'));
let train: DataLoader;
let test: DataLoader;

beforeAll(async () => {
  writeSyntheticDataset({ out: dir, classes: 3, train: 4, val: 2, size: [40, 72], seed: 5 });
  const tr = await openVOC(dir, 'train', { crop: [32, 64], classes: 3 });
  const va = await openVOC(dir, 'val', { crop: [32, 64], classes: 3, preprocessor: tr.pre });
  train = new DataLoader(tr, { batchSize: 2, crop: [32, 64], seed: 1 });
  test = new DataLoader(va, { batchSize: 2, crop: [32, 64], seed: 1, shuffle: false });
});
afterAll(releaseGpu);

const meta = (K: number) => ({
  config: { classes: K, head: 'fcn32s' as const },
  colormap: [[0, 0, 0], [128, 0, 0], [0, 128, 0]] as Array<[number, number, number]>,
  classNames: ['background', 'a', 'b'],
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
});

describe('fit', () => {
  it('reports the chapter metrics per epoch and follows the poly schedule', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 0 });
    const events: number[] = [];
    const accuracies: number[] = [];
    const history = await fit(model, train, test, {
      epochs: 2,
      optimizer: { ...CHAPTER_OPTIMIZER, lr: 0.01 },
      schedule: 'poly',
      onProgress: (p) => {
        events.push(p.step);
        accuracies.push(p.accuracy);
      },
    });
    expect(events).toEqual([1, 2, 1, 2]);
    // The running train accuracy is read at each epoch's last step and equals the epoch's figure.
    expect(accuracies[1]).toBeCloseTo(history[0]!.trainAccuracy, 12);
    expect(accuracies[3]).toBeCloseTo(history[1]!.trainAccuracy, 12);
    expect(history.map((h) => h.epoch)).toEqual([1, 2]);
    for (const h of history) {
      expect(Number.isFinite(h.loss) && h.loss > 0).toBe(true);
      for (const v of [h.trainAccuracy, h.testAccuracy!, h.testMIoU!]) expect(v >= 0 && v <= 1).toBe(true);
      expect(h.testIoU).toHaveLength(3);
      expect(h.examplesPerSec).toBeGreaterThan(0);
    }
    // 4 steps in all; the last step of epoch e runs at lr·(1 − step/4)^0.9 with step = 2e + 1.
    expect(history[0]!.lr).toBeCloseTo(0.01 * Math.pow(1 - 1 / 4, 0.9), 9);
    expect(history[1]!.lr).toBeCloseTo(0.01 * Math.pow(1 - 3 / 4, 0.9), 9);
    await model.dispose();
  });

  it('stops between steps when cancelled', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 0 });
    let steps = 0;
    await expect(
      fit(model, train, null, { epochs: 3, optimizer: CHAPTER_OPTIMIZER, onProgress: () => steps++, shouldStop: () => steps >= 3 }),
    ).rejects.toBeInstanceOf(TrainingCancelled);
    expect(steps).toBe(3);
    await model.dispose();
  });

  it('a loss that becomes NaN stops training with a clear error; the last good checkpoint stays loadable', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 0 });
    const ckpt = join(dir, 'last.safetensors');
    const seen: EpochMetrics[] = [];
    let poisoned = false;
    const run = fit(model, train, test, {
      epochs: 3,
      optimizer: CHAPTER_OPTIMIZER,
      onEpoch: async (m) => {
        seen.push(m);
        await saveCheckpoint(ckpt, model, { ...meta(3), progress: { epoch: m.epoch, step: 0, seed: 0, options: {}, history: seen } });
      },
      onProgress: (p) => {
        // Poison a parameter in epoch 2: every later forward pass yields NaN.
        if (p.epoch === 1 && !poisoned) {
          poisoned = true;
          model.store.get('final_conv.bias').write(new Float32Array(3).fill(NaN));
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(TrainingDiverged);
    await expect(run).rejects.toThrow(/loss became NaN at epoch 2.*the last checkpoint is kept/);
    expect(seen).toHaveLength(1);
    expect(existsSync(ckpt)).toBe(true);
    const back = decodeModelFile(readFileSync(ckpt), ckpt);
    expect(back.meta.progress!.epoch).toBe(1);
    for (const [k, v] of back.state.tensors) expect(v.every(Number.isFinite), k).toBe(true);
    await model.dispose();
  });
});
