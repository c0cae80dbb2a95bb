// createEngine(): the engine in a worker (a worker thread in Node, a module Web Worker in
// browsers) behind Comlink, so training and prediction never block the caller's thread.
//
// What crosses the boundary: pixel buffers, labels and model bytes are transferred (moved, not
// copied; the caller's arrays are detached afterwards, so pass a copy to keep one), as are the
// results coming back. Progress callbacks are Comlink proxies: events arrive in order while
// training runs. Errors thrown in the worker reject the call with an Error carrying the worker
// error's name, message and stack. If the worker dies (crash, uncaught error), every pending and
// later call rejects with that reason instead of hanging.
//
// Usage (Node or browser, TypeScript or plain JavaScript):
//   const engine = await createEngine();
//   await engine.build({ classes: 5 });
//   await engine.train(dataset, { epochs: 2, batchSize: 4, crop: [64, 64] }, (e) => console.log(e));
//   const { classes, colors, overlay } = await engine.predict({ data: rgba, width, height });
//   await engine.dispose(); // frees the GPU and ends the worker; a Node process can then exit
import * as Comlink from 'comlink';
import { EngineError, installErrorHandler } from './errors.js';
import { fetchModelBytes, urlName } from './model-source.js';
import { installTransferHandlers, startWorker } from './platform.js';
import type { SegmentReply } from './segment-worker.js';
import type { EngineService } from './service.js';
import { dropSegmentInput, toSegmentInput } from './sources.js';
import type {
  BuildOptions, DatasetInput, Engine, EngineInfo, EngineOptions, EvaluateOptions, EvaluateResult, ExportOptions, ImageInput, ImageSource, LoadModelOptions,
  LoadResult, MemoryDatasetInput, ModelInfo, FrameClasses, Prediction, PredictOptions, RgbaFrames, RgbaImage, SaveOptions, SegmentOptions,
  SegmentResult, TrainEvent, TrainOptions, TrainResult, WarmupOptions, WorkProgress,
} from './types.js';

/** The options without `signal` and `onProgress` (an AbortSignal or a function cannot be cloned to the worker). */
function withoutSignal<T extends { signal?: AbortSignal; onProgress?: unknown }>(o: T): Omit<T, 'signal' | 'onProgress'> {
  const { signal: _signal, onProgress: _onProgress, ...rest } = o;
  return rest;
}

function abortError(what: string, signal: AbortSignal): EngineError {
  const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new EngineError('ABORTED', `${what}: aborted${why}`, { cause: signal.reason });
}

/**
 * `run()`, rejected with an AbortError as soon as `signal` fires (`onAbort` tells the worker,
 * where it can stop early); without a signal, just `run()`.
 */
function abortable<T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>, onAbort?: () => void): Promise<T> {
  if (!signal) return run();
  if (signal.aborted) return Promise.reject(abortError(what, signal));
  return new Promise<T>((resolve, reject) => {
    const stop = () => {
      onAbort?.();
      reject(abortError(what, signal));
    };
    signal.addEventListener('abort', stop, { once: true });
    run().then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** The public result from the worker's reply: confidence (K, H, W) split into one view per class. */
function segmentResult(r: SegmentReply, timestampMs?: number): SegmentResult {
  const out: SegmentResult = { width: r.width, height: r.height, classNames: r.classNames };
  if (timestampMs !== undefined) out.timestampMs = timestampMs;
  if (r.classes) out.categoryMask = r.classes;
  if (r.confidence) {
    const hw = r.width * r.height;
    const K = r.confidence.length / hw;
    out.confidenceMasks = Array.from({ length: K }, (_, k) => r.confidence!.subarray(k * hw, (k + 1) * hw));
  }
  if (r.overlay) out.overlay = new Uint8ClampedArray(r.overlay.buffer as ArrayBuffer, r.overlay.byteOffset, r.overlay.byteLength);
  return out;
}

/**
 * A typed array's bytes ready to transfer: the array itself when it spans its whole ArrayBuffer,
 * otherwise a compact copy (transferring a view's buffer would move bytes that are not its own,
 * such as Node's shared Buffer pool).
 */
function movable<T extends Uint8Array | Uint8ClampedArray>(a: T): T {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
  return whole ? a : (a.slice() as T);
}

/** The image with its pixels ready to transfer, and the buffers to transfer. */
function movableImage(img: ImageInput): [ImageInput, ArrayBuffer[]] {
  if (!img || typeof img !== 'object' || !img.data || typeof img.data.byteLength !== 'number') return [img, []];
  const data = movable(img.data);
  return [{ data, width: img.width, height: img.height, ...(img.channels !== undefined ? { channels: img.channels } : {}) }, [data.buffer as ArrayBuffer]];
}

function movableDataset(d: DatasetInput | undefined): [DatasetInput | undefined, ArrayBuffer[]] {
  if (!d || typeof d !== 'object' || !('images' in d)) return [d, []];
  const m = d as MemoryDatasetInput;
  if (!Array.isArray(m.images) || !Array.isArray(m.labels)) return [d, []];
  const buffers: ArrayBuffer[] = [];
  const images = m.images.map((img) => {
    const [moved, bufs] = movableImage(img);
    buffers.push(...bufs);
    return moved;
  });
  const labels = m.labels.map((l) => {
    if (!(l instanceof Uint8Array)) return l;
    const moved = movable(l);
    buffers.push(moved.buffer as ArrayBuffer);
    return moved;
  });
  // The same buffer listed twice is a DataCloneError: images sharing one buffer go once.
  return [{ ...m, images, labels }, [...new Set(buffers)]];
}

/**
 * Starts an engine worker and acquires its GPU. Rejects (and ends the worker) when there is no
 * usable adapter. Call `dispose()` when done.
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  installTransferHandlers();
  installErrorHandler();
  let handle: ReturnType<typeof startWorker>;
  try {
    handle = startWorker(options.workerUrl);
  } catch (e) {
    throw new EngineError('WORKER_FAILED', `createEngine: could not start the engine worker: ${(e as Error).message}`, { cause: e });
  }
  const remote = Comlink.wrap<EngineService>(handle.endpoint);
  let disposed = false;
  let failure: Error | null = null;
  const failed = new Promise<never>((_, reject) => {
    handle.onFailure((err) => {
      failure = new EngineError('WORKER_FAILED', err.message, { cause: err });
      reject(failure);
    });
  });
  failed.catch(() => undefined);

  /** The call's result, or the worker's failure if it dies first. */
  const call = <T>(what: string, f: () => Promise<T>): Promise<T> => {
    if (disposed) return Promise.reject(new EngineError('DISPOSED', `${what}: the engine has been disposed`));
    if (failure) return Promise.reject(failure);
    return Promise.race([f(), failed]);
  };

  /**
   * A call that `signal` can cancel: it gets an id of its own, sent with it, and an abort tells
   * the worker cancel(id), which stops that call only (before it starts, or at its next check)
   * and leaves the others, a running train() included, alone. Without a signal: `run()`.
   */
  let lastCallId = 0;
  const cancellable = <T>(what: string, signal: AbortSignal | undefined, run: (callId?: number) => Promise<T>): Promise<T> => {
    if (!signal) return run();
    const id = ++lastCallId;
    return abortable(what, signal, () => run(id), () => {
      if (!disposed && !failure) void remote.cancel(id).catch(() => undefined);
    });
  };

  try {
    await call('createEngine', () => remote.init({ backend: options.backend, adapter: options.adapter, threads: options.threads, requireCore: options.requireCore }));
    if (options.maxPlans !== undefined) await call('createEngine', () => remote.setMaxPlans(options.maxPlans!));
  } catch (e) {
    await handle.terminate();
    throw e;
  }

  interface VideoJob {
    input: Promise<[import('./segment-worker.js').SegmentInput, Transferable[]]>;
    timestampMs: number;
    options: SegmentOptions;
    resolve: (r: SegmentResult | null) => void;
    reject: (e: unknown) => void;
  }
  /** Video mode: at most one frame in the worker and one waiting (the newest). */
  const video = { last: -Infinity, busy: false, pending: null as VideoJob | null };
  const runVideo = (job: VideoJob): void => {
    video.busy = true;
    job.input
      .then(([input, transfers]) => call<SegmentReply>('segmentForVideo', () => remote.segment(Comlink.transfer(input, transfers), job.options)))
      .then((r) => job.resolve(segmentResult(r, job.timestampMs)), job.reject)
      .finally(() => {
        video.busy = false;
        const next = video.pending;
        video.pending = null;
        if (next) runVideo(next);
      });
  };

  const engine: Engine = {
    info: () => call<EngineInfo>('info', () => remote.info()),
    build: async (o: BuildOptions) => {
      let backbone = o?.backbone;
      if (typeof backbone === 'string' || backbone instanceof URL) backbone = (await fetchModelBytes(backbone, { what: 'build: backbone' })).bytes;
      if (!(backbone instanceof Uint8Array)) return call<ModelInfo>('build', () => remote.build(o));
      const b = movable(backbone);
      return call<ModelInfo>('build', () => remote.build(Comlink.transfer({ ...o, backbone: b }, [b.buffer as ArrayBuffer])));
    },
    load: (bytes: Uint8Array, name = 'model') => {
      if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError(`load: expected the file's bytes as a Uint8Array, got ${typeof bytes}`));
      const b = movable(bytes);
      return call<LoadResult>('load', () => remote.load(Comlink.transfer(b, [b.buffer as ArrayBuffer]), name));
    },
    save: (o: SaveOptions = {}) => call<Uint8Array>('save', () => remote.save(o)),
    export: (o: ExportOptions) => call<Uint8Array>('export', () => remote.export(o)),
    train: (dataset: DatasetInput, o: TrainOptions = {}, onProgress?: (event: TrainEvent) => void) => {
      const [d, bufs] = movableDataset(dataset);
      const [v, vbufs] = movableDataset(o.validation);
      const opts = withoutSignal(o.validation !== undefined ? { ...o, validation: v } : { ...o });
      const cb = onProgress ? Comlink.proxy((e: TrainEvent) => onProgress(e)) : undefined;
      // Transfer lists attach to an object argument; the options object is always one.
      const transfers = [...new Set([...bufs, ...vbufs])];
      return cancellable('train', o.signal, (id) => call<TrainResult>('train', () => remote.train(d!, Comlink.transfer(opts, transfers), cb, id)));
    },
    predict: (image: ImageInput, o: PredictOptions = {}) => {
      const [img, bufs] = movableImage(image);
      const cb = o.onProgress ? Comlink.proxy((p: WorkProgress) => o.onProgress!(p)) : undefined;
      return cancellable('predict', o.signal, (id) => call<Prediction>('predict', () => remote.predict(Comlink.transfer(img, bufs), withoutSignal(o), id, cb)));
    },
    segmentFrames: (frames: RgbaFrames) => {
      const ok = frames && typeof frames === 'object' && frames.data && typeof frames.data.byteLength === 'number';
      const data = ok ? movable(frames.data) : undefined;
      const moved = ok ? { data: data!, width: frames.width, height: frames.height, count: frames.count } : frames;
      return call<FrameClasses>('segmentFrames', () => remote.segmentFrames(Comlink.transfer(moved, data ? [data.buffer as ArrayBuffer] : [])));
    },
    evaluate: (dataset: DatasetInput, o: EvaluateOptions = {}) => {
      const [d, bufs] = movableDataset(dataset);
      const cb = o.onProgress ? Comlink.proxy((p: WorkProgress) => o.onProgress!(p)) : undefined;
      return cancellable('evaluate', o.signal, (id) => call<EvaluateResult>('evaluate', () => remote.evaluate(d!, Comlink.transfer(withoutSignal(o), bufs), id, cb)));
    },
    upsample: (image: ImageInput, scale = 2) => {
      const [img, bufs] = movableImage(image);
      return call<RgbaImage>('upsample', () => remote.upsample(Comlink.transfer(img, bufs), scale));
    },
    segment: (source: ImageSource, o: SegmentOptions = {}) =>
      cancellable('segment', o.signal, async (id) => {
        const [input, transfers] = await toSegmentInput(source);
        // Aborted while the source was read: the worker never hears of this call (its cancel went first).
        if (o.signal?.aborted) {
          dropSegmentInput(input);
          throw abortError('segment', o.signal);
        }
        const reply = await call<SegmentReply>('segment', () => remote.segment(Comlink.transfer(input, transfers), withoutSignal(o), id));
        return segmentResult(reply);
      }),
    segmentForVideo: (source: ImageSource, timestampMs: number, o: Omit<SegmentOptions, 'signal'> = {}) => {
      if (!(typeof timestampMs === 'number' && Number.isFinite(timestampMs) && timestampMs > video.last)) {
        return Promise.reject(new RangeError(`segmentForVideo: timestamps must increase; got ${timestampMs} after ${video.last}`));
      }
      video.last = timestampMs;
      // Captured now: the video's current frame, not whatever it shows when the worker is free.
      const input = toSegmentInput(source);
      input.catch(() => undefined);
      return new Promise<SegmentResult | null>((resolve, reject) => {
        const job: VideoJob = { input, timestampMs, options: withoutSignal(o as SegmentOptions), resolve, reject };
        if (!video.busy) return runVideo(job);
        if (video.pending) {
          const dropped = video.pending;
          dropped.input.then(([i]) => dropSegmentInput(i), () => undefined);
          dropped.resolve(null);
        }
        video.pending = job;
      });
    },
    loadModel: async (src: string | URL | Uint8Array, o: LoadModelOptions = {}) => {
      const name = o.name ?? (src instanceof Uint8Array ? 'model' : urlName(src));
      const bytes = src instanceof Uint8Array ? src : (await fetchModelBytes(src, { cache: o.cache, onProgress: o.onProgress, signal: o.signal })).bytes;
      o.onProgress?.({ phase: 'decode', loaded: bytes.length, total: bytes.length });
      const loaded = await abortable('loadModel', o.signal, () => engine.load(bytes, name));
      if (o.warmup) await engine.warmup({ height: o.warmup[0], width: o.warmup[1], onProgress: o.onProgress });
      return loaded;
    },
    warmup: (o: WarmupOptions) => {
      const cb = o?.onProgress ? Comlink.proxy((done: number, started: number) => o.onProgress!({ phase: 'compile', loaded: done, total: started })) : undefined;
      return call<{ pipelines: number; seconds: number }>('warmup', () => remote.warmup({ width: o?.width, height: o?.height }, cb));
    },
    releaseCaches: () => call<void>('releaseCaches', () => remote.releaseCaches()),
    cancel: () => call<void>('cancel', () => remote.cancel()),
    dispose: async () => {
      if (disposed) return;
      try {
        if (!failure) await Promise.race([remote.dispose(), failed]).catch(() => undefined);
      } finally {
        disposed = true;
        remote[Comlink.releaseProxy]();
        await handle.terminate();
      }
    },
  };
  return engine;
}
