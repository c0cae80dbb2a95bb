// Each WebAssembly kernel against its TypeScript twin on random data, and the twins against
// the plain definitions (crop semantics, ImageNet normalisation, colour tables).
import { beforeAll, describe, expect, it } from 'vitest';
import { ColorTable, IGNORE_LABEL, makePalette, parseColormap, VOC_BORDER, VOC_COLORMAP } from '../../src/data/colormap.js';
import { Preprocessor } from '../../src/data/preprocess.js';
import { randCrop, tsKernels } from '../../src/data/preprocess-ts.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/io/normalisation.js';
import { mulberry32 } from '../../src/data/rng.js';

let wasm: Preprocessor;
beforeAll(async () => {
  wasm = await Preprocessor.create();
});

function randomBytes(n: number, seed: number, max = 256): Uint8Array {
  const r = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * max);
  return out;
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

/** A label-like colour image: runs of VOC colours, some unknown colours, optional alpha noise. */
function labelImage(n: number, channels: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  const out = new Uint8Array(n * channels);
  let colour: readonly number[] = VOC_COLORMAP[0]!;
  for (let i = 0; i < n; i++) {
    if (r() < 0.05) {
      const u = r();
      colour = u < 0.8 ? VOC_COLORMAP[Math.floor(r() * 21)]! : u < 0.9 ? VOC_BORDER : [Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 256)];
    }
    out.set(colour, i * channels);
    if (channels === 4) out[i * channels + 3] = Math.floor(r() * 256);
  }
  return out;
}

describe('cropNormalize', () => {
  for (const channels of [3, 4]) {
    it(`wasm equals the TS twin bit for bit and the ImageNet formula within 1e-6 (${channels} channels)`, () => {
      const [h, w, ch, cw, n] = [37, 53, 21, 30, 3];
      const src = randomBytes(h * w * channels, 11 + channels);
      const a = new Float32Array(n * 3 * ch * cw).fill(NaN);
      const b = new Float32Array(n * 3 * ch * cw).fill(NaN);
      const windows = [[0, 0], [h - ch, w - cw], [5, 7]] as const;
      windows.forEach(([y0, x0], i) => {
        wasm.cropNormalize(src, h, w, channels, y0, x0, ch, cw, a, i);
        tsKernels.cropNormalize(src, h, w, channels, y0, x0, ch, cw, b, i);
      });
      expect(firstDiff(a, b)).toBe(-1);
      let maxErr = 0;
      windows.forEach(([y0, x0], i) => {
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < ch; y++) {
            for (let x = 0; x < cw; x++) {
              const v = src[((y0 + y) * w + x0 + x) * channels + c]!;
              const want = (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
              maxErr = Math.max(maxErr, Math.abs(a[((i * 3 + c) * ch + y) * cw + x]! - want));
            }
          }
        }
      });
      expect(maxErr).toBeLessThan(1e-6);
    });
  }

  it('writes only its own image slot and rejects windows outside the image', () => {
    const src = randomBytes(8 * 8 * 3, 3);
    const dst = new Float32Array(3 * 3 * 4 * 4).fill(7);
    wasm.cropNormalize(src, 8, 8, 3, 1, 2, 4, 4, dst, 1);
    expect(dst.subarray(0, 48).every((v) => v === 7)).toBe(true);
    expect(dst.subarray(96).every((v) => v === 7)).toBe(true);
    expect(dst.subarray(48, 96).some((v) => v === 7)).toBe(false);
    expect(() => wasm.cropNormalize(src, 8, 8, 3, 5, 0, 4, 4, dst, 0)).toThrow(/exceed the 8x8 image/);
    expect(() => tsKernels.cropNormalize(src, 8, 8, 3, 0, 0, 4, 4, dst, 3)).toThrow(/image 3/);
  });
});

describe('crops', () => {
  it('cropLabels: wasm equals TS and picks the window, u32 out', () => {
    const [h, w, ch, cw] = [29, 70, 17, 35];
    const src = randomBytes(h * w, 5);
    const a = new Uint32Array(2 * ch * cw);
    const b = new Uint32Array(2 * ch * cw);
    for (const [i, y0, x0] of [[0, 3, 9], [1, 12, 35]] as const) {
      wasm.cropLabels(src, h, w, y0, x0, ch, cw, a, i);
      tsKernels.cropLabels(src, h, w, y0, x0, ch, cw, b, i);
      expect(a[i * ch * cw + 4 * cw + 6]).toBe(src[(y0 + 4) * w + x0 + 6]);
    }
    expect(firstDiff(a, b)).toBe(-1);
  });

  it('randCrop cuts the same rectangle from image and label (voc_rand_crop)', () => {
    const [h, w, c] = [20, 31, 3];
    // Pixel values encode their coordinates so the crop origin can be read back.
    const img = new Uint8Array(h * w * c);
    const lbl = new Uint8Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        img.set([y, x, 7], (y * w + x) * c);
        lbl[y * w + x] = (y * 3 + x) & 255;
      }
    }
    const seen = new Set<string>();
    for (let s = 0; s < 20; s++) {
      const r1 = randCrop(img, lbl, h, w, c, 8, 9, mulberry32(s), wasm);
      const r2 = randCrop(img, lbl, h, w, c, 8, 9, mulberry32(s), tsKernels);
      expect(firstDiff(r1.image, r2.image)).toBe(-1);
      expect(firstDiff(r1.label, r2.label)).toBe(-1);
      expect([r1.y0, r1.x0]).toEqual([r2.y0, r2.x0]);
      expect(r1.image[0]).toBe(r1.y0);
      expect(r1.image[1]).toBe(r1.x0);
      expect(r1.image[(7 * 9 + 8) * 3]).toBe(r1.y0 + 7);
      expect(r1.label[7 * 9 + 8]).toBe((r1.y0 + 7) * 3 + r1.x0 + 8);
      expect(r1.y0).toBeLessThanOrEqual(h - 8);
      expect(r1.x0).toBeLessThanOrEqual(w - 9);
      seen.add(`${r1.y0},${r1.x0}`);
    }
    expect(seen.size).toBeGreaterThan(10);
    expect(() => randCrop(img, lbl, h, w, c, 21, 9, mulberry32(1))).toThrow(/smaller than the 21x9 crop/);
  });
});

describe('colour tables', () => {
  it('VOC_COLORMAP maps to 0..20, the border and other colours to 255 (or 0 in chapter mode)', () => {
    const strict = new ColorTable(VOC_COLORMAP);
    const chapter = new ColorTable(VOC_COLORMAP, 0);
    const pixels = new Uint8Array([...VOC_COLORMAP.flat(), ...VOC_BORDER, 1, 2, 3]);
    const want = [...Array(21).keys(), IGNORE_LABEL, IGNORE_LABEL];
    expect([...wasm.colorToClass(pixels, 3, strict)]).toEqual(want);
    expect([...tsKernels.colorToClass(pixels, 3, strict)]).toEqual(want);
    expect([...wasm.colorToClass(pixels, 3, chapter)]).toEqual([...Array(21).keys(), 0, 0]);
  });

  for (const channels of [3, 4]) {
    it(`colorToClass: wasm equals TS on label-like and random images (${channels} channels)`, () => {
      const table = new ColorTable(VOC_COLORMAP);
      for (const [seed, img] of [[1, labelImage(10007, channels, 1)], [2, randomBytes(4099 * channels, 2)]] as const) {
        const a = wasm.colorToClass(img, channels, table);
        const b = tsKernels.colorToClass(img, channels, table);
        expect(firstDiff(a, b), `seed ${seed}`).toBe(-1);
      }
      const lab = wasm.colorToClass(labelImage(10007, channels, 1), channels, table);
      expect(new Set(lab).size).toBeGreaterThan(15);
    });
  }

  it('classToColor: wasm equals TS; ids ≥ 255 draw the ignore colour', () => {
    const palette = makePalette();
    const ids = new Uint32Array(1000);
    const r = mulberry32(4);
    for (let i = 0; i < ids.length; i++) ids[i] = r() < 0.9 ? Math.floor(r() * 21) : r() < 0.5 ? 255 : 1000 + i;
    const a = wasm.classToColor(ids, palette);
    const b = tsKernels.classToColor(ids, palette);
    expect(firstDiff(a, b)).toBe(-1);
    const i = ids.findIndex((v) => v === 15);
    expect([...a.subarray(4 * i, 4 * i + 4)]).toEqual([...VOC_COLORMAP[15]!, 255]);
    const j = ids.findIndex((v) => v > 255);
    expect([...a.subarray(4 * j, 4 * j + 4)]).toEqual([...VOC_BORDER, 255]);
  });

  for (const channels of [3, 4]) {
    it(`overlay: wasm equals TS, alpha 0 and 1 give image and colours (${channels} channels)`, () => {
      const n = 1003;
      const img = randomBytes(n * channels, 8);
      const col = randomBytes(n * 4, 9);
      for (const alpha of [0, 0.3, 0.5, 1]) {
        const a = wasm.overlay(img, channels, col, alpha);
        const b = tsKernels.overlay(img, channels, col, alpha);
        expect(firstDiff(a, b), `alpha ${alpha}`).toBe(-1);
        const src = alpha === 0 ? img : col;
        const stride = alpha === 0 ? channels : 4;
        if (alpha === 0 || alpha === 1) {
          for (let i = 0; i < n; i += 97) expect([...a.subarray(4 * i, 4 * i + 3)]).toEqual([...src.subarray(stride * i, stride * i + 3)]);
        }
        expect(a[4 * 17 + 3]).toBe(255);
      }
      const half = wasm.overlay(new Uint8Array([200, 100, 0, 0]), 4, new Uint8Array([0, 100, 255, 0]), 0.5);
      expect([...half]).toEqual([100, 100, 128, 255]);
    });
  }

  it('countInvalid: wasm equals TS', () => {
    const labels = randomBytes(5003, 10);
    for (const k of [1, 21, 200, 255, 256]) {
      const want = [...labels].filter((v) => v >= k && v !== 255).length;
      expect(wasm.countInvalid(labels, k)).toBe(want);
      expect(tsKernels.countInvalid(labels, k)).toBe(want);
    }
  });

  it('parseColormap reads "r g b name" lines and rejects bad ones', () => {
    const { colors, names } = parseColormap('# bg first\n0 0 0 background\n\n255 0 0 red thing\n0 255 0\n', 'map.txt');
    expect(colors).toEqual([[0, 0, 0], [255, 0, 0], [0, 255, 0]]);
    expect(names).toEqual(['background', 'red thing', 'class2']);
    expect(() => parseColormap('0 0 0 a\n300 0 0 b\n', 'map.txt')).toThrow(/map.txt:2/);
    expect(() => new ColorTable([[1, 2, 3], [1, 2, 3]])).toThrow(/classes 0 and 1/);
  });
});
