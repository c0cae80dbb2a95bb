// The training loop: epochs of seeded random-crop batches through the Trainer, the numbers the
// chapter prints after each epoch (loss, train accuracy, test accuracy, examples/sec) plus mIoU
// and per-class IoU, progress events, cancellation between steps, a checkpoint after every
// epoch, and resume that replays exactly (the loader's batches are pure functions of
// (seed, epoch), and the checkpoint holds parameters, statistics and momentum).
import type { DataLoader } from '../data/loader.js';
import { GpuError } from '../gpu/device.js';
import { segMetrics } from './metrics.js';
import type { Model } from './backend.js';
import { createCropEvaluator, createTrainer } from './compute.js';
import type { OptimizerOptions } from './trainer.js';
import type { EpochMetrics, Schedule, StepProgress } from './run-types.js';

export type { EpochMetrics, Schedule, StepProgress } from './run-types.js';

export interface FitOptions {
  epochs: number;
  optimizer: OptimizerOptions;
  /** 'poly': lr·(1 − step/total)^0.9, torchvision's segmentation recipe. */
  schedule?: Schedule;
  /** Completed epochs to skip (resume); the model must hold that epoch's checkpoint. */
  startEpoch?: number;
  /** Bytes of activations one plan may use (micro-batching splits batches to fit). */
  memoryBudget?: number;
  /** Called between steps. */
  onProgress?: (p: StepProgress) => void;
  /** Called after each epoch, after metrics; write the checkpoint here (awaited). */
  onEpoch?: (m: EpochMetrics) => Promise<void> | void;
  /** Checked between steps; true cancels the run (the last checkpoint stays). */
  shouldStop?: () => boolean;
}

export class TrainingDiverged extends Error {
  constructor(epoch: number, step: number, loss: number) {
    super(`loss became ${loss} at epoch ${epoch + 1}, step ${step + 1}: training stopped; the last checkpoint is kept (try a lower learning rate)`);
    this.name = 'TrainingDiverged';
  }
}

export class TrainingCancelled extends Error {
  constructor(epoch: number, step: number) {
    super(`training cancelled at epoch ${epoch + 1}, step ${step}`);
    this.name = 'TrainingCancelled';
  }
}

/** Trains `model` on `train` (and evaluates on `test` after each epoch). Returns every epoch's metrics. */
export async function fit(model: Model, train: DataLoader, test: DataLoader | null, opts: FitOptions): Promise<EpochMetrics[]> {
  const K = model.config.classes;
  const [H, W] = train.crop;
  const B = train.batchSize;
  const steps = train.batchesPerEpoch;
  const trainer = createTrainer(model, { ...opts.optimizer }, opts.memoryBudget);
  const baseLr = opts.optimizer.lr;
  const totalSteps = steps * opts.epochs;
  const history: EpochMetrics[] = [];
  try {
    for (let epoch = opts.startEpoch ?? 0; epoch < opts.epochs; epoch++) {
      const t0 = performance.now();
      let lossSum = 0;
      let lossCount = 0;
      let lastLoss = NaN;
      let accuracy = NaN;
      const account = (losses: Float32Array | null, step: number) => {
        if (!losses) return;
        let s = 0;
        for (const v of losses) s += v;
        if (!Number.isFinite(s)) throw new TrainingDiverged(epoch, step, s);
        lossSum += s;
        lossCount += losses.length;
        lastLoss = s / losses.length;
      };
      for (let b = 0; b < steps; b++) {
        if (opts.shouldStop?.()) throw new TrainingCancelled(epoch, b);
        if (opts.schedule === 'poly') trainer.setLearningRate(baseLr * Math.pow(1 - (epoch * steps + b) / totalSteps, 0.9));
        const batch = train.batch(epoch, b);
        const { previousLosses } = await trainer.step(train.views(batch), B, H, W);
        account(previousLosses, b - 1);
        const elapsed = (performance.now() - t0) / 1000;
        const rate = ((b + 1) * B) / elapsed;
        if (opts.onProgress && ((b + 1) % 10 === 0 || b === steps - 1)) {
          // A K·K readback between steps (it waits for this step; the next is not yet recorded).
          accuracy = segMetrics(await trainer.peekConfusion(), K).pixelAccuracy;
        }
        opts.onProgress?.({ epoch, step: b + 1, stepsPerEpoch: steps, loss: lastLoss, accuracy, imagesPerSec: rate, etaSec: ((steps - b - 1) * B) / rate });
      }
      account(await trainer.flush(), steps - 1);
      const trainConf = await trainer.takeConfusion();
      const seconds = (performance.now() - t0) / 1000;
      const tm = segMetrics(trainConf, K);
      let testAccuracy: number | null = null;
      let testMIoU: number | null = null;
      let testIoU: number[] | null = null;
      if (test) {
        const ev = createCropEvaluator(model);
        try {
          // Fixed crops (epoch 0 of a seeded, unshuffled loader): the same pixels every epoch.
          for (let b = 0; b < test.batchesPerEpoch; b++) {
            const tb = test.batch(0, b);
            const v = test.views(tb);
            await ev.add(v.images, v.labels, tb.size, tb.height, tb.width);
          }
          const r = await ev.result();
          testAccuracy = r.pixelAccuracy;
          testMIoU = r.meanIoU;
          testIoU = r.iou;
        } finally {
          ev.dispose();
        }
      }
      const m: EpochMetrics = {
        epoch: epoch + 1,
        loss: lossSum / lossCount,
        trainAccuracy: tm.pixelAccuracy,
        trainMIoU: tm.meanIoU,
        testAccuracy,
        testMIoU,
        testIoU,
        examplesPerSec: (steps * B) / seconds,
        seconds,
        lr: trainer.opt.lr,
      };
      if (!Number.isFinite(m.loss)) throw new TrainingDiverged(epoch, steps - 1, m.loss);
      history.push(m);
      await opts.onEpoch?.(m);
    }
    return history;
  } finally {
    await trainer.dispose().catch(() => undefined);
    if (model.backend === 'webgpu' && model.gpu.isLost) throw new GpuError('the GPU device was lost during training; the last checkpoint is intact', 'fit');
  }
}
