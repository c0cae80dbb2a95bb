// `webfcn train`: trains an FCN on a VOC-layout folder and writes a run folder: checkpoints
// (epoch-N.safetensors and last.safetensors, atomic), metrics.json, curves.svg and
// predictions.png (input | prediction | ground truth, as the chapter's figure).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openVOC } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { acquireGpu } from '../gpu/device.js';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeCheckpoint, decodePretrainedBackbone, type CheckpointMeta } from '../fcn/checkpoint.js';
import { fit, type EpochMetrics, type Schedule } from '../fcn/fit.js';
import { FcnModel, initialState } from '../fcn/model.js';
import type { HeadKind } from '../fcn/spec.js';
import type { OptimizerOptions } from '../fcn/trainer.js';
import { curvesSvg } from '../report/curves.js';
import { parseIntFlag, parseNumberFlag, parseSize, UsageError } from './args.js';
import { defaultColormap, loadModelFile, saveCheckpoint } from './model-files.js';
import { ProgressBar } from './progress.js';
import { predictionGrid } from './predictions.js';

export const trainHelp = `webfcn train --data DIR [options]

Trains an FCN (ResNet-18 backbone) and writes a run folder.
Defaults are the d2l chapter's recipe: --classes 21 --epochs 5 --batch-size 32 --crop 320x480
--lr 0.001 --weight-decay 1e-3 --momentum 0 --loss sum.

  --data DIR            a VOC2012 folder, or one holding VOCdevkit/VOC2012 (train.txt / val.txt splits)
  --classes K           number of classes incl. background (default 21)
  --epochs E            (default 5)
  --batch-size B        images per SGD step; split into micro-batches when the device needs it (default 32)
  --crop HxW            random-crop size, multiples of 32 (default 320x480)
  --lr R                learning rate (default 0.001)
  --weight-decay W      (default 1e-3)
  --momentum M          SGD momentum (default 0); --nesterov for Nesterov momentum
  --loss sum|mean       sum: the chapter's sum of per-image means; mean: over labelled pixels (default sum)
  --schedule constant|poly   learning-rate schedule (default constant)
  --head fcn32s|fcn16s|fcn8s (default fcn32s)
  --transpose-init bilinear|xavier  (default bilinear)
  --pretrained FILE     torchvision resnet18 weights (.pth or .safetensors) for the backbone
  --resume CKPT         continue a run from its checkpoint (its options are reused; --epochs may grow)
  --seed S              (default 0)
  --memory-mib M        activation memory per micro-batch plan (default 1536)
  --out DIR             run folder (default runs/<date-time>)
  --quiet               no progress bar

A run that trains in a few minutes on a CPU with no GPU: in a checkout, npm run quickstart.`;

export const trainOptions = {
  data: { type: 'string' },
  classes: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  crop: { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  momentum: { type: 'string' },
  nesterov: { type: 'boolean' },
  loss: { type: 'string' },
  schedule: { type: 'string' },
  head: { type: 'string' },
  'transpose-init': { type: 'string' },
  pretrained: { type: 'string' },
  resume: { type: 'string' },
  seed: { type: 'string' },
  'memory-mib': { type: 'string' },
  out: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

/** Everything a run needs to be repeated; stored in checkpoints for resume. */
export interface RunOptions {
  data: string;
  classes: number;
  epochs: number;
  batchSize: number;
  crop: [number, number];
  optimizer: OptimizerOptions;
  schedule: Schedule;
  head: HeadKind;
  transposeInit: 'bilinear' | 'xavier';
  pretrained: string | null;
  seed: number;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

export function parseTrainOptions(v: Record<string, string | boolean | undefined>): RunOptions {
  if (!v.data && !v.resume) throw new UsageError('--data DIR is required');
  const s = (k: string) => v[k] as string | undefined;
  const crop = parseSize('crop', s('crop') ?? '320x480');
  if (crop[0] % 32 || crop[1] % 32) throw new UsageError(`--crop sides must be multiples of 32 (the backbone's stride); got ${crop[0]}x${crop[1]}`);
  return {
    data: s('data') ?? '',
    classes: parseIntFlag('classes', s('classes') ?? '21', 2, 255),
    epochs: parseIntFlag('epochs', s('epochs') ?? '5', 1),
    batchSize: parseIntFlag('batch-size', s('batch-size') ?? '32', 1),
    crop,
    optimizer: {
      lr: parseNumberFlag('lr', s('lr') ?? '0.001', 0),
      weightDecay: parseNumberFlag('weight-decay', s('weight-decay') ?? '1e-3', 0),
      momentum: parseNumberFlag('momentum', s('momentum') ?? '0', 0),
      nesterov: !!v.nesterov,
      reduction: oneOf('loss', s('loss'), ['sum', 'mean'], 'sum'),
    },
    schedule: oneOf('schedule', s('schedule'), ['constant', 'poly'], 'constant'),
    head: oneOf('head', s('head'), ['fcn32s', 'fcn16s', 'fcn8s'], 'fcn32s'),
    transposeInit: oneOf('transpose-init', s('transpose-init'), ['bilinear', 'xavier'], 'bilinear'),
    pretrained: s('pretrained') ?? null,
    seed: parseIntFlag('seed', s('seed') ?? '0', 0, 2 ** 32 - 1),
  };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

export async function train(v: Record<string, string | boolean | undefined>): Promise<void> {
  let opts: RunOptions;
  let history: EpochMetrics[] = [];
  let startEpoch = 0;
  let resumeBytes: string | null = null;
  if (v.resume) {
    // Options come from the checkpoint so the continued run is the same run.
    resumeBytes = v.resume as string;
    const peek = loadMeta(resumeBytes);
    if (!peek.progress) throw new Error(`${resumeBytes}: not a training checkpoint (no progress metadata); use --pretrained for weights`);
    opts = peek.progress.options as unknown as RunOptions;
    if (v.epochs) opts.epochs = parseIntFlag('epochs', v.epochs as string, 1);
    if (v.data) opts.data = v.data as string;
    startEpoch = peek.progress.epoch;
    history = peek.progress.history as EpochMetrics[];
    if (startEpoch >= opts.epochs) throw new UsageError(`${resumeBytes} already has ${startEpoch} epochs; pass --epochs > ${startEpoch}`);
  } else {
    opts = parseTrainOptions(v);
  }
  const out = (v.out as string | undefined) ?? join('runs', stamp());
  const quiet = !!v.quiet;
  const log = (s: string) => console.log(s);

  // Data first: bad files are reported before any GPU work.
  const trainSet = await openVOC(opts.data, 'train', { crop: opts.crop, classes: opts.classes });
  const valSet = await openVOC(opts.data, 'val', { crop: opts.crop, classes: opts.classes, preprocessor: trainSet.pre });
  log(trainSet.summary(opts.crop));
  log(valSet.summary(opts.crop));
  const trainLoader = new DataLoader(trainSet, { batchSize: opts.batchSize, crop: opts.crop, seed: opts.seed });
  const testBatch = Math.min(opts.batchSize, valSet.length);
  const testLoader = new DataLoader(valSet, { batchSize: testBatch, crop: opts.crop, seed: opts.seed, shuffle: false });
  const pretrained = opts.pretrained ? decodePretrainedBackbone(readFileSync(opts.pretrained), opts.pretrained) : null;

  mkdirSync(out, { recursive: true });
  const gpu = await acquireGpu();
  let model: FcnModel | null = null;
  try {
    log(`device: ${gpu.report.backend} ${gpu.report.description || gpu.report.device} (${gpu.report.featureLevel})`);
    let meta: CheckpointMeta;
    if (resumeBytes) {
      const loaded = loadModelFile(gpu, resumeBytes, opts.classes);
      model = loaded.model;
      meta = loaded.checkpoint.meta;
      log(`resuming ${resumeBytes} after epoch ${startEpoch}`);
    } else {
      const config = { classes: opts.classes, head: opts.head };
      model = new FcnModel(gpu, config);
      const init = initialState(config, { seed: opts.seed, transposeInit: opts.transposeInit });
      if (pretrained) {
        for (const [k, t] of pretrained.tensors) init.tensors.set(k, t);
        for (const n of pretrained.notes) log(`pretrained: ${n}`);
      }
      model.loadState(init);
      meta = {
        config,
        colormap: defaultColormap(opts.classes),
        classNames: trainSet.classNames.slice(),
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      };
    }
    log(`model: FCN-ResNet18 ${opts.head}, ${opts.classes} classes, ${(model.store.parameterCount / 1e6).toFixed(2)}M parameters`);
    await writeFileAtomic(join(out, 'options.json'), new TextEncoder().encode(JSON.stringify(opts, null, 2)));
    const bar = quiet ? null : new ProgressBar(opts.epochs);
    const t0 = performance.now();
    const m = model;
    await fit(m, trainLoader, testLoader, {
      epochs: opts.epochs,
      optimizer: opts.optimizer,
      schedule: opts.schedule,
      startEpoch,
      memoryBudget: Number(v['memory-mib'] ?? 1536) * 2 ** 20,
      onProgress: (p) => bar?.update(p),
      onEpoch: async (e) => {
        bar?.done();
        history.push(e);
        log(
          `epoch ${e.epoch}: loss ${e.loss.toFixed(3)}, train acc ${e.trainAccuracy.toFixed(3)}, ` +
            `test acc ${e.testAccuracy?.toFixed(3)}, test mIoU ${e.testMIoU?.toFixed(3)}, ` +
            `${e.examplesPerSec.toFixed(1)} examples/sec on ${gpu.report.backend}`,
        );
        const full = { ...meta, progress: { epoch: e.epoch, step: e.epoch * trainLoader.batchesPerEpoch, seed: opts.seed, options: opts as unknown as Record<string, unknown>, history } };
        await saveCheckpoint(join(out, `epoch-${e.epoch}.safetensors`), m, full);
        await saveCheckpoint(join(out, 'last.safetensors'), m, full);
        await writeFileAtomic(join(out, 'metrics.json'), new TextEncoder().encode(JSON.stringify({ classNames: meta.classNames, history }, null, 2)));
        await writeFileAtomic(join(out, 'curves.svg'), new TextEncoder().encode(curvesSvg(history, `FCN-ResNet18 ${opts.head}, ${opts.classes} classes`)));
      },
    });
    await writeFileAtomic(join(out, 'predictions.png'), await predictionGrid(m, valSet, meta, 4));
    const last = history[history.length - 1]!;
    log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s: test acc ${last.testAccuracy?.toFixed(3)}, test mIoU ${last.testMIoU?.toFixed(3)}`);
    log(`run folder: ${out} (last.safetensors, metrics.json, curves.svg, predictions.png)`);
  } finally {
    await model?.dispose();
    gpu.dispose();
  }
}

function loadMeta(path: string): CheckpointMeta {
  return decodeCheckpoint(readFileSync(path), path).meta;
}
