// Image sources on the caller's thread: DOM images, videos, canvases, VideoFrames and ImageBitmaps
// become an ImageBitmap (transferred to the worker, which copies it to the GPU); ImageData and
// { data, width, height } are copied, so the caller's pixels are never detached.
import { EngineError } from './errors.js';
import type { SegmentInput } from './segment-worker.js';
import type { ImageInput, ImageSource } from './types.js';

const has = (name: string) => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isA = (v: unknown, name: string) => has(name) && v instanceof ((globalThis as Record<string, unknown>)[name] as new () => object);

function isPixels(v: unknown): v is ImageInput | ImageData {
  const o = v as { data?: unknown; width?: unknown; height?: unknown } | null;
  return !!o && typeof o === 'object' && (o.data instanceof Uint8Array || o.data instanceof Uint8ClampedArray) &&
    typeof o.width === 'number' && typeof o.height === 'number';
}

/** segment()'s input for the worker, and what to transfer with it. */
export async function toSegmentInput(source: ImageSource): Promise<[SegmentInput, Transferable[]]> {
  if (isPixels(source)) {
    const data = new Uint8Array(source.data); // a copy: the caller keeps its pixels
    const channels = 'channels' in source ? source.channels : undefined;
    return [{ pixels: { data, width: source.width, height: source.height, ...(channels !== undefined ? { channels } : {}) } }, [data.buffer]];
  }
  if (typeof createImageBitmap !== 'function') {
    throw new TypeError('segment: this environment has no createImageBitmap; pass { data, width, height } RGBA pixels');
  }
  if (isA(source, 'HTMLImageElement')) {
    const img = source as HTMLImageElement;
    if (!img.complete || img.naturalWidth === 0) await img.decode();
  } else if (isA(source, 'HTMLVideoElement')) {
    const v = source as HTMLVideoElement;
    // HAVE_CURRENT_DATA: a frame to copy exists.
    if (v.readyState < 2) throw new EngineError('INVALID_ARGUMENT', 'segment: the video has no current frame yet (wait for loadeddata)');
  } else if (!['ImageBitmap', 'VideoFrame', 'OffscreenCanvas', 'HTMLCanvasElement'].some((n) => isA(source, n))) {
    throw new TypeError('segment: expected an ImageBitmap, ImageData, VideoFrame, OffscreenCanvas, <img>, <video>, <canvas> or { data, width, height }');
  }
  // A new bitmap (the caller's ImageBitmap / VideoFrame stays usable); pixels as stored, not premultiplied.
  const bitmap = await createImageBitmap(source as ImageBitmapSource, { premultiplyAlpha: 'none' });
  return [{ bitmap }, [bitmap]];
}

/** Releases what toSegmentInput made when the input is dropped before reaching the worker. */
export function dropSegmentInput(input: SegmentInput): void {
  if ('bitmap' in input) input.bitmap.close();
}
