// Public types of the worker API: what crosses the boundary between the caller and the engine
// worker. Everything here is structured-cloneable (typed arrays, plain objects, numbers, strings),
// so it reads the same from TypeScript and plain JavaScript.
import type { AdapterReport, MemoryStats } from '../gpu/device.js';
import type { EpochMetrics, Schedule, StepProgress } from '../fcn/fit.js';
import type { SegMetrics } from '../fcn/metrics.js';
import type { HeadKind } from '../fcn/spec.js';
import type { LossReduction } from '../fcn/trainer.js';

export type { AdapterReport, EpochMetrics, HeadKind, LossReduction, MemoryStats, Schedule, SegMetrics, StepProgress };

/** 8-bit pixels, row-major (height, width, channels); channels 4 = RGBA (alpha ignored), 3 = RGB. */
export interface ImageInput {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 or 4; default: data.length / (width·height). */
  channels?: 3 | 4;
}

/**
 * A dataset held in memory: images and, per image, (height, width) class ids (255 = ignore).
 * Crosses to the worker with its pixel buffers transferred (they are detached in the caller).
 */
export interface MemoryDatasetInput {
  images: ImageInput[];
  labels: Uint8Array[];
  /** Names per class id (shown in metrics); default: the model's. */
  classNames?: string[];
  /** Shown in errors; default 'memory'. */
  name?: string;
}

/**
 * Where train/evaluate read samples from:
 * - a path to a VOC-layout folder (Node only; opened in the worker with openVOC; split 'train'
 *   for train, 'val' for evaluate unless `{ path, split }` says otherwise);
 * - an in-memory dataset (Node and browsers).
 */
export type DatasetInput = string | { path: string; split?: string } | MemoryDatasetInput;

/** Engine start-up options. */
export interface EngineOptions {
  /** Node: force one Dawn backend ('vulkan', 'opengles', 'swiftshader', 'default'); env WEBFCN_BACKEND. */
  backend?: string;
  /** Fail on compatibility-mode adapters. */
  requireCore?: boolean;
  /**
   * URL of the worker script, when the default next to the library is not reachable (e.g. a
   * bundler moved it). Node: a file: URL or path of worker.js; browsers: the worker module URL.
   */
  workerUrl?: string | URL;
}

/** `build()`: a fresh, randomly initialised FCN-ResNet18. */
export interface BuildOptions {
  /** Number of classes K including background (2..255; default 21, VOC's). */
  classes?: number;
  /** 'fcn32s' (the chapter, default), 'fcn16s' or 'fcn8s'. */
  head?: HeadKind;
  /** Seed of the initialisation (default 0). */
  seed?: number;
  /** How the transposed conv starts: the chapter's bilinear kernel (default) or Xavier. */
  transposeInit?: 'bilinear' | 'xavier';
  /** Names per class; default 'background', 'class1', ... */
  classNames?: string[];
  /** RGB colour per class; default the VOC colours. */
  colormap?: Array<[number, number, number]>;
}

/** The model the engine holds. */
export interface ModelInfo {
  classes: number;
  head: HeadKind;
  parameters: number;
  classNames: string[];
  colormap: Array<[number, number, number]>;
  mean: [number, number, number];
  std: [number, number, number];
  /** Epochs trained by this engine or recorded in the loaded checkpoint. */
  epochs: number;
}

/** `info()`: the adapter, the model (null before build/load) and live GPU memory. */
export interface EngineInfo {
  adapter: AdapterReport;
  model: ModelInfo | null;
  memory: MemoryStats;
}

/** `load()`'s answer: the model's metadata, and notes on how the file was read (key renames etc.). */
export interface LoadResult {
  model: ModelInfo;
  /** 'webfcn' (safetensors checkpoint) or 'pytorch' (.pth). */
  format: 'webfcn' | 'pytorch';
  notes: string[];
}

/**
 * Training options; defaults are the chapter's recipe, validated by the same schema as the CLI's
 * flags (src/fcn/recipe.ts). The run's checkpoints (save()) record them for resuming.
 */
export interface TrainOptions {
  /** Epochs (default 5). */
  epochs?: number;
  /** Images per SGD step (default 32); split into micro-batches when the device needs it. */
  batchSize?: number;
  /** Random-crop [H, W], multiples of 32 (default [320, 480]); smaller images are skipped. */
  crop?: [number, number];
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  /** 'sum' (the chapter, default) or 'mean'. */
  loss?: LossReduction;
  /** 'constant' (default) or 'poly'. */
  schedule?: Schedule;
  /** Seeds batch order and crops (default 0). */
  seed?: number;
  /** Per-epoch test metrics on fixed crops of this dataset (same forms as the training dataset). */
  validation?: DatasetInput;
  /** Activation memory per micro-batch plan in MiB (default 1536). */
  memoryMiB?: number;
}

/** A progress event: after each step, and after each epoch with its metrics. */
export type TrainEvent =
  | ({ type: 'step' } & StepProgress)
  | ({ type: 'epoch' } & EpochMetrics);

/** `train()`'s answer. */
export interface TrainResult {
  history: EpochMetrics[];
  /** True when cancel() stopped the run (the weights keep every finished step). */
  cancelled: boolean;
  /** SGD steps run. */
  steps: number;
  seconds: number;
}

/** Prediction options. */
export interface PredictOptions {
  /** Overlay opacity of the class colours (0..1, default 0.5). */
  alpha?: number;
  /** Largest tile [H, W] (default [320, 480]) and tile overlap (default 64). */
  tile?: [number, number];
  overlap?: number;
}

/** `predict()`'s answer, all (height, width) row-major. */
export interface Prediction {
  width: number;
  height: number;
  /** Class id per pixel. */
  classes: Uint8Array;
  /** RGBA: each pixel's class colour. */
  colors: Uint8Array;
  /** RGBA: the image blended with the class colours. */
  overlay: Uint8Array;
}

/** `segmentFrames()`'s input: `count` RGBA frames of one size, (count, height, width, 4) row-major. */
export interface RgbaFrames {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  count: number;
}

/** `segmentFrames()`'s answer: class ids (count, height, width) row-major. */
export interface FrameClasses {
  width: number;
  height: number;
  count: number;
  classes: Uint8Array;
}

/** 8-bit RGBA pixels, (height, width, 4) row-major. */
export interface RgbaImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** `evaluate()`'s answer: whole-image metrics (tiled prediction, every pixel). */
export interface EvaluateResult extends SegMetrics {
  images: number;
  /** Labelled (non-ignored) pixels counted. */
  pixels: number;
  /** (K, K) confusion counts, row = label, column = prediction. */
  confusion: number[];
  classNames: string[];
  seconds: number;
}

/** Evaluation options. */
export interface EvaluateOptions {
  tile?: [number, number];
  overlap?: number;
}

/**
 * The engine as seen from the caller: every method runs in the worker and resolves when it is
 * done there. Errors thrown in the worker reject with an Error of the same name and message.
 */
export interface Engine {
  /** The adapter in use, the model and live GPU memory. */
  info(): Promise<EngineInfo>;
  /** Replaces the model with a fresh one. */
  build(options: BuildOptions): Promise<ModelInfo>;
  /** Replaces the model with one read from file bytes (webfcn safetensors or PyTorch .pth); the bytes are transferred. */
  load(bytes: Uint8Array, name?: string): Promise<LoadResult>;
  /** The model (with SGD momentum and training history) as webfcn checkpoint bytes. */
  save(): Promise<Uint8Array>;
  /** Trains the model; `onProgress` receives step and epoch events. */
  train(dataset: DatasetInput, options?: TrainOptions, onProgress?: (event: TrainEvent) => void): Promise<TrainResult>;
  /** Class map, class colours and overlay of one image of any size; the image buffer is transferred. */
  predict(image: ImageInput, options?: PredictOptions): Promise<Prediction>;
  /**
   * Class ids of a batch of same-size RGBA frames (video, canvas), the whole pass on the GPU: 4
   * bytes per pixel up, normalised there, one byte per pixel back; no tiling (one plan of the
   * frame size rounded up to multiples of 32). The frame buffer is transferred.
   */
  segmentFrames(frames: RgbaFrames): Promise<FrameClasses>;
  /** Whole-image metrics over a dataset. */
  evaluate(dataset: DatasetInput, options?: EvaluateOptions): Promise<EvaluateResult>;
  /** The chapter's bilinear upsampling by a transposed convolution (kernel 2s, stride s, padding s/2); the image buffer is transferred. */
  upsample(image: ImageInput, scale?: number): Promise<RgbaImage>;
  /** Stops a running train() after its current step (it then resolves with cancelled: true). */
  cancel(): Promise<void>;
  /** Frees the GPU and ends the worker; the engine is unusable afterwards. */
  dispose(): Promise<void>;
}
