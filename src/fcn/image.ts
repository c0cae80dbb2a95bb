// Image -> network input: 8-bit RGB(A) HWC to float32 (3, H, W), /255 then per-channel
// (x - mean) / std. The training path does this in WebAssembly (src/data); this host version
// serves prediction, where images arrive one at a time and the checkpoint may carry its own
// normalisation.
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/preprocess-ts.js';

/** Normalises (H, W, C) u8 pixels (C = 3 or 4) into a new (3, H, W) f32 array. */
export function normalizeImage(
  pixels: Uint8Array,
  height: number,
  width: number,
  channels: number,
  norm: { mean: readonly number[]; std: readonly number[] } = { mean: IMAGENET_MEAN, std: IMAGENET_STD },
): Float32Array {
  if (pixels.length < height * width * channels) throw new Error(`image has ${pixels.length} bytes, expected ${height}x${width}x${channels}`);
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * norm.std[c]!);
    const shift = norm.mean[c]! / norm.std[c]!;
    for (let i = 0; i < plane; i++) out[c * plane + i] = pixels[i * channels + c]! * scale - shift;
  }
  return out;
}
