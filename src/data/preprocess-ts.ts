// Plain-TypeScript twins of the WebAssembly kernels (assembly/index.ts): the same signatures
// and the same arithmetic, used as the test oracle and the benchmark baseline, and as the
// fallback wherever WebAssembly is unavailable. Layouts: images HWC u8 (3 or 4 channels,
// alpha ignored), class-id maps HW u8, batches NCHW f32 / NHW u32.
import { type ColorTable, IGNORE_LABEL } from './colormap.js';
import { randInt } from './rng.js';
import { foldNormalisation, IMAGENET_MEAN, IMAGENET_STD } from '../io/normalisation.js';

const { scale: SCALE, bias: BIAS } = foldNormalisation(IMAGENET_MEAN, IMAGENET_STD);

/** The kernel set shared by the wasm Preprocessor and the TS twins. */
export interface PreprocessKernels {
  /** Fused crop + normalise: src (H, W, C) u8, window (y0, x0, ch, cw) → dst (N, 3, ch, cw) f32 at image `index`. */
  cropNormalize(src: Uint8Array, height: number, width: number, channels: number,
    y0: number, x0: number, ch: number, cw: number, dst: Float32Array, index: number): void;
  /** Crop of a class-id map into engine labels: src (H, W) u8 → dst (N, ch, cw) u32 at image `index`. */
  cropLabels(src: Uint8Array, height: number, width: number,
    y0: number, x0: number, ch: number, cw: number, dst: Uint32Array, index: number): void;
  /** Plain crop: src (H, W, C) u8 → (ch, cw, C) u8. */
  crop(src: Uint8Array, height: number, width: number, channels: number,
    y0: number, x0: number, ch: number, cw: number, dst?: Uint8Array): Uint8Array;
  /** Colour map → class ids: src (n, C) u8 → (n) u8 through `table`. */
  colorToClass(src: Uint8Array, channels: number, table: ColorTable, dst?: Uint8Array): Uint8Array;
  /** Class ids → RGBA: ids (n) u32 → (n, 4) u8, palette[min(id, 255)]. */
  classToColor(ids: Uint32Array, palette: Uint32Array, dst?: Uint8Array): Uint8Array;
  /** Blend: image (n, C) u8 and colours (n, 4) u8 → (n, 4) u8, image·(1−alpha) + colour·alpha. */
  overlay(image: Uint8Array, channels: number, colors: Uint8Array, alpha: number, dst?: Uint8Array): Uint8Array;
  /** Count of labels (n) u8 that are neither < k nor 255. */
  countInvalid(labels: Uint8Array, k: number): number;
}

/** Throws naming the op unless the crop window and buffers are in bounds. */
export function checkCrop(op: string, srcLen: number, height: number, width: number, channels: number,
  y0: number, x0: number, ch: number, cw: number): void {
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new Error(`${op}: channels ${channels}, expected 1, 3 or 4`);
  const ints = [height, width, y0, x0, ch, cw];
  if (ints.some((v) => !Number.isInteger(v) || v < 0) || ch === 0 || cw === 0) {
    throw new Error(`${op}: bad window (y0 ${y0}, x0 ${x0}, ${ch}x${cw}) of a ${height}x${width} image`);
  }
  if (y0 + ch > height || x0 + cw > width) {
    throw new Error(`${op}: window rows ${y0}..${y0 + ch}, cols ${x0}..${x0 + cw} exceed the ${height}x${width} image`);
  }
  if (srcLen < height * width * channels) {
    throw new Error(`${op}: source has ${srcLen} bytes, a ${height}x${width}x${channels} image needs ${height * width * channels}`);
  }
}

/** Throws unless `have` elements hold image `index` of `per` elements. */
export function checkDst(op: string, have: number, index: number, per: number): void {
  if (!Number.isInteger(index) || index < 0 || (index + 1) * per > have) {
    throw new Error(`${op}: image ${index} of ${per} elements does not fit a destination of ${have}`);
  }
}

/** Blend weight of the overlay, a = round(alpha · 256) clamped to 0..256. */
export function overlayWeight(alpha: number): number {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha ${alpha}, expected 0..1`);
  return Math.round(alpha * 256);
}

export const tsKernels: PreprocessKernels = {
  cropNormalize(src, height, width, channels, y0, x0, ch, cw, dst, index) {
    checkCrop('cropNormalize', src.length, height, width, channels, y0, x0, ch, cw);
    if (channels === 1) throw new Error('cropNormalize: needs 3 or 4 channels');
    const plane = ch * cw;
    checkDst('cropNormalize', dst.length, index, 3 * plane);
    const [sr, sg, sb] = SCALE as [number, number, number];
    const [br, bg, bb] = BIAS as [number, number, number];
    const base = index * 3 * plane;
    for (let y = 0; y < ch; y++) {
      let s = ((y0 + y) * width + x0) * channels;
      let o = base + y * cw;
      for (let x = 0; x < cw; x++, s += channels, o++) {
        dst[o] = Math.fround(src[s]! * sr) + br;
        dst[o + plane] = Math.fround(src[s + 1]! * sg) + bg;
        dst[o + 2 * plane] = Math.fround(src[s + 2]! * sb) + bb;
      }
    }
  },

  cropLabels(src, height, width, y0, x0, ch, cw, dst, index) {
    checkCrop('cropLabels', src.length, height, width, 1, y0, x0, ch, cw);
    checkDst('cropLabels', dst.length, index, ch * cw);
    let o = index * ch * cw;
    for (let y = 0; y < ch; y++) {
      const s = (y0 + y) * width + x0;
      for (let x = 0; x < cw; x++) dst[o++] = src[s + x]!;
    }
  },

  crop(src, height, width, channels, y0, x0, ch, cw, dst) {
    checkCrop('crop', src.length, height, width, channels, y0, x0, ch, cw);
    const row = cw * channels;
    const out = dst ?? new Uint8Array(ch * row);
    checkDst('crop', out.length, 0, ch * row);
    for (let y = 0; y < ch; y++) {
      const s = ((y0 + y) * width + x0) * channels;
      out.set(src.subarray(s, s + row), y * row);
    }
    return out;
  },

  colorToClass(src, channels, table, dst) {
    if (channels !== 3 && channels !== 4) throw new Error(`colorToClass: channels ${channels}, expected 3 or 4`);
    const n = Math.floor(src.length / channels);
    const out = dst ?? new Uint8Array(n);
    checkDst('colorToClass', out.length, 0, n);
    const lut = table.lut;
    for (let i = 0, s = 0; i < n; i++, s += channels) out[i] = lut[src[s]! | (src[s + 1]! << 8) | (src[s + 2]! << 16)]!;
    return out;
  },

  classToColor(ids, palette, dst) {
    if (palette.length !== 256) throw new Error(`classToColor: palette has ${palette.length} entries, expected 256`);
    const out = dst ?? new Uint8Array(ids.length * 4);
    checkDst('classToColor', out.length, 0, ids.length * 4);
    for (let i = 0; i < ids.length; i++) {
      const c = palette[Math.min(ids[i]!, 255)]!;
      out[4 * i] = c & 255;
      out[4 * i + 1] = (c >>> 8) & 255;
      out[4 * i + 2] = (c >>> 16) & 255;
      out[4 * i + 3] = c >>> 24;
    }
    return out;
  },

  overlay(image, channels, colors, alpha, dst) {
    if (channels !== 3 && channels !== 4) throw new Error(`overlay: channels ${channels}, expected 3 or 4`);
    const n = Math.floor(image.length / channels);
    if (colors.length < n * 4) throw new Error(`overlay: ${colors.length} colour bytes for ${n} pixels, need ${n * 4}`);
    const out = dst ?? new Uint8Array(n * 4);
    checkDst('overlay', out.length, 0, n * 4);
    const a = overlayWeight(alpha);
    const b = 256 - a;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) out[4 * i + c] = (image[i * channels + c]! * b + colors[4 * i + c]! * a + 128) >> 8;
      out[4 * i + 3] = 255;
    }
    return out;
  },

  countInvalid(labels, k) {
    let count = 0;
    for (let i = 0; i < labels.length; i++) {
      const v = labels[i]!;
      if (v >= k && v !== IGNORE_LABEL) count++;
    }
    return count;
  },
};

/** A random crop offset: rows 0..height−ch and cols 0..width−cw, uniform (torchvision RandomCrop). */
export function randCropOffsets(height: number, width: number, ch: number, cw: number, rng: () => number): [number, number] {
  if (height < ch || width < cw) throw new Error(`randCrop: ${height}x${width} image is smaller than the ${ch}x${cw} crop`);
  return [randInt(rng, height - ch + 1), randInt(rng, width - cw + 1)];
}

/**
 * d2l's voc_rand_crop: the same random (ch, cw) rectangle cut from an image (H, W, C) u8 and
 * its label map (H, W) u8.
 */
export function randCrop(image: Uint8Array, label: Uint8Array, height: number, width: number, channels: number,
  ch: number, cw: number, rng: () => number, k: PreprocessKernels = tsKernels) {
  const [y0, x0] = randCropOffsets(height, width, ch, cw, rng);
  return {
    image: k.crop(image, height, width, channels, y0, x0, ch, cw),
    label: k.crop(label, height, width, 1, y0, x0, ch, cw),
    y0,
    x0,
  };
}
