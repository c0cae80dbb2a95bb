// Public types of the worker API: what crosses the boundary between the caller and the engine
// worker. Everything here is structured-cloneable (typed arrays, plain objects, numbers, strings),
// so it reads the same from TypeScript and plain JavaScript.
//
// The declarations this file becomes are the public API's, in Node too: it imports only modules
// whose declarations name no WebGPU or DOM types (gpu/report.ts, fcn/run-types.ts, ...), and DOM
// classes appear only through Dom<>, so a Node project type-checks without DOM or WebGPU types.
import type { AdapterReport, MemoryStats } from '../gpu/report.js';
import type { ComputeReport, EpochMetrics, ExportOptions, HeadKind, LossReduction, Schedule, StepProgress } from '../fcn/run-types.js';
import type { SegMetrics } from '../fcn/metrics.js';

export type { AdapterReport, ComputeReport, EpochMetrics, HeadKind, LossReduction, MemoryStats, Schedule, SegMetrics, StepProgress };

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
  /**
   * Where to compute: 'auto' (default: a hardware WebGPU adapter if there is one, else WebAssembly),
   * 'webgpu' (a software adapter when there is no GPU) or 'wasm'. Node: env WEBFCN_BACKEND.
   */
  backend?: 'auto' | 'webgpu' | 'wasm';
  /** Node: one Dawn adapter ('default', 'opengles', 'swiftshader'); implies 'webgpu'. Env WEBFCN_ADAPTER. */
  adapter?: string;
  /**
   * wasm: threads (the engine worker included); default: the machine's cores. Pages need
   * cross-origin isolation (COOP/COEP headers) for more than one.
   */
  threads?: number;
  /** Fail on compatibility-mode adapters. */
  requireCore?: boolean;
  /**
   * URL of the worker script, when the default next to the library is not reachable. Browsers:
   * the URL of `webfcn/worker` (dist/browser/worker.js, self-contained: copy it anywhere), e.g.
   * `new URL('webfcn/worker', import.meta.url)` or a CDN URL (a cross-origin URL is started
   * through a same-origin blob: module that imports it). Node: a file: URL or path of dist/worker.js.
   */
  workerUrl?: string | URL;
  /** Plans (activations per input size) kept between calls, least recently used dropped first (default 4). */
  maxPlans?: number;
}

/** `build()`: a fresh, randomly initialised FCN-ResNet18. */
export interface BuildOptions {
  /** Number of classes K including background (2..255; default 21, VOC's). */
  classes?: number;
  /** 'fcn32s' (the chapter, default), 'fcn16s' or 'fcn8s'. */
  head?: HeadKind;
  /** Seed of the initialisation (default 0). */
  seed?: number;
  /**
   * The backbone's starting weights: torchvision's ImageNet ResNet-18 (resnet18-f37072fd.pth or a
   * safetensors copy) as bytes, or a URL to fetch them from; `fc.*` is dropped. Default: random.
   */
  backbone?: Uint8Array | string | URL;
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
  /** Where the engine computes: 'webgpu' (WGSL kernels on a GPU adapter) or 'wasm' (WebAssembly SIMD on CPU threads). */
  backend: 'webgpu' | 'wasm';
  /** The backend in one line, why it was chosen, and (wasm) threads and SIMD level. */
  compute: ComputeReport;
  /** The WebGPU adapter; null on the wasm backend. */
  adapter: AdapterReport | null;
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
  /** Stops training after the current step (as cancel()); the call then rejects with an AbortError. */
  signal?: AbortSignal;
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
  /** Rejects with an AbortError when it fires; the worker stops before its next tile. */
  signal?: AbortSignal;
  /** After each tile of the image: tiles done and in all. */
  onProgress?: (p: WorkProgress) => void;
}

/** Progress of predict() (tiles of the image) and evaluate() (images of the dataset). */
export interface WorkProgress {
  done: number;
  total: number;
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
  /** Rejects with an AbortError when it fires; the worker stops before its next image or tile. */
  signal?: AbortSignal;
  /** After each image: images done and in all. */
  onProgress?: (p: WorkProgress) => void;
}

/** `export()`: the format, the `.pth` key layout, and whether ONNX folds BatchNorm into the convs. */
export type { ExportOptions };

/**
 * The engine as seen from the caller: every method runs in the worker and resolves when it is
 * done there. Errors thrown in the worker reject with an Error of the same name and message.
 */
export interface Engine extends WebEngine {
  /** The adapter in use, the model and live GPU memory. */
  info(): Promise<EngineInfo>;
  /** Replaces the model with a fresh one. */
  build(options: BuildOptions): Promise<ModelInfo>;
  /** Replaces the model with one read from file bytes (webfcn safetensors or PyTorch .pth); the bytes are transferred. */
  load(bytes: Uint8Array, name?: string): Promise<LoadResult>;
  /** The model (with SGD momentum and training history unless options.weightsOnly) as webfcn checkpoint bytes. */
  save(options?: SaveOptions): Promise<Uint8Array>;
  /**
   * The model's weights in another format: a PyTorch `.pth` (torch.load(..., weights_only=True);
   * the chapter's or torchvision's key layout) or an ONNX model of the eval-mode network (opset 17).
   */
  export(options: ExportOptions): Promise<Uint8Array>;
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

// ---- web apps: image sources in, masks out, models from URLs -----------------------------------

/**
 * What segment() takes. DOM sources (images, videos, canvases, ImageBitmap, VideoFrame) are
 * turned into an ImageBitmap on the caller's thread and copied to the GPU in the worker without a
 * CPU round trip where the browser allows; ImageData and { data, width, height } are copied (the
 * caller's buffer is never detached).
 */
export type ImageSource =
  | Dom<'ImageBitmap'> | Dom<'ImageData'> | Dom<'VideoFrame'> | Dom<'OffscreenCanvas'>
  | Dom<'HTMLImageElement'> | Dom<'HTMLVideoElement'> | Dom<'HTMLCanvasElement'> | ImageInput;

/**
 * The instances of the DOM class named K where the DOM library is loaded (its global `K` has a
 * `prototype`), else never: in pages ImageSource lists the real classes, and in Node projects
 * (lib: ["ES2022"], no DOM types) the declarations still type-check.
 */
export type Dom<K extends string> = typeof globalThis extends Record<K, { prototype: infer T }> ? T : never;

/** The outputs segment() can return. */
export type SegmentOutputKind = 'category' | 'confidence' | 'overlay';

export interface SegmentOptions {
  /** What to compute and return (default ['category']); only what is asked for is read back. */
  outputs?: SegmentOutputKind[];
  /** Overlay opacity of the class colours (0..1, default 0.5). */
  alpha?: number;
  /** Rejects the call with an AbortError (code 'ABORTED') when it fires; a call still queued in the worker never runs. */
  signal?: AbortSignal;
}

/** segment()'s answer: what `outputs` asked for, (height, width) row-major. */
export interface SegmentResult {
  width: number;
  height: number;
  /** The frame's timestamp (segmentForVideo). */
  timestampMs?: number;
  /** 'category': class id per pixel. */
  categoryMask?: Uint8Array;
  /** 'confidence': per class k, the softmax probability of k at each pixel (computed on the GPU). */
  confidenceMasks?: Float32Array[];
  /** 'overlay': RGBA, the image blended with the class colours (`new ImageData(overlay, width, height)`). */
  overlay?: Uint8ClampedArray<ArrayBuffer>;
  /** Names per class id. */
  classNames: string[];
}

/** Progress of loadModel(): downloading, reading from the cache, then decoding in the worker. */
export interface LoadProgress {
  phase: 'download' | 'cache' | 'decode' | 'compile';
  /** Bytes so far (download, cache); compile: shader pipelines compiled so far. */
  loaded: number;
  /** Bytes in all when known (Content-Length), else null; compile: pipelines started so far. */
  total: number | null;
}

/** warmup(): plans and compiles everything segment() needs for one image size, so the first frame is fast. */
export interface WarmupOptions {
  width: number;
  height: number;
  /** 'compile' events as pipelines finish compiling (first use only: compiled pipelines are kept). */
  onProgress?: (p: LoadProgress) => void;
}

export interface LoadModelOptions {
  /** Shown in errors and notes; default: the URL's file name. */
  name?: string;
  onProgress?: (p: LoadProgress) => void;
  /**
   * Keep downloaded files for the next visit (URLs only): true (default) uses the Cache API where
   * the page has it, else IndexedDB; or name one; false fetches every time.
   */
  cache?: boolean | 'cache-api' | 'indexeddb';
  /** Aborts the download (AbortError, code 'ABORTED'). */
  signal?: AbortSignal;
  /** Also compile the shaders for images of [height, width] (warmup()), reported as 'compile' progress. */
  warmup?: [number, number];
}

export interface SaveOptions {
  /** Weights and statistics only: no SGD momentum, no training progress (a file to deploy). */
  weightsOnly?: boolean;
  /** 'f16' halves the file (values rounded to half precision; for inference). Default 'f32'. */
  dtype?: 'f32' | 'f16';
}

/** Cancels a call (train: after its current step; evaluate, predict: before the next image or tile). */
export interface Abortable {
  signal?: AbortSignal;
}

/**
 * Web-app additions to the engine (MediaPipe ImageSegmenter / transformers.js style). Every call
 * rejects with errors of the class and `code` (EngineErrorCode) they had in the worker.
 */
export interface WebEngine {
  /** Segments one image; returns what options.outputs asks for. */
  segment(source: ImageSource, options?: SegmentOptions): Promise<SegmentResult>;
  /**
   * Video mode: call it every frame (requestAnimationFrame, requestVideoFrameCallback) with
   * increasing timestamps. Latest frame wins: while one frame is being segmented, only the newest
   * frame waits; a frame replaced before it starts resolves with null, so no backlog builds up.
   */
  segmentForVideo(source: ImageSource, timestampMs: number, options?: Omit<SegmentOptions, 'signal'>): Promise<SegmentResult | null>;
  /** Loads a model from a URL (streamed, with progress, cached) or from bytes. */
  loadModel(source: string | URL | Uint8Array, options?: LoadModelOptions): Promise<LoadResult>;
  /** Plans and compiles segment()'s work for one image size; resolves with the pipelines compiled and the seconds taken. */
  warmup(options: WarmupOptions): Promise<{ pipelines: number; seconds: number }>;
  /** Frees the per-input-size plans (activations, pipelines' bind groups); the model stays. */
  releaseCaches(): Promise<void>;
}
