// The worker's side of segment(): one image in (RGBA bytes, or an ImageBitmap copied to the GPU
// directly where the device can), the outputs asked for back. Kept apart from service.ts so the
// service only dispatches to it.
import type { CheckpointMeta } from '../fcn/checkpoint.js';
import type { Model } from '../fcn/backend.js';
import { canCopyExternal, segmentImage, type SegmentSource } from '../fcn/segment.js';
import { colorize } from '../data/colormap.js';
import { Preprocessor } from '../data/preprocess.js';
import type { ImageInput, SegmentOutputKind } from './types.js';
import { imageChannels, bytesOf } from './memory-dataset.js';

/** What crosses to the worker for one image. */
export type SegmentInput = { pixels: ImageInput } | { bitmap: ImageBitmap };

export interface SegmentRequest {
  outputs: SegmentOutputKind[];
  alpha: number;
}

/** What comes back: (height, width) row-major; confidence (K, height, width). */
export interface SegmentReply {
  width: number;
  height: number;
  classes?: Uint8Array;
  confidence?: Float32Array;
  overlay?: Uint8Array;
  classNames: string[];
}

const KINDS: readonly SegmentOutputKind[] = ['category', 'confidence', 'overlay'];

/** Checks segment()'s options (before any GPU work); the defaults filled in. */
export function segmentRequest(o: { outputs?: unknown; alpha?: unknown } = {}): SegmentRequest {
  const outputs = (o.outputs ?? ['category']) as SegmentOutputKind[];
  if (!Array.isArray(outputs) || outputs.length === 0 || !outputs.every((k) => KINDS.includes(k))) {
    throw new RangeError(`segment: outputs must be a non-empty list of ${KINDS.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(o.outputs)}`);
  }
  const alpha = (o.alpha ?? 0.5) as number;
  if (!(typeof alpha === 'number' && alpha >= 0 && alpha <= 1)) throw new RangeError(`segment: alpha must be in [0, 1], got ${String(o.alpha)}`);
  return { outputs: [...new Set(outputs)], alpha };
}

/** RGBA bytes (H, W, 4) of 3- or 4-channel pixels. */
function rgbaOf(img: ImageInput): Uint8Array {
  const c = imageChannels(img, 'segment: image');
  const px = bytesOf(img.data);
  if (c === 4) return px;
  const out = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    out[4 * i] = px[3 * i]!;
    out[4 * i + 1] = px[3 * i + 1]!;
    out[4 * i + 2] = px[3 * i + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** An ImageBitmap's RGBA bytes through an OffscreenCanvas (devices without copyExternalImageToTexture). */
function bitmapPixels(b: ImageBitmap): Uint8Array {
  const canvas = new OffscreenCanvas(b.width, b.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('segment: no 2D context to read the image (OffscreenCanvas)');
  ctx.drawImage(b, 0, 0);
  const d = ctx.getImageData(0, 0, b.width, b.height).data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Runs segment() in the worker; `pre` gives the overlay kernel. */
export async function runSegment(
  model: Model, meta: CheckpointMeta, pre: () => Promise<Preprocessor>, input: SegmentInput, req: SegmentRequest,
): Promise<SegmentReply> {
  if (!input || typeof input !== 'object' || !('pixels' in input || 'bitmap' in input)) {
    throw new TypeError('segment: expected an image source');
  }
  let source: SegmentSource;
  let W: number;
  let H: number;
  if ('bitmap' in input) {
    const b = input.bitmap;
    [W, H] = [b.width, b.height];
    source = model.backend === 'webgpu' && canCopyExternal(model.gpu) ? { external: b } : { data: bitmapPixels(b) };
  } else {
    const img = input.pixels;
    [W, H] = [img?.width, img?.height];
    source = { data: rgbaOf(img) };
  }
  try {
    if (!(W >= 1 && H >= 1)) throw new RangeError(`segment: the image is ${W}x${H}; it needs at least one pixel (is it loaded?)`);
    const overlay = req.outputs.includes('overlay');
    const out = await segmentImage(model, source, H, W, {
      category: overlay || req.outputs.includes('category'),
      confidence: req.outputs.includes('confidence'),
      pixels: overlay && !('data' in source),
    }, meta);
    const reply: SegmentReply = { width: W, height: H, classNames: meta.classNames.slice() };
    if (req.outputs.includes('category')) reply.classes = out.category;
    if (out.confidence) reply.confidence = out.confidence;
    if (overlay) {
      const colors = colorize(out.category!, meta.colormap, 4);
      reply.overlay = (await pre()).overlay('data' in source ? source.data : out.pixels!, 4, colors, req.alpha);
    }
    return reply;
  } finally {
    if ('bitmap' in input) input.bitmap.close();
  }
}
