// Image decoding and encoding for the Node datasets, and header readers that give an image's
// size without decoding it (used to filter small images and check image/label sizes up front).
//
// JPEG: jpeg-js (pure JS, runs in Node and browsers, no native download; it also has the encoder
// the synthetic dataset needs). It decodes a VOC-sized JPEG in a few tens of ms (see
// `npm run bench:data`); each image is decoded once and cached, so this is a first-epoch cost.
// `tolerantDecoding: false` makes truncated or corrupt files throw instead of decoding to grey.
// PNG: pngjs (pure JS, zlib from Node), which expands every colour type (palette, grey, 16-bit)
// to 8-bit RGBA, so colour masks and VOC's palette masks go through one colour lookup.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface DecodedImage {
  /** (height, width, channels) u8 */
  data: Uint8Array;
  height: number;
  width: number;
  channels: 3 | 4;
}

/** An error about one input file; `file` is the path it names. */
export class DataError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'DataError';
  }
}

export function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_SIG.every((v, i) => b[i] === v);
}

/** (height, width) from a JPEG's SOF segment, or null when the bytes end before it. */
export function jpegSize(b: Uint8Array, file: string): { height: number; width: number } | null {
  if (!isJpeg(b)) throw new DataError(file, 'not a JPEG file (no FF D8 FF signature)');
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) throw new DataError(file, `corrupt JPEG: expected a marker at byte ${p}`);
    const m = b[p + 1]!;
    if (m === 0xff) { p++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { p += 2; continue; }
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 9 > b.length) return null;
      const height = (b[p + 5]! << 8) | b[p + 6]!;
      const width = (b[p + 7]! << 8) | b[p + 8]!;
      if (height === 0 || width === 0) throw new DataError(file, `corrupt JPEG: size ${height}x${width}`);
      return { height, width };
    }
    if (m === 0xd9 || m === 0xda) throw new DataError(file, 'corrupt JPEG: no frame header before the scan');
    p += 2 + len;
  }
  return null;
}

/** (height, width) from a PNG's IHDR chunk. */
export function pngSize(b: Uint8Array, file: string): { height: number; width: number } {
  if (!isPng(b)) throw new DataError(file, 'not a PNG file (bad signature)');
  if (b.length < 24 || String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR') {
    throw new DataError(file, 'corrupt PNG: no IHDR chunk');
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** (height, width) of a JPEG or PNG from its first bytes, or null if more bytes are needed. */
export function imageSize(b: Uint8Array, file: string): { height: number; width: number } | null {
  if (isPng(b)) return pngSize(b, file);
  if (isJpeg(b)) return jpegSize(b, file);
  throw new DataError(file, 'neither a JPEG nor a PNG file');
}

/** Decodes a JPEG to RGB (3 channels). Throws a DataError naming `file` when truncated or corrupt. */
export function decodeJpeg(b: Uint8Array, file: string): DecodedImage {
  if (!isJpeg(b)) throw new DataError(file, 'not a JPEG file (no FF D8 FF signature)');
  try {
    const r = jpeg.decode(b, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
    if (r.data.length !== r.width * r.height * 3) throw new Error(`decoded ${r.data.length} bytes for ${r.width}x${r.height}`);
    return { data: r.data, height: r.height, width: r.width, channels: 3 };
  } catch (e) {
    throw new DataError(file, `corrupt or truncated JPEG (${(e as Error).message})`);
  }
}

/** Decodes a PNG to RGBA (4 channels). Throws a DataError naming `file` when truncated or corrupt. */
export function decodePng(b: Uint8Array, file: string): DecodedImage {
  if (!isPng(b)) throw new DataError(file, 'not a PNG file (bad signature)');
  try {
    const r = PNG.sync.read(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    const data = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    return { data, height: r.height, width: r.width, channels: 4 };
  } catch (e) {
    throw new DataError(file, `corrupt or truncated PNG (${(e as Error).message})`);
  }
}

/** Decodes a JPEG (→ RGB) or PNG (→ RGBA) by its signature. */
export function decodeImage(b: Uint8Array, file: string): DecodedImage {
  if (isJpeg(b)) return decodeJpeg(b, file);
  if (isPng(b)) return decodePng(b, file);
  throw new DataError(file, 'neither a JPEG nor a PNG file');
}

/** Encodes (height, width, 4) RGBA u8 as a baseline JPEG (alpha dropped). */
export function encodeJpeg(rgba: Uint8Array, height: number, width: number, quality = 90): Uint8Array {
  const r = jpeg.encode({ data: rgba, width, height }, quality);
  return new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
}

/** Encodes (height, width, 3) RGB u8 as an 8-bit RGB PNG. */
export function encodePngRgb(rgb: Uint8Array, height: number, width: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  const out = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Encodes (height, width) u8 as an 8-bit greyscale PNG (index masks: value = class id). */
export function encodePngGrey(grey: Uint8Array, height: number, width: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(grey.buffer, grey.byteOffset, grey.byteLength);
  const out = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
