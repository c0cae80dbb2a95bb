// `webfcn train`: trains an FCN on a VOC-layout folder and writes a run folder: checkpoints
// (epoch-N.safetensors and last.safetensors, atomic), metrics.json, curves.svg and
// predictions.png (input | prediction | ground truth, as the chapter's figure).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openVOC } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeCheckpoint, decodePretrainedBackbone, type CheckpointMeta } from '../fcn/checkpoint.js';
import { fit, type EpochMetrics } from '../fcn/fit.js';
import type { Model } from '../fcn/backend.js';
import { computeLabel, openCompute } from './compute.js';
import {
  checkOption, createModel, memoryBudget, RecipeError, resumeOptions, RUN_OPTIONS, runMeta, runOptions, runProgress,
  type RunInput, type RunOptionName, type RunOptions,
} from '../fcn/recipe.js';
import { curvesSvg } from '../report/curves.js';
import { parseSize, UsageError } from './args.js';
import { loadModelFile, saveCheckpoint } from './model-files.js';
import { ProgressBar } from './progress.js';
import { predictionGrid } from './predictions.js';

/** The CLI flag of each recipe option (src/fcn/recipe.ts names them as the API does). */
export const RECIPE_FLAGS = {
  classes: 'classes',
  epochs: 'epochs',
  batchSize: 'batch-size',
  crop: 'crop',
  lr: 'lr',
  weightDecay: 'weight-decay',
  momentum: 'momentum',
  nesterov: 'nesterov',
  loss: 'loss',
  schedule: 'schedule',
  head: 'head',
  transposeInit: 'transpose-init',
  pretrained: 'pretrained',
  seed: 'seed',
  memoryMiB: 'memory-mib',
} as const satisfies Record<RunOptionName, string>;

const d = (name: RunOptionName): string => {
  const v = RUN_OPTIONS[name].default;
  return Array.isArray(v) ? `${v[0]}x${v[1]}` : String(v);
};

export const trainHelp = `webfcn train --data DIR [options]

Trains an FCN (ResNet-18 backbone) and writes a run folder.
Defaults are the d2l chapter's recipe: --classes ${d('classes')} --epochs ${d('epochs')} --batch-size ${d('batchSize')} --crop ${d('crop')}
--lr ${d('lr')} --weight-decay ${d('weightDecay')} --momentum ${d('momentum')} --loss ${d('loss')}.

  --data DIR            a VOC2012 folder, or one holding VOCdevkit/VOC2012 (train.txt / val.txt splits)
  --classes K           number of classes incl. background, ${RUN_OPTIONS.classes.min}..${RUN_OPTIONS.classes.max} (default ${d('classes')})
  --epochs E            (default ${d('epochs')})
  --batch-size B        images per SGD step; split into micro-batches when the device needs it (default ${d('batchSize')})
  --crop HxW            random-crop size, multiples of 32 (default ${d('crop')})
  --lr R                learning rate (default ${d('lr')})
  --weight-decay W      (default ${d('weightDecay')})
  --momentum M          SGD momentum (default ${d('momentum')}); --nesterov for Nesterov momentum
  --loss sum|mean       sum: the chapter's sum of per-image means; mean: over labelled pixels (default ${d('loss')})
  --schedule constant|poly   learning-rate schedule (default ${d('schedule')})
  --head fcn32s|fcn16s|fcn8s (default ${d('head')})
  --transpose-init bilinear|xavier  (default ${d('transposeInit')})
  --pretrained FILE     torchvision resnet18 weights (.pth or .safetensors) for the backbone
  --resume CKPT         continue a run from its checkpoint (its options, --memory-mib included, are reused;
                        only --epochs may grow and --data may point elsewhere)
  --seed S              (default ${d('seed')})
  --memory-mib M        activation memory per micro-batch plan (default ${d('memoryMiB')}); saved for --resume
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

/** The recipe plus where the data is: what a CLI run records for --resume. */
export interface CliRunOptions extends RunOptions {
  data: string;
}

/** A flag's text as the schema's value type (numbers, HxW sizes, strings, booleans). */
function flagValue(name: RunOptionName, raw: string | boolean): unknown {
  const spec = RUN_OPTIONS[name];
  if (typeof raw === 'boolean') return raw;
  switch (spec.kind) {
    case 'int':
    case 'number':
      return raw.trim() === '' ? NaN : Number(raw);
    case 'size':
      return parseSize(RECIPE_FLAGS[name], raw);
    default:
      return raw;
  }
}

/** Runs `fn`, turning the recipe's errors into usage errors that name the flag and echo its text. */
function asUsage<T>(v: Record<string, string | boolean | undefined>, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof RecipeError)) throw e;
    const flag = RECIPE_FLAGS[e.option];
    const raw = v[flag];
    const spec = RUN_OPTIONS[e.option];
    // A size flag is HxW text that parseSize has read as positive sides: what is left to say is the multiple.
    const detail = spec.kind === 'size' ? `sides must be multiples of ${spec.multipleOf} (the backbone's stride)` : e.detail;
    throw new UsageError(`--${flag} ${detail}; got ${typeof raw === 'string' ? `'${raw}'` : String(e.value)}`);
  }
}

/** The recipe options given as flags, in the schema's names and types. */
function recipeInput(v: Record<string, string | boolean | undefined>): RunInput {
  const input: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(RECIPE_FLAGS) as [RunOptionName, string][]) {
    const raw = v[flag];
    if (raw !== undefined) input[name] = flagValue(name, raw);
  }
  return input as RunInput;
}

export function parseTrainOptions(v: Record<string, string | boolean | undefined>): CliRunOptions {
  if (!v.data && !v.resume) throw new UsageError('--data DIR is required');
  return { ...asUsage(v, () => runOptions(recipeInput(v))), data: (v.data as string | undefined) ?? '' };
}

/**
 * The options of a run resumed from `path`'s progress record: the recorded recipe, with --epochs
 * (which may grow) and --data (which may move) taken from the flags; any other recipe flag is an
 * error, since it would make the continued run a different run.
 */
export function resumeTrainOptions(v: Record<string, string | boolean | undefined>, path: string, stored: Record<string, unknown>): CliRunOptions {
  const changed = (Object.entries(RECIPE_FLAGS) as [RunOptionName, string][]).filter(([name, flag]) => v[flag] !== undefined && name !== 'epochs');
  if (changed.length) {
    throw new UsageError(`${changed.map(([, f]) => `--${f}`).join(', ')} cannot change on --resume: the run's options come from ${path}`);
  }
  const opts = resumeOptions(stored, path);
  if (v.epochs !== undefined) opts.epochs = asUsage(v, () => checkOption('epochs', flagValue('epochs', v.epochs as string)));
  const data = (v.data as string | undefined) ?? (typeof stored.data === 'string' ? stored.data : '');
  if (!data) throw new UsageError(`${path} records no dataset folder: pass --data DIR`);
  return { ...opts, data };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

export async function train(v: Record<string, string | boolean | undefined>): Promise<void> {
  let opts: CliRunOptions;
  let history: EpochMetrics[] = [];
  let startEpoch = 0;
  let resumeBytes: string | null = null;
  if (v.resume) {
    // Options come from the checkpoint so the continued run is the same run.
    resumeBytes = v.resume as string;
    const peek = loadMeta(resumeBytes);
    if (!peek.progress) throw new Error(`${resumeBytes}: not a training checkpoint (no progress metadata); use --pretrained for weights`);
    opts = resumeTrainOptions(v, resumeBytes, peek.progress.options);
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
  // A resumed run's backbone weights are in its checkpoint: the pretrained file is read only for a new run.
  const pretrained = opts.pretrained && !resumeBytes ? decodePretrainedBackbone(readFileSync(opts.pretrained), opts.pretrained) : null;

  mkdirSync(out, { recursive: true });
  const compute = await openCompute(v);
  let model: Model | null = null;
  try {
    log(`device: ${compute.report.summary}`);
    let meta: CheckpointMeta;
    if (resumeBytes) {
      const loaded = loadModelFile(compute, resumeBytes, opts.classes);
      model = loaded.model;
      meta = loaded.checkpoint.meta;
      log(`resuming ${resumeBytes} after epoch ${startEpoch}`);
    } else {
      model = createModel(compute, opts, pretrained?.tensors);
      for (const n of pretrained?.notes ?? []) log(`pretrained: ${n}`);
      meta = runMeta(opts, { classNames: trainSet.classNames });
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
      memoryBudget: memoryBudget(opts),
      onProgress: (p) => bar?.update(p),
      onEpoch: async (e) => {
        bar?.done();
        history.push(e);
        log(
          `epoch ${e.epoch}: loss ${e.loss.toFixed(3)}, train acc ${e.trainAccuracy.toFixed(3)}, ` +
            `test acc ${e.testAccuracy?.toFixed(3)}, test mIoU ${e.testMIoU?.toFixed(3)}, ` +
            `${e.examplesPerSec.toFixed(1)} examples/sec on ${computeLabel(compute)}`,
        );
        const full = { ...meta, progress: runProgress(opts, e.epoch, e.epoch * trainLoader.batchesPerEpoch, history) };
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
    compute.dispose();
  }
}

function loadMeta(path: string): CheckpointMeta {
  return decodeCheckpoint(readFileSync(path), path).meta;
}
