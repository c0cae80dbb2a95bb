// Image decoding and encoding for the Node datasets, and header readers that give an image's
// size without decoding it (used to filter small images and check image/label sizes up front).
//
// JPEG: jpeg-js (pure JS, runs in Node and browsers, no native download; it also has the encoder
// the synthetic dataset needs). It decodes a VOC-sized JPEG in a few tens of ms (see
// `npm run bench:data`); each image is decoded once and cached, so this is a first-epoch cost.
// `tolerantDecoding: false` makes truncated or corrupt files throw instead of decoding to grey.
// Both decoders allocate from the size a header declares before reading any pixel data (jpeg-js
// its 8x8 blocks at the frame header, pngjs its inflate buffer at IHDR), so a few corrupt header
// bytes could ask for gigabytes: a declared size is checked first against MAX_IMAGE_PIXELS and
// against what the file's length can possibly encode (see `impossibleSize`).
// PNG: pngjs (pure JS, zlib from Node), which expands every colour type (palette, grey, 16-bit)
// to 8-bit RGBA, so colour masks and VOC's palette masks go through one colour lookup.
import { inflateSync } from 'node:zlib';
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

/** Largest image decoded (jpeg-js's own default cap, applied to PNGs too): 100 MP is 400 MB as RGBA. */
export const MAX_IMAGE_PIXELS = 100_000_000;

/**
 * Why a declared size cannot be a real image of `fileBytes` bytes, or null when it can. Lower
 * bounds on the encoded size: deflate expands at most 1032:1 (a 1-bit length and a 1-bit
 * distance code for 258 bytes), so a PNG needs ≥ raw/1032 bytes of IDAT for its `rawBytes` of
 * filtered rows; a JPEG spends ≥ 1 bit (a Huffman code) on every 8x8 block of its
 * full-resolution component, i.e. ≥ 1 byte per 512 pixels. Headers make real files bigger still.
 */
function impossibleSize(kind: 'PNG' | 'JPEG', height: number, width: number, fileBytes: number, rawBytes: number): string | null {
  const pixels = height * width;
  if (pixels > MAX_IMAGE_PIXELS) return `declares ${height}x${width} (height x width) pixels, more than the ${MAX_IMAGE_PIXELS / 1e6}-megapixel limit`;
  const minBytes = kind === 'PNG' ? rawBytes / 1032 : pixels / 512;
  if (minBytes > fileBytes) {
    return `declares ${height}x${width} (height x width) pixels, which needs at least ${Math.ceil(minBytes)} bytes, but the file has ${fileBytes}: truncated or corrupt header`;
  }
  return null;
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
  let size: { height: number; width: number } | null = null;
  try {
    size = jpegSize(b, file);
  } catch {
    // Segments this scanner cannot walk are left to the decoder, which reports them itself.
  }
  const why = size && impossibleSize('JPEG', size.height, size.width, b.length, 0);
  if (why) throw new DataError(file, `corrupt JPEG: ${why}`);
  try {
    const r = jpeg.decode(b, {
      useTArray: true, formatAsRGBA: false, tolerantDecoding: false,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      // jpeg-js keeps 4 bytes per sample of every component plus the output (about 15 bytes per
      // pixel); a budget growing with the file (16 KiB per byte, at least 16 MiB) bounds what a
      // later frame header this scanner did not see can ask for (a real image needs < 10 KiB per byte).
      maxMemoryUsageInMB: Math.min(1024, 16 + Math.ceil(b.length / 64)),
    });
    if (r.data.length !== r.width * r.height * 3) throw new Error(`decoded ${r.data.length} bytes for ${r.width}x${r.height}`);
    return { data: r.data, height: r.height, width: r.width, channels: 3 };
  } catch (e) {
    throw new DataError(file, `corrupt or truncated JPEG (${(e as Error).message})`);
  }
}

/** Bytes of filtered rows (a filter byte + packed samples per row) in a PNG's zlib stream. */
function pngRawBytes(height: number, width: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (h: number, w: number) => (h > 0 && w > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(height, width);
  // Adam7: seven passes of (x0, y0, dx, dy).
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  return passes.reduce((n, [x0, y0, dx, dy]) => n + rows(Math.ceil((height - y0!) / dy!), Math.ceil((width - x0!) / dx!)), 0);
}

/**
 * Inflates the IDAT stream (at most `raw` bytes) and checks it holds every row the header
 * declares: pngjs pads a short stream with zeros, decoding a corrupt file to a wrong image, and
 * inflates interlaced images without any bound. Chunk-structure errors are left to pngjs.
 */
function checkPngData(b: Uint8Array, file: string, raw: number, interlaced: boolean, size: string): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const parts: Uint8Array[] = [];
  for (let p = 8; p + 12 <= b.length; ) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    if (p + 12 + len > b.length) return;
    if (type === 'IDAT') parts.push(b.subarray(p + 8, p + 8 + len));
    if (type === 'IEND') break;
    p += 12 + len;
  }
  if (parts.length === 0) return;
  let got: number;
  try {
    got = inflateSync(Buffer.concat(parts), { maxOutputLength: raw }).length;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // More data than the rows need: pngjs ignores the excess of a plain image, but would inflate
    // all of an interlaced one.
    if (err.code === 'ERR_BUFFER_TOO_LARGE' && !interlaced) return;
    throw new DataError(file, `corrupt PNG: pixel data (IDAT) ${err.code === 'ERR_BUFFER_TOO_LARGE' ? `exceeds the ${raw} bytes of ${size}` : `does not inflate (${err.message})`}`);
  }
  if (got < raw) throw new DataError(file, `corrupt or truncated PNG: pixel data holds ${got} of the ${raw} bytes ${size} needs`);
}

/** Decodes a PNG to RGBA (4 channels). Throws a DataError naming `file` when truncated or corrupt. */
export function decodePng(b: Uint8Array, file: string): DecodedImage {
  if (!isPng(b)) throw new DataError(file, 'not a PNG file (bad signature)');
  const { height, width } = pngSize(b, file);
  // Bits per pixel from IHDR's bit depth and colour type (grey 1, RGB 3, palette 1, grey+alpha 2, RGBA 4 samples).
  const samples = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[b[25]!] ?? 1;
  const rowBits = width * samples * (b[24]! || 1);
  // pngjs computes row sizes with 32-bit shifts: wider rows would wrap around.
  if (rowBits >= 2 ** 31) throw new DataError(file, `corrupt PNG: a ${width}-pixel row of ${rowBits} bits is too wide`);
  const interlaced = b[28] === 1;
  const raw = pngRawBytes(height, width, rowBits / width, interlaced);
  const why = impossibleSize('PNG', height, width, b.length, raw);
  if (why) throw new DataError(file, `corrupt PNG: ${why}`);
  checkPngData(b, file, raw, interlaced, `${width}x${height}`);
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
