// CPU preprocessing compiled to WebAssembly: crop, normalise, colour map. Memory is managed by
// the host: it reserves regions once (`reserve` grows memory; the host bump-allocates inside)
// and passes (ptr, len) into them, so nothing here allocates and buffers are reused per batch.
//
// Every export has a plain-TypeScript twin in src/data/preprocess-ts.ts with the same
// arithmetic; the tests hold the two to exact equality (integer outputs) or 1e-6 (floats).
//
// Images are HWC u8 with 3 (RGB) or 4 (RGBA, alpha ignored) channels. Kernels that read RGB
// with 16-byte vector loads read up to 4 bytes past the last pixel they use: the host keeps
// 16 bytes of slack after every image region (src/data/preprocess.ts does).

/** Grows linear memory so that at least `bytes` bytes exist past the heap base; returns the base. */
export function reserve(bytes: usize): usize {
  const base = (__heap_base + 15) & ~15;
  const need = base + bytes;
  const have = <usize>memory.size() << 16;
  if (need > have) {
    if (memory.grow(<i32>((need - have + 0xffff) >>> 16)) < 0) return 0;
  }
  return base;
}

/** Adds `k` to `n` bytes at `ptr` in place (round-trip check of the wasm build). */
export function addBytes(ptr: usize, n: usize, k: u8): void {
  for (let i: usize = 0; i < n; i++) store<u8>(ptr + i, load<u8>(ptr + i) + k);
}

// ImageNet statistics folded into one multiply-add per value:
//   out = f32(v · scale_c) + bias_c,  scale_c = f32(1 / (255·std_c)),  bias_c = f32(−mean_c / std_c)
// which is (v/255 − mean_c)/std_c to within 5e-7. The TS twin rounds the same two steps to f32,
// and f64-then-f32 rounding of one f32 · or + is exact, so wasm and TS agree bit for bit.
// (Constants are computed in f64 first: a bare `<f32>(1.0 / ...)` would make the literals f32.)
const MEAN_R: f64 = 0.485, MEAN_G: f64 = 0.456, MEAN_B: f64 = 0.406;
const STD_R: f64 = 0.229, STD_G: f64 = 0.224, STD_B: f64 = 0.225;
const SCALE_R = <f32>(1.0 / (255.0 * STD_R));
const SCALE_G = <f32>(1.0 / (255.0 * STD_G));
const SCALE_B = <f32>(1.0 / (255.0 * STD_B));
const BIAS_R = <f32>(-MEAN_R / STD_R);
const BIAS_G = <f32>(-MEAN_G / STD_G);
const BIAS_B = <f32>(-MEAN_B / STD_B);

/**
 * Fused random-crop + normalise of one image into a batch: src (H, W, C) u8 at `src`, window
 * rows y0..y0+ch, cols x0..x0+cw → dst (N, 3, ch, cw) f32 at image `index`:
 *   dst(index, c, y, x) = f32(src(y0+y, x0+x, c) · scale_c) + bias_c.
 * The window is read straight from the source image: no intermediate crop copy.
 */
export function cropNormalize(
  src: usize, srcW: i32, channels: i32, y0: i32, x0: i32, ch: i32, cw: i32, dst: usize, index: i32,
): void {
  const plane = <usize>(ch * cw) << 2;
  const out = dst + <usize>index * 3 * plane;
  const sR = f32x4.splat(SCALE_R), sG = f32x4.splat(SCALE_G), sB = f32x4.splat(SCALE_B);
  const bR = f32x4.splat(BIAS_R), bG = f32x4.splat(BIAS_G), bB = f32x4.splat(BIAS_B);
  // Byte shuffles gathering channel c of 4 consecutive pixels into the low byte of 4 u32 lanes
  // (index ≥ 16 yields 0, which clears the upper bytes).
  const c = <usize>channels;
  const mR = c == 4 ? i8x16(0, -1, -1, -1, 4, -1, -1, -1, 8, -1, -1, -1, 12, -1, -1, -1)
                    : i8x16(0, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 9, -1, -1, -1);
  const mG = c == 4 ? i8x16(1, -1, -1, -1, 5, -1, -1, -1, 9, -1, -1, -1, 13, -1, -1, -1)
                    : i8x16(1, -1, -1, -1, 4, -1, -1, -1, 7, -1, -1, -1, 10, -1, -1, -1);
  const mB = c == 4 ? i8x16(2, -1, -1, -1, 6, -1, -1, -1, 10, -1, -1, -1, 14, -1, -1, -1)
                    : i8x16(2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1);
  for (let y = 0; y < ch; y++) {
    const s = src + (<usize>(y0 + y) * <usize>srcW + <usize>x0) * c;
    const oR = out + (<usize>(y * cw) << 2);
    const oG = oR + plane;
    const oB = oG + plane;
    let x = 0;
    for (; x + 4 <= cw; x += 4) {
      const v = v128.load(s + <usize>x * c);
      const o = <usize>x << 2;
      v128.store(oR + o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i8x16.swizzle(v, mR)), sR), bR));
      v128.store(oG + o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i8x16.swizzle(v, mG)), sG), bG));
      v128.store(oB + o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i8x16.swizzle(v, mB)), sB), bB));
    }
    for (; x < cw; x++) {
      const p = s + <usize>x * c;
      const o = <usize>x << 2;
      store<f32>(oR + o, <f32>load<u8>(p) * SCALE_R + BIAS_R);
      store<f32>(oG + o, <f32>load<u8>(p, 1) * SCALE_G + BIAS_G);
      store<f32>(oB + o, <f32>load<u8>(p, 2) * SCALE_B + BIAS_B);
    }
  }
}

/**
 * Crop of a class-id map into a batch of engine labels: src (H, W) u8 → dst (N, ch, cw) u32 at
 * image `index`: dst(index, y, x) = src(y0+y, x0+x). 255 stays 255 (ignore).
 */
export function cropLabels(src: usize, srcW: i32, y0: i32, x0: i32, ch: i32, cw: i32, dst: usize, index: i32): void {
  const out = dst + ((<usize>index * <usize>(ch * cw)) << 2);
  for (let y = 0; y < ch; y++) {
    const s = src + <usize>(y0 + y) * <usize>srcW + <usize>x0;
    const o = out + (<usize>(y * cw) << 2);
    let x = 0;
    for (; x + 16 <= cw; x += 16) {
      const v = v128.load(s + <usize>x);
      const lo = i16x8.extend_low_i8x16_u(v);
      const hi = i16x8.extend_high_i8x16_u(v);
      const d = o + (<usize>x << 2);
      v128.store(d, i32x4.extend_low_i16x8_u(lo));
      v128.store(d, i32x4.extend_high_i16x8_u(lo), 16);
      v128.store(d, i32x4.extend_low_i16x8_u(hi), 32);
      v128.store(d, i32x4.extend_high_i16x8_u(hi), 48);
    }
    for (; x < cw; x++) store<u32>(o + (<usize>x << 2), load<u8>(s + <usize>x));
  }
}

/** Plain crop: src (H, W, C) u8 → dst (ch, cw, C) u8, dst(y, x, c) = src(y0+y, x0+x, c). */
export function cropU8(src: usize, srcW: i32, channels: i32, y0: i32, x0: i32, ch: i32, cw: i32, dst: usize): void {
  const row = <usize>(cw * channels);
  for (let y = 0; y < ch; y++) {
    memory.copy(dst + <usize>y * row, src + (<usize>(y0 + y) * <usize>srcW + <usize>x0) * <usize>channels, row);
  }
}

// Last looked-up colour and its class, so runs of one colour skip the table.
let lastKey: u32 = 0xffffffff;
let lastCls: u32 = 0;

// @ts-ignore: decorator
@inline function lookup(key: u32, lut: usize): u32 {
  if (key != lastKey) {
    lastKey = key;
    lastCls = load<u8>(lut + <usize>key);
  }
  return lastCls;
}

/**
 * Colour map → class ids: src (n pixels, C) u8 → dst (n) u8, dst(i) = lut[r + g·2^8 + b·2^16].
 * `lut` is a dense 2^24-entry table (16 MiB): one load per pixel and no compares; label maps use
 * a handful of colours, so the entries touched stay in cache. Runs of one colour (most of a
 * label map) are detected 4 pixels at a time and skip the lookup.
 */
export function colorToClass(src: usize, channels: i32, n: i32, lut: usize, dst: usize): void {
  const c = <usize>channels;
  const pick = c == 4 ? i8x16(0, 1, 2, -1, 4, 5, 6, -1, 8, 9, 10, -1, 12, 13, 14, -1)
                      : i8x16(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  let prevKey: u32 = 0xffffffff; // no colour has this key: the first pixel always looks up
  let prevCls: u32 = 0;
  lastKey = prevKey;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const keys = i8x16.swizzle(v128.load(src + <usize>i * c), pick);
    if (i32x4.all_true(i32x4.eq(keys, i32x4.splat(prevKey)))) {
      store<u32>(dst + <usize>i, prevCls * 0x01010101);
      continue;
    }
    store<u8>(dst + <usize>i, lookup(<u32>i32x4.extract_lane(keys, 0), lut));
    store<u8>(dst + <usize>i, lookup(<u32>i32x4.extract_lane(keys, 1), lut), 1);
    store<u8>(dst + <usize>i, lookup(<u32>i32x4.extract_lane(keys, 2), lut), 2);
    store<u8>(dst + <usize>i, lookup(<u32>i32x4.extract_lane(keys, 3), lut), 3);
    prevKey = lastKey;
    prevCls = lastCls;
  }
  for (; i < n; i++) {
    const p = src + <usize>i * c;
    const k = <u32>load<u8>(p) | (<u32>load<u8>(p, 1) << 8) | (<u32>load<u8>(p, 2) << 16);
    store<u8>(dst + <usize>i, load<u8>(lut + <usize>k));
  }
}

/**
 * Class ids → colours: ids (n) u32 → dst (n, 4) RGBA u8, dst(i) = palette[min(id, 255)];
 * `palette` is 256 packed RGBA u32 (little-endian: r in the low byte).
 */
export function classToColor(ids: usize, n: i32, palette: usize, dst: usize): void {
  for (let i = 0; i < n; i++) {
    let id = load<u32>(ids + (<usize>i << 2));
    if (id > 255) id = 255;
    store<u32>(dst + (<usize>i << 2), load<u32>(palette + (<usize>id << 2)));
  }
}

/**
 * Prediction-over-image blend: img (n, C) u8 and colours (n, 4) RGBA u8 → dst (n, 4) RGBA u8,
 *   dst(i, c) = (img(i, c)·(256 − a) + col(i, c)·a + 128) >> 8 for c < 3,  dst(i, 3) = 255,
 * with a = round(alpha · 256) in 0..256 (integer maths, so wasm and TS agree exactly).
 */
export function overlay(img: usize, channels: i32, colors: usize, n: i32, a: i32, dst: usize): void {
  const c = <usize>channels;
  const wa = i16x8.splat(<i16>a), wb = i16x8.splat(<i16>(256 - a)), half = i16x8.splat(128);
  const opaque = i32x4.splat(0xff000000);
  let i = 0;
  if (c == 4) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(img + o), k = v128.load(colors + o);
      // u16 lanes: 255·256 + 128 < 2^16, so the sum cannot wrap.
      const lo = i16x8.shr_u(i16x8.add(i16x8.add(i16x8.mul(i16x8.extend_low_i8x16_u(v), wb),
        i16x8.mul(i16x8.extend_low_i8x16_u(k), wa)), half), 8);
      const hi = i16x8.shr_u(i16x8.add(i16x8.add(i16x8.mul(i16x8.extend_high_i8x16_u(v), wb),
        i16x8.mul(i16x8.extend_high_i8x16_u(k), wa)), half), 8);
      v128.store(dst + o, v128.or(i8x16.narrow_i16x8_u(lo, hi), opaque));
    }
  }
  for (; i < n; i++) {
    const p = img + <usize>i * c;
    const q = colors + (<usize>i << 2);
    const d = dst + (<usize>i << 2);
    for (let j: usize = 0; j < 3; j++) {
      store<u8>(d + j, <u8>((<u32>load<u8>(p + j) * <u32>(256 - a) + <u32>load<u8>(q + j) * <u32>a + 128) >> 8));
    }
    store<u8>(d, 255, 3);
  }
}

/** Count of label values that are neither a class id < k nor the ignore value 255: labels (n) u8. */
export function countInvalid(labels: usize, n: i32, k: i32): i32 {
  const kk = i8x16.splat(<i8>k), ign = i8x16.splat(-1);
  let count = 0;
  let i = 0;
  if (k <= 255) {
    for (; i + 16 <= n; i += 16) {
      const v = v128.load(labels + <usize>i);
      const bad = v128.and(i8x16.ge_u(v, kk), i8x16.ne(v, ign));
      count += <i32>popcnt<u32>(i8x16.bitmask(bad));
    }
  }
  for (; i < n; i++) {
    const v = <i32>load<u8>(labels + <usize>i);
    if (v >= k && v != 255) count++;
  }
  return count;
}
