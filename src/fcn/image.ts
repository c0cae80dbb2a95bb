// Image -> network input: 8-bit RGB(A) HWC to float32 (3, H, W), /255 then per-channel
// (x - mean) / std. With a Preprocessor and ImageNet statistics (every model webfcn trains) this
// runs in the WebAssembly kernel the training pipeline uses; a checkpoint with its own mean/std
// takes the plain-TypeScript path.
import type { Preprocessor } from '../data/preprocess.js';
import { IMAGENET, isImagenet, type Normalisation } from '../io/normalisation.js';

/** Normalises (H, W, C) u8 pixels (C = 3 or 4) into a new (3, H, W) f32 array. */
export function normalizeImage(
  pixels: Uint8Array,
  height: number,
  width: number,
  channels: number,
  norm: Normalisation = IMAGENET,
  pre?: Preprocessor,
): Float32Array {
  if (pixels.length < height * width * channels) throw new Error(`image has ${pixels.length} bytes, expected ${height}x${width}x${channels}`);
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  if (pre && isImagenet(norm) && (channels === 3 || channels === 4)) {
    pre.cropNormalize(pixels, height, width, channels, 0, 0, height, width, out, 0);
    return out;
  }
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * norm.std[c]!);
    const shift = norm.mean[c]! / norm.std[c]!;
    for (let i = 0; i < plane; i++) out[c * plane + i] = pixels[i * channels + c]! * scale - shift;
  }
  return out;
}
