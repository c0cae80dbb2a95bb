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
import { installTransferHandlers, startWorker } from './platform.js';
import type { EngineService } from './service.js';
import type {
  BuildOptions, DatasetInput, Engine, EngineInfo, EngineOptions, EvaluateOptions, EvaluateResult, ExportOptions, ImageInput, LoadResult,
  MemoryDatasetInput, ModelInfo, FrameClasses, Prediction, PredictOptions, RgbaFrames, RgbaImage, TrainEvent, TrainOptions, TrainResult,
} from './types.js';

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
  const handle = startWorker(options.workerUrl);
  const remote = Comlink.wrap<EngineService>(handle.endpoint);
  let disposed = false;
  let failure: Error | null = null;
  const failed = new Promise<never>((_, reject) => {
    handle.onFailure((err) => {
      failure = err;
      reject(err);
    });
  });
  failed.catch(() => undefined);

  /** The call's result, or the worker's failure if it dies first. */
  const call = <T>(what: string, f: () => Promise<T>): Promise<T> => {
    if (disposed) return Promise.reject(new Error(`${what}: the engine has been disposed`));
    if (failure) return Promise.reject(failure);
    return Promise.race([f(), failed]);
  };

  try {
    await call('createEngine', () => remote.init({ backend: options.backend, requireCore: options.requireCore }));
  } catch (e) {
    await handle.terminate();
    throw e;
  }

  const engine: Engine = {
    info: () => call<EngineInfo>('info', () => remote.info()),
    build: (o: BuildOptions) => call<ModelInfo>('build', () => remote.build(o)),
    load: (bytes: Uint8Array, name = 'model') => {
      if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError(`load: expected the file's bytes as a Uint8Array, got ${typeof bytes}`));
      const b = movable(bytes);
      return call<LoadResult>('load', () => remote.load(Comlink.transfer(b, [b.buffer as ArrayBuffer]), name));
    },
    save: () => call<Uint8Array>('save', () => remote.save()),
    export: (o: ExportOptions) => call<Uint8Array>('export', () => remote.export(o)),
    train: (dataset: DatasetInput, o: TrainOptions = {}, onProgress?: (event: TrainEvent) => void) => {
      const [d, bufs] = movableDataset(dataset);
      const [v, vbufs] = movableDataset(o.validation);
      const opts: TrainOptions = o.validation !== undefined ? { ...o, validation: v } : { ...o };
      const cb = onProgress ? Comlink.proxy((e: TrainEvent) => onProgress(e)) : undefined;
      // Transfer lists attach to an object argument; the options object is always one.
      const transfers = [...new Set([...bufs, ...vbufs])];
      return call<TrainResult>('train', () => remote.train(d!, Comlink.transfer(opts, transfers), cb));
    },
    predict: (image: ImageInput, o: PredictOptions = {}) => {
      const [img, bufs] = movableImage(image);
      return call<Prediction>('predict', () => remote.predict(Comlink.transfer(img, bufs), o));
    },
    segmentFrames: (frames: RgbaFrames) => {
      const ok = frames && typeof frames === 'object' && frames.data && typeof frames.data.byteLength === 'number';
      const data = ok ? movable(frames.data) : undefined;
      const moved = ok ? { data: data!, width: frames.width, height: frames.height, count: frames.count } : frames;
      return call<FrameClasses>('segmentFrames', () => remote.segmentFrames(Comlink.transfer(moved, data ? [data.buffer as ArrayBuffer] : [])));
    },
    evaluate: (dataset: DatasetInput, o: EvaluateOptions = {}) => {
      const [d, bufs] = movableDataset(dataset);
      return call<EvaluateResult>('evaluate', () => remote.evaluate(d!, Comlink.transfer({ ...o }, bufs)));
    },
    upsample: (image: ImageInput, scale = 2) => {
      const [img, bufs] = movableImage(image);
      return call<RgbaImage>('upsample', () => remote.upsample(Comlink.transfer(img, bufs), scale));
    },
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
