// The run recipe: one schema of the options a training run takes, with the d2l chapter's
// defaults (VOC2012, crop 320×480, batch 32, lr 0.001, weight decay 1e-3, 5 epochs), their
// validation and messages, model construction and the run's metadata. The CLI (`webfcn train`)
// and the worker API (build() + train()) both go through it, so they cannot drift apart.
//
// Messages name the option as the API spells it (`batchSize`); the CLI maps the name to its flag
// (`--batch-size`) through RecipeError.option. Everything a run needs to be resumed is stored in
// the checkpoint's progress metadata (runProgress) and read back through the same schema
// (resumeOptions), so a tampered or truncated record is an error naming the option.
import { defaultClassNames, defaultColormap } from '../data/colormap.js';
import { imagenetStats } from '../io/normalisation.js';
import type { CheckpointMeta } from './checkpoint.js';
import type { EpochMetrics, Schedule } from './fit.js';
import { initialState } from './model.js';
import type { Model } from './backend.js';
import { newModel, type Compute } from './compute.js';
import type { FcnConfig, HeadKind } from './spec.js';
import type { LossReduction, OptimizerOptions } from './trainer.js';

/** How a fresh model is made. */
export interface ModelOptions {
  /** Classes K including background. */
  classes: number;
  head: HeadKind;
  transposeInit: 'bilinear' | 'xavier';
  /** Seeds the initialisation (and, in a run, batch order and crops). */
  seed: number;
}

/** How it is trained. */
export interface TrainingOptions {
  epochs: number;
  batchSize: number;
  /** Random-crop [H, W], multiples of the backbone's stride 32. */
  crop: [number, number];
  optimizer: OptimizerOptions;
  schedule: Schedule;
  seed: number;
  /** Activation memory per micro-batch plan in MiB: sets the micro-batch split, so BatchNorm's statistics. */
  memoryMiB: number;
}

/** Everything a run needs to be repeated or resumed; stored in its checkpoints. */
export interface RunOptions extends ModelOptions, TrainingOptions {
  /** torchvision resnet18 weights the backbone started from, or null. */
  pretrained: string | null;
}

/** The options as a caller writes them: flat, every one optional (the schema supplies defaults). */
export interface RunInput {
  classes?: number;
  head?: HeadKind;
  transposeInit?: 'bilinear' | 'xavier';
  seed?: number;
  epochs?: number;
  batchSize?: number;
  crop?: [number, number];
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  loss?: LossReduction;
  schedule?: Schedule;
  memoryMiB?: number;
  pretrained?: string | null;
}

export type RunOptionName = keyof RunInput;

/** One option of the schema. */
export type OptionSpec =
  | { kind: 'int'; min: number; max: number; default: number; doc: string }
  | { kind: 'number'; min: number; default: number; doc: string }
  | { kind: 'enum'; values: readonly string[]; default: string; doc: string }
  | { kind: 'bool'; default: boolean; doc: string }
  | { kind: 'size'; multipleOf: number; default: [number, number]; doc: string }
  | { kind: 'path'; default: null; doc: string };

/** The backbone's output stride: crop sides must be multiples of it. */
const STRIDE = 32;

/**
 * The schema: every option, its default (the chapter's recipe) and its limits. `classes` starts
 * at 2 because a one-class segmenter has nothing to learn (its cross-entropy is always 0); model
 * files with one class still load (src/fcn/checkpoint.ts).
 */
export const RUN_OPTIONS = {
  classes: { kind: 'int', min: 2, max: 255, default: 21, doc: 'classes including background (255 is the ignore label)' },
  head: { kind: 'enum', values: ['fcn32s', 'fcn16s', 'fcn8s'], default: 'fcn32s', doc: 'FCN head' },
  transposeInit: { kind: 'enum', values: ['bilinear', 'xavier'], default: 'bilinear', doc: "the transposed conv's initialisation" },
  seed: { kind: 'int', min: 0, max: 2 ** 32 - 1, default: 0, doc: 'seeds initialisation, batch order and crops' },
  epochs: { kind: 'int', min: 1, max: Number.MAX_SAFE_INTEGER, default: 5, doc: 'epochs' },
  batchSize: { kind: 'int', min: 1, max: Number.MAX_SAFE_INTEGER, default: 32, doc: 'images per SGD step' },
  crop: { kind: 'size', multipleOf: STRIDE, default: [320, 480], doc: 'random-crop [H, W]' },
  lr: { kind: 'number', min: 0, default: 0.001, doc: 'learning rate' },
  weightDecay: { kind: 'number', min: 0, default: 1e-3, doc: 'L2 weight decay' },
  momentum: { kind: 'number', min: 0, default: 0, doc: 'SGD momentum' },
  nesterov: { kind: 'bool', default: false, doc: 'Nesterov momentum' },
  loss: { kind: 'enum', values: ['sum', 'mean'], default: 'sum', doc: 'loss reduction' },
  schedule: { kind: 'enum', values: ['constant', 'poly'], default: 'constant', doc: 'learning-rate schedule' },
  memoryMiB: { kind: 'number', min: 1, default: 1536, doc: 'activation memory per micro-batch plan in MiB' },
  pretrained: { kind: 'path', default: null, doc: 'torchvision resnet18 weights for the backbone' },
} as const satisfies Record<RunOptionName, OptionSpec>;

/**
 * A bad option value; `option` is the schema's name (the CLI maps it to its flag). Its name stays
 * 'RangeError', the name the worker API's callers see.
 */
export class RecipeError extends RangeError {
  constructor(readonly option: RunOptionName, readonly detail: string, readonly value: unknown) {
    super(`${option} ${detail}, got ${show(value)}`);
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.slice(0, 80)}'`;
  if (Array.isArray(v)) return `[${v.map(show).join(',')}]`;
  return String(v);
}

/** What the schema says a valid value of `spec` is, as the tail of a message. */
export function describeOption(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'int': return `must be an integer in [${spec.min}, ${spec.max}]`;
    case 'number': return `must be a number >= ${spec.min}`;
    case 'enum': return `must be one of ${spec.values.join(', ')}`;
    case 'bool': return 'must be true or false';
    case 'size': return `must be [H, W] with positive multiples of ${spec.multipleOf} (the backbone's stride)`;
    case 'path': return 'must be a file path';
  }
}

/** Validates one option (undefined → its default); throws RecipeError naming it. */
export function checkOption<N extends RunOptionName>(name: N, value: unknown): Exclude<RunInput[N], undefined> {
  const spec: OptionSpec = RUN_OPTIONS[name];
  const v = value === undefined ? spec.default : value;
  const bad = (detail = describeOption(spec)) => new RecipeError(name, detail, v);
  switch (spec.kind) {
    case 'int':
      if (!(typeof v === 'number' && Number.isInteger(v) && v >= spec.min && v <= spec.max)) throw bad();
      break;
    case 'number':
      if (!(typeof v === 'number' && Number.isFinite(v) && v >= spec.min)) throw bad();
      break;
    case 'enum':
      if (!(typeof v === 'string' && spec.values.includes(v))) throw bad();
      break;
    case 'bool':
      if (typeof v !== 'boolean') throw bad();
      break;
    case 'size': {
      const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x > 0 && x % spec.multipleOf === 0;
      if (!(Array.isArray(v) && v.length === 2 && v.every(ok))) throw bad();
      return [v[0], v[1]] as never;
    }
    case 'path':
      if (!(v === null || (typeof v === 'string' && v.length > 0))) throw bad();
      break;
  }
  return v as never;
}

/** The model half of the recipe, validated, with defaults. */
export function modelOptions(input: Pick<RunInput, 'classes' | 'head' | 'transposeInit' | 'seed'> = {}): ModelOptions {
  return {
    classes: checkOption('classes', input.classes),
    head: checkOption('head', input.head),
    transposeInit: checkOption('transposeInit', input.transposeInit),
    seed: checkOption('seed', input.seed),
  };
}

/** The training half of the recipe, validated, with defaults. */
export function trainingOptions(input: RunInput = {}): TrainingOptions {
  return {
    epochs: checkOption('epochs', input.epochs),
    batchSize: checkOption('batchSize', input.batchSize),
    crop: checkOption('crop', input.crop),
    optimizer: {
      lr: checkOption('lr', input.lr),
      weightDecay: checkOption('weightDecay', input.weightDecay),
      momentum: checkOption('momentum', input.momentum),
      nesterov: checkOption('nesterov', input.nesterov),
      reduction: checkOption('loss', input.loss),
    },
    schedule: checkOption('schedule', input.schedule),
    seed: checkOption('seed', input.seed),
    memoryMiB: checkOption('memoryMiB', input.memoryMiB),
  };
}

/** The whole recipe, validated, with the chapter's defaults. */
export function runOptions(input: RunInput = {}): RunOptions {
  return { ...modelOptions(input), ...trainingOptions(input), pretrained: checkOption('pretrained', input.pretrained) };
}

/** RunOptions back to the flat form (what runOptions reads). */
export function flatten(o: RunOptions): RunInput {
  const { optimizer, ...rest } = o;
  return { ...rest, lr: optimizer.lr, weightDecay: optimizer.weightDecay, momentum: optimizer.momentum, nesterov: optimizer.nesterov, loss: optimizer.reduction };
}

/**
 * The options stored in a checkpoint's progress record, validated through the schema. Records
 * written before an option existed get its default (memoryMiB: 1536, the only default there was).
 */
export function resumeOptions(stored: Record<string, unknown>, source: string): RunOptions {
  const opt = (stored.optimizer ?? {}) as Record<string, unknown>;
  const flat: Record<string, unknown> = { ...stored, lr: opt.lr, weightDecay: opt.weightDecay, momentum: opt.momentum, nesterov: opt.nesterov, loss: opt.reduction };
  try {
    return runOptions(flat as RunInput);
  } catch (e) {
    if (e instanceof RecipeError) throw new RecipeError(e.option, `${e.detail} (in the run options ${source} records)`, e.value);
    throw e;
  }
}

/** Bytes of activations one plan may use. */
export function memoryBudget(o: Pick<TrainingOptions, 'memoryMiB'>): number {
  return o.memoryMiB * 2 ** 20;
}

/**
 * A fresh model on `compute`: the recipe's initialisation, with `backbone` tensors (ImageNet
 * weights, canonical names) over it when given. Freed again if anything fails.
 */
export function createModel(compute: Compute, o: ModelOptions, backbone?: ReadonlyMap<string, Float32Array>): Model {
  const config: FcnConfig = { classes: o.classes, head: o.head };
  const model = newModel(compute, config);
  try {
    const init = initialState(config, { seed: o.seed, transposeInit: o.transposeInit });
    if (backbone) for (const [k, t] of backbone) init.tensors.set(k, t);
    model.loadState(init);
  } catch (e) {
    void model.dispose();
    throw e;
  }
  return model;
}

/** The metadata of a new run's model: ImageNet normalisation, names and colours (defaults per class). */
export function runMeta(o: Pick<ModelOptions, 'classes' | 'head'>, names: { classNames?: readonly string[]; colormap?: ReadonlyArray<readonly [number, number, number]> } = {}): CheckpointMeta {
  const K = o.classes;
  return {
    config: { classes: K, head: o.head },
    colormap: names.colormap?.slice(0, K).map((c) => [c[0], c[1], c[2]] as [number, number, number]) ?? defaultColormap(K),
    classNames: names.classNames?.slice(0, K) ?? defaultClassNames(K),
    ...imagenetStats(),
  };
}

/** The progress record a checkpoint carries after `epoch` epochs and `step` SGD steps. */
export function runProgress(o: RunOptions, epoch: number, step: number, history: EpochMetrics[]): NonNullable<CheckpointMeta['progress']> {
  return { epoch, step, seed: o.seed, options: o as unknown as Record<string, unknown>, history };
}
