// Picture grids: rows of equally sized RGB tiles (the chapter's figure: input | prediction |
// ground truth), written as PNG.
import { encodePngRgb } from '../data/codec.js';

export interface RgbImage {
  /** (height, width, 3) u8 */
  data: Uint8Array;
  height: number;
  width: number;
}

/** Lays out rows of images with a gap; every image is placed at its own size, top-left aligned. */
export function gridPng(rows: RgbImage[][], gap = 4): Uint8Array {
  const cols = Math.max(...rows.map((r) => r.length));
  const colW = Array.from({ length: cols }, (_, c) => Math.max(...rows.map((r) => r[c]?.width ?? 0)));
  const rowH = rows.map((r) => Math.max(...r.map((im) => im.height)));
  const W = colW.reduce((a, b) => a + b, 0) + gap * (cols + 1);
  const H = rowH.reduce((a, b) => a + b, 0) + gap * (rows.length + 1);
  const out = new Uint8Array(W * H * 3).fill(255);
  let y0 = gap;
  rows.forEach((row, r) => {
    let x0 = gap;
    row.forEach((im, c) => {
      for (let y = 0; y < im.height; y++) out.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), ((y0 + y) * W + x0) * 3);
      x0 += colW[c]! + gap;
    });
    y0 += rowH[r]! + gap;
  });
  return encodePngRgb(out, H, W);
}

/** Drops the alpha channel of (H, W, 4) pixels. */
export function toRgb(data: Uint8Array, height: number, width: number, channels: number): RgbImage {
  if (channels === 3) return { data, height, width };
  const rgb = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) {
    rgb[i * 3] = data[i * channels]!;
    rgb[i * 3 + 1] = data[i * channels + 1]!;
    rgb[i * 3 + 2] = data[i * channels + 2]!;
  }
  return { data: rgb, height, width };
}
