// The engine as it runs inside the worker: owns the GPU device, one model and its metadata, and
// serves the calls of the Engine API (src/api/types.ts) one at a time, in arrival order, so a
// predict() sent during train() runs after it (cancel() and info() answer at once).
//
// Cancelling: cancel() with no id stops a running train() (the public engine.cancel()). A call
// made with an AbortSignal also carries an id of its own (the caller numbers them), and cancel(id)
// stops that call only: not started yet, it never starts; running, it stops at its next check
// (between tiles, images or training steps). Other calls, queued or running, are not touched.
//
// Nothing here depends on the platform: dataset paths are opened by the `openPath` the worker
// entry passes in (openVOC in Node; absent in browsers).
import * as Comlink from 'comlink';
import type { SegDataset } from '../data/dataset.js';
import { colorize, defaultClassNames, defaultColormap } from '../data/colormap.js';
import { DataLoader } from '../data/loader.js';
import { Preprocessor } from '../data/preprocess.js';
import type { Model } from '../fcn/backend.js';
import { acquireCompute, newModel, type Compute, type ComputeOptions } from '../fcn/compute.js';
import { decodeModelFile, decodePretrainedBackbone, encodeCheckpoint, isZip, type CheckpointMeta } from '../fcn/checkpoint.js';
import { evaluateWholeImages } from '../fcn/evaluate.js';
import { exportCheckpoint } from '../fcn/export.js';
import { fit, TrainingCancelled, type EpochMetrics } from '../fcn/fit.js';
import { normalizeImage } from '../fcn/image.js';
import { PredictionCancelled, predictClasses, predictFrames } from '../fcn/predict.js';
import { checkUpsampleScale, upsampleImage } from '../fcn/upsample.js';
import {
  createModel, memoryBudget, modelOptions, resumeOptions, RUN_OPTIONS, runMeta, runProgress, trainingOptions,
  type ModelOptions, type RunOptions,
} from '../fcn/recipe.js';
import { EngineError } from './errors.js';
import { bytesOf, imageChannels, MemoryDataset } from './memory-dataset.js';
import { runSegment, segmentRequest, type SegmentInput, type SegmentReply } from './segment-worker.js';
import type {
  BuildOptions, DatasetInput, EngineInfo, EvaluateOptions, EvaluateResult, ExportOptions, ImageInput, LoadResult, MemoryDatasetInput, ModelInfo,
  FrameClasses, Prediction, PredictOptions, RgbaFrames, RgbaImage, SaveOptions, TrainEvent, TrainOptions, TrainResult, WorkProgress,
} from './types.js';
import { segmentImage } from '../fcn/segment.js';
import { onCompile } from '../gpu/kernel.js';

/** Opens split `split` of a VOC-layout folder (Node's openVOC). */
export type OpenPath = (path: string, split: string, opts: { crop?: [number, number]; classes: number; preprocessor: Preprocessor }) => Promise<SegDataset>;

/** What the platform gives the service. */
export interface ServiceHost {
  /** Undefined where there is no file system: dataset paths are then an error. */
  openPath?: OpenPath;
}

function isMemoryDataset(d: DatasetInput): d is MemoryDatasetInput {
  return typeof d === 'object' && d !== null && 'images' in d;
}

/**
 * How a loaded model was made, for the record of runs that continue it: classes and head from the
 * file, initialisation and seed from its run record when that reads as one (files from other
 * tools, or with one class, have none: the recipe's defaults stand in).
 */
function loadedModelOptions(meta: CheckpointMeta, source: string): ModelOptions {
  const { classes, head } = meta.config;
  const o: ModelOptions = { classes, head, transposeInit: RUN_OPTIONS.transposeInit.default, seed: RUN_OPTIONS.seed.default };
  const stored = meta.progress?.options;
  if (!stored) return o;
  try {
    const r = resumeOptions({ ...stored, classes, head }, source);
    return { ...o, transposeInit: r.transposeInit, seed: r.seed };
  } catch {
    return o;
  }
}

/** Throws unless v is an integer in [lo, hi] (options the run recipe does not cover). */
function checkInt(what: string, v: number, lo: number, hi: number): number {
  if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new RangeError(`${what} must be an integer in [${lo}, ${hi}], got ${v}`);
  return v;
}

/** A flag per cancellable call (cancel(id) sets it; the call reads it between units of work). */
interface CallToken {
  cancelled: boolean;
}

/**
 * Progress events for a Comlink callback, not awaited one by one (the work goes on while an event
 * travels; an error in the callback does not stop it); `flush()` waits for those sent and releases
 * the callback's proxy.
 */
function progressSink<E>(onProgress: ((e: E) => unknown) | undefined): { emit: (e: E) => void; flush: () => Promise<void> } {
  const pending: Promise<unknown>[] = [];
  return {
    emit: (e) => {
      if (onProgress) pending.push(Promise.resolve().then(() => onProgress(e)).catch(() => undefined));
    },
    flush: async () => {
      await Promise.all(pending);
      (onProgress as Partial<Comlink.Remote<unknown>> | undefined)?.[Comlink.releaseProxy]?.();
    },
  };
}

/** Runs an option check, prefixing its error with the call (`train: batchSize must be ...`). */
function prefixed<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError) e.message = `${op}: ${e.message}`;
    throw e;
  }
}

/** The worker-side engine; its methods are what the Comlink remote calls. */
export class EngineService {
  private compute: Compute | null = null;
  private model: Model | null = null;
  private meta: CheckpointMeta | null = null;
  /** How the model was made (recorded with each run's options). */
  private modelOptions: ModelOptions | null = null;
  private history: EpochMetrics[] = [];
  private pre: Preprocessor | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private cancelRequested = false;
  /** The cancellable calls sent and not yet finished, by the id their caller gave them. */
  private readonly calls = new Map<number, CallToken>();
  private disposed = false;
  /** Plans kept between calls (EngineOptions.maxPlans). */
  private maxPlans = 4;

  constructor(private readonly host: ServiceHost = {}) {}

  /** Acquires the compute backend (createEngine calls this first, so a missing adapter fails there). */
  init(options: ComputeOptions = {}): Promise<EngineInfo> {
    return this.serial(async () => {
      this.compute ??= await acquireCompute(options);
      return this.infoNow();
    });
  }

  info(): Promise<EngineInfo> {
    return Promise.resolve().then(() => this.infoNow());
  }

  build(options: BuildOptions): Promise<ModelInfo> {
    return this.serial(async () => {
      if (!options || typeof options !== 'object') throw new TypeError('build: options must be an object ({ classes, head, ... })');
      const o = prefixed('build', () => modelOptions(options));
      if (options.backbone !== undefined && !(options.backbone instanceof Uint8Array)) {
        throw new TypeError('build: backbone must be the weight file\'s bytes (a Uint8Array) here; createEngine().build fetches URLs');
      }
      const backbone = options.backbone ? decodePretrainedBackbone(options.backbone, 'backbone') : null;
      const model = createModel(this.requireCompute(), o, backbone?.tensors);
      await this.replaceModel(model, runMeta(o, { classNames: options.classNames, colormap: options.colormap }), [], o);
      return this.modelInfo()!;
    });
  }

  load(bytes: Uint8Array, name = 'model'): Promise<LoadResult> {
    return this.serial(async () => {
      if (!(bytes instanceof Uint8Array)) throw new TypeError(`load: expected the file's bytes as a Uint8Array, got ${typeof bytes}`);
      const ck = decodeModelFile(bytes, name);
      const K = ck.meta.config.classes;
      if (!ck.meta.colormap.length) ck.meta.colormap = defaultColormap(K);
      if (!ck.meta.classNames.length) ck.meta.classNames = defaultClassNames(K);
      const model = newModel(this.requireCompute(), ck.meta.config);
      try {
        model.loadState(ck.state);
        if (ck.momentum) model.store.loadMomentum(ck.momentum);
      } catch (e) {
        await model.dispose();
        throw e;
      }
      await this.replaceModel(model, ck.meta, (ck.meta.progress?.history as EpochMetrics[] | undefined) ?? [], loadedModelOptions(ck.meta, name));
      return { model: this.modelInfo()!, format: isZip(bytes) ? 'pytorch' : 'webfcn', notes: ck.notes };
    });
  }

  save(options: SaveOptions = {}): Promise<Uint8Array> {
    return this.serial(async () => {
      const { model, meta } = this.requireModel('save');
      const dtype = options?.dtype ?? 'f32';
      if (dtype !== 'f32' && dtype !== 'f16') throw new RangeError(`save: dtype must be 'f32' or 'f16', got '${String(dtype)}'`);
      const weightsOnly = !!options?.weightsOnly;
      const state = await model.readState();
      const momentum = !weightsOnly && model.store.hasMomentum() ? await model.store.readAll('momentum') : null;
      const { progress: _progress, ...rest } = meta;
      const bytes = encodeCheckpoint({ meta: weightsOnly ? rest : meta, state, momentum }, model.shapes(), dtype === 'f16' ? 'F16' : 'F32');
      return Comlink.transfer(bytes, [bytes.buffer as ArrayBuffer]);
    });
  }

  export(options: ExportOptions): Promise<Uint8Array> {
    return this.serial(async () => {
      const { model, meta } = this.requireModel('export');
      if (!options || typeof options !== 'object') throw new TypeError("export: expected options such as { format: 'onnx' }");
      const bytes = exportCheckpoint({ meta, state: await model.readState(), momentum: null }, options);
      return Comlink.transfer(bytes, [bytes.buffer as ArrayBuffer]);
    });
  }

  train(dataset: DatasetInput, options: TrainOptions = {}, onProgress?: (e: TrainEvent) => unknown, callId?: number): Promise<TrainResult> {
    // A cancel() sent before this call is queued behind nothing it could stop: start clean.
    return this.cancellable('train', callId, async (token) => {
      this.cancelRequested = false;
      const pending: Promise<unknown>[] = [];
      const emit = (e: TrainEvent) => {
        if (!onProgress) return;
        // Not awaited: the next step starts while the event travels; errors in the callback don't stop training.
        pending.push(Promise.resolve().then(() => onProgress(e)).catch(() => undefined));
      };
      try {
        return await this.trainNow(dataset, options, emit, token);
      } finally {
        await Promise.all(pending);
        (onProgress as Partial<Comlink.Remote<unknown>> | undefined)?.[Comlink.releaseProxy]?.();
      }
    });
  }

  predict(image: { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels?: 3 | 4 }, options: PredictOptions = {},
    callId?: number, onProgress?: (p: WorkProgress) => unknown): Promise<Prediction> {
    return this.cancellable('predict', callId, async (token) => {
      const { model, meta } = this.requireModel('predict');
      const channels = imageChannels(image, 'predict: image');
      const alpha = options.alpha ?? 0.5;
      if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`predict: alpha must be in [0, 1], got ${alpha}`);
      const { width: W, height: H } = image;
      const pixels = bytesOf(image.data);
      this.pre ??= await Preprocessor.create();
      const progress = progressSink(onProgress);
      let classes: Uint8Array;
      try {
        classes = await predictClasses(model, normalizeImage(pixels, H, W, channels, meta, this.pre), H, W, {
          tile: options.tile, overlap: options.overlap, shouldStop: () => token.cancelled, onTile: (done, total) => progress.emit({ done, total }),
        });
      } finally {
        await progress.flush();
      }
      const colors = colorize(classes, meta.colormap, 4);
      const overlay = this.pre.overlay(pixels, channels, colors, alpha);
      const out: Prediction = { width: W, height: H, classes, colors, overlay };
      return Comlink.transfer(out, [classes.buffer, colors.buffer, overlay.buffer] as ArrayBuffer[]);
    });
  }

  segmentFrames(frames: RgbaFrames): Promise<FrameClasses> {
    return this.serial(async () => {
      const { model, meta } = this.requireModel('segmentFrames');
      if (!frames || typeof frames !== 'object' || !frames.data || typeof frames.data.byteLength !== 'number') {
        throw new TypeError('segmentFrames: frames must be { data, width, height, count } with RGBA bytes');
      }
      const { width: W, height: H, count: N } = frames;
      if (![W, H, N].every((v) => Number.isInteger(v) && v >= 1)) {
        throw new RangeError(`segmentFrames: width ${W}, height ${H} and count ${N} must be positive integers`);
      }
      const classes = await predictFrames(model, bytesOf(frames.data), N, H, W, meta);
      return Comlink.transfer({ width: W, height: H, count: N, classes }, [classes.buffer as ArrayBuffer]);
    });
  }

  /** One image with the outputs asked for (src/api/segment-worker.ts). */
  segment(input: SegmentInput, options: { outputs?: unknown; alpha?: unknown } = {}, callId?: number): Promise<SegmentReply> {
    // One pass through the network: a cancelled call stops before it, not inside it.
    return this.cancellable('segment', callId, async () => {
      const req = segmentRequest(options);
      const { model, meta } = this.requireModel('segment');
      const reply = await runSegment(model, meta, async () => (this.pre ??= await Preprocessor.create()), input, req);
      const bufs = [reply.classes, reply.confidence, reply.overlay].filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer);
      return Comlink.transfer(reply, [...new Set(bufs)]);
    });
  }

  /**
   * Plans segment() for one H × W image and runs it once on a blank image, so every pipeline is
   * compiled (SwiftShader and some drivers compile for seconds on first use); `onProgress` gets
   * (compiled so far, started so far) as pipelines finish.
   */
  warmup(size: { width: number; height: number }, onProgress?: (done: number, started: number) => unknown): Promise<{ pipelines: number; seconds: number }> {
    return this.serial(async () => {
      const { model, meta } = this.requireModel('warmup');
      const W = checkInt('warmup: width', size?.width, 1, 8192);
      const H = checkInt('warmup: height', size?.height, 1, 8192);
      const t0 = performance.now();
      let [started, done] = [0, 0];
      const pending: Promise<unknown>[] = [];
      if (model.backend === 'webgpu') onCompile(model.gpu, (_name, finished) => {
        started++;
        pending.push(finished.then(() => {
          done++;
          return onProgress?.(done, started);
        }, () => undefined));
      });
      try {
        await segmentImage(model, { data: new Uint8Array(H * W * 4) }, H, W, { category: true, confidence: true }, meta);
      } finally {
        if (model.backend === 'webgpu') onCompile(model.gpu, null);
        await Promise.all(pending).catch(() => undefined);
        (onProgress as Partial<Comlink.Remote<unknown>> | undefined)?.[Comlink.releaseProxy]?.();
      }
      return { pipelines: started, seconds: (performance.now() - t0) / 1000 };
    });
  }

  /** Frees the model's plans (activations per input size), keeping the weights. */
  releaseCaches(): Promise<void> {
    return this.serial(async () => {
      await this.model?.releasePlans();
    });
  }

  /** How many plans stay between calls (least recently used dropped first). */
  setMaxPlans(n: number): Promise<void> {
    this.maxPlans = checkInt('maxPlans', n, 1, 64);
    return Promise.resolve();
  }

  evaluate(dataset: DatasetInput, options: EvaluateOptions = {}, callId?: number, onProgress?: (p: WorkProgress) => unknown): Promise<EvaluateResult> {
    return this.cancellable('evaluate', callId, async (token) => {
      const { model, meta } = this.requireModel('evaluate');
      const K = model.config.classes;
      const t0 = performance.now();
      let samples: () => Iterable<{ image: Float32Array; labels: ArrayLike<number>; height: number; width: number }>;
      let total: number;
      if (isMemoryDataset(dataset)) {
        // Validates sizes and class ids; the copy into WebAssembly memory is not needed here.
        new MemoryDataset(await Preprocessor.create(), dataset, K);
        total = dataset.images.length;
        samples = function* () {
          for (let i = 0; i < dataset.images.length; i++) {
            const img = dataset.images[i]!;
            const c = imageChannels(img, `evaluate[${i}]`);
            yield { image: normalizeImage(bytesOf(img.data), img.height, img.width, c, meta), labels: dataset.labels[i]!, height: img.height, width: img.width };
          }
        };
      } else {
        const ds = await this.openPath(dataset, 'val', { classes: K, preprocessor: await Preprocessor.create() });
        total = ds.length;
        samples = function* () {
          for (let i = 0; i < ds.length; i++) {
            const s = ds.sample(i);
            yield { image: normalizeImage(s.image, s.height, s.width, s.channels, meta), labels: s.label, height: s.height, width: s.width };
          }
        };
      }
      const progress = progressSink(onProgress);
      let r: Awaited<ReturnType<typeof evaluateWholeImages>>;
      try {
        r = await evaluateWholeImages(model, samples(), {
          tile: options.tile, overlap: options.overlap, total, shouldStop: () => token.cancelled, onImage: (done) => progress.emit({ done, total }),
        });
      } finally {
        await progress.flush();
      }
      return { ...r, classNames: meta.classNames.slice(), seconds: (performance.now() - t0) / 1000 };
    });
  }

  /**
   * The chapter's bilinear upsampling: a transposed convolution with kernel 2s, stride s, padding
   * s/2 and bilinear_kernel(3, 3, 2s) weights, on the GPU; needs no model.
   */
  upsample(image: ImageInput, scale = 2): Promise<RgbaImage> {
    return this.serial(async () => {
      const compute = this.requireCompute();
      const C = imageChannels(image, 'upsample: image');
      const s = prefixed('upsample', () => checkUpsampleScale(scale));
      const { data, width, height } = await upsampleImage(compute, { data: bytesOf(image.data), height: image.height, width: image.width, channels: C }, s);
      return Comlink.transfer({ data, width, height }, [data.buffer]);
    });
  }

  /**
   * Without an id: asks a running train() to stop before its next step. With the id a call was
   * sent with: stops that call (before it starts, or at its next check); unknown ids (calls that
   * have finished) are ignored.
   */
  cancel(callId?: number): Promise<void> {
    if (callId === undefined) this.cancelRequested = true;
    else {
      const token = this.calls.get(callId);
      if (token) token.cancelled = true;
    }
    return Promise.resolve();
  }

  /** Stops training, waits for queued calls, frees the model and the device. */
  dispose(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    this.cancelRequested = true;
    const done = this.tail.then(async () => {
      this.disposed = true;
      await this.model?.dispose().catch(() => undefined);
      this.model = null;
      this.compute?.dispose();
      this.compute = null;
      this.pre = null;
    });
    this.tail = done.catch(() => undefined);
    return done;
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * serial() for a call its caller may cancel on its own: `callId` (undefined: not cancellable
   * this way) is known from the moment the call arrives, so a cancel(callId) sent after the call
   * finds it however long it waits in the queue (messages from one caller arrive in order). A call
   * cancelled before it starts rejects without running; `fn` reads `token.cancelled` between its
   * units of work, and a PredictionCancelled it throws becomes the same AbortError.
   */
  private cancellable<T>(op: string, callId: number | undefined, fn: (token: CallToken) => Promise<T>): Promise<T> {
    const token: CallToken = { cancelled: false };
    const id = Number.isSafeInteger(callId) ? callId! : undefined;
    if (id !== undefined) this.calls.set(id, token);
    const run = this.serial(async () => {
      if (token.cancelled) throw new EngineError('ABORTED', `${op}: aborted before it started`);
      try {
        return await fn(token);
      } catch (e) {
        if (e instanceof PredictionCancelled) throw new EngineError('ABORTED', `${op}: aborted (${e.message})`);
        throw e;
      }
    });
    if (id === undefined) return run;
    return run.finally(() => {
      if (this.calls.get(id) === token) this.calls.delete(id);
    });
  }

  /** Runs fn after every earlier call has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(async () => {
      if (this.disposed) throw new Error('the engine has been disposed');
      try {
        return await fn();
      } finally {
        // Between calls, never during one: a call may hold several plans at once.
        await this.model?.trimPlans(this.maxPlans).catch(() => undefined);
      }
    });
    this.tail = p.catch(() => undefined);
    return p;
  }

  private requireCompute(): Compute {
    if (!this.compute) throw new Error('the engine has no compute backend (init() was not called or failed)');
    return this.compute;
  }

  private requireModel(op: string): { model: Model; meta: CheckpointMeta } {
    if (!this.model || !this.meta) throw new Error(`${op}: there is no model yet; call build() or load() first`);
    return { model: this.model, meta: this.meta };
  }

  private async replaceModel(model: Model, meta: CheckpointMeta, history: EpochMetrics[], options: ModelOptions): Promise<void> {
    const old = this.model;
    this.model = model;
    this.meta = meta;
    this.modelOptions = options;
    this.history = history.slice();
    await old?.dispose();
  }

  private modelInfo(): ModelInfo | null {
    const { model, meta } = this;
    if (!model || !meta) return null;
    return {
      classes: model.config.classes,
      head: model.config.head,
      parameters: model.store.parameterCount,
      classNames: meta.classNames.slice(),
      colormap: meta.colormap.map((c) => [c[0], c[1], c[2]]),
      mean: [...meta.mean],
      std: [...meta.std],
      epochs: this.history.length,
    };
  }

  private infoNow(): EngineInfo {
    const c = this.requireCompute();
    const memory = c.backend === 'webgpu' ? c.gpu.stats() : { liveBuffers: 0, liveBytes: c.rt.arena.top };
    return { backend: c.backend, compute: c.report, adapter: c.report.adapter ?? null, model: this.modelInfo(), memory };
  }

  private async openPath(d: string | { path: string; split?: string }, defaultSplit: string,
    opts: { crop?: [number, number]; classes: number; preprocessor: Preprocessor }): Promise<SegDataset> {
    const { path, split } = typeof d === 'string' ? { path: d, split: defaultSplit } : { path: d.path, split: d.split ?? defaultSplit };
    if (typeof path !== 'string') throw new TypeError('a dataset is a folder path, { path, split } or { images, labels }');
    if (!this.host.openPath) {
      throw new Error(`dataset '${path}': dataset paths need a file system (Node); in a browser pass { images, labels } instead`);
    }
    return this.host.openPath(path, split, opts);
  }

  /** A dataset for training (or per-epoch validation) with every sample at least `crop` big. */
  private async openForTraining(d: DatasetInput, split: string, crop: [number, number], K: number, pre: Preprocessor): Promise<{ source: SegDataset; classNames: readonly string[] }> {
    if (isMemoryDataset(d)) {
      const m = new MemoryDataset(pre, d, K, crop);
      return { source: m.asSegDataset(), classNames: d.classNames ? m.classNames : [] };
    }
    const ds = await this.openPath(d, split, { crop, classes: K, preprocessor: pre });
    return { source: ds, classNames: ds.classNames };
  }

  private async trainNow(dataset: DatasetInput, o: TrainOptions, emit: (e: TrainEvent) => void, token: CallToken): Promise<TrainResult> {
    const { model, meta } = this.requireModel('train');
    const K = model.config.classes;
    if (!o || typeof o !== 'object') throw new TypeError('train: options must be an object');
    const t = prefixed('train', () => trainingOptions(o));
    const { epochs, batchSize, crop, optimizer, schedule, seed } = t;
    // The run's record: the model's recipe with this call's training options (its seed included).
    const options: RunOptions = { ...this.modelOptions!, ...t, pretrained: null };

    // A fresh Preprocessor per run: its WebAssembly memory (decoded samples) goes when the run ends.
    const pre = await Preprocessor.create();
    const train = await this.openForTraining(dataset, 'train', crop, K, pre);
    const val = o.validation !== undefined ? await this.openForTraining(o.validation, 'val', crop, K, pre) : null;
    const trainLoader = new DataLoader(train.source, { batchSize, crop, seed });
    const testLoader = val ? new DataLoader(val.source, { batchSize: Math.min(batchSize, val.source.length), crop, seed, shuffle: false }) : null;
    if (train.classNames.length === K) meta.classNames = train.classNames.slice();

    const t0 = performance.now();
    let steps = 0;
    let cancelled = false;
    const history: EpochMetrics[] = [];
    try {
      await fit(model, trainLoader, testLoader, {
        epochs,
        optimizer,
        schedule,
        memoryBudget: memoryBudget(t),
        shouldStop: () => this.cancelRequested || token.cancelled,
        onProgress: (p) => {
          steps++;
          emit({ type: 'step', ...p });
        },
        onEpoch: (m) => {
          history.push(m);
          this.history.push(m);
          meta.progress = runProgress(options, this.history.length, steps, this.history);
          emit({ type: 'epoch', ...m });
        },
      });
    } catch (e) {
      if (!(e instanceof TrainingCancelled)) throw e;
      cancelled = true;
    } finally {
      this.cancelRequested = false;
    }
    return { history, cancelled, steps, seconds: (performance.now() - t0) / 1000 };
  }
}
