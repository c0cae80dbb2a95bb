// Dataset readers on generated folders: VOC layout discovery, size filtering and the count,
// label decoding, and every kind of bad input (each an error naming the file, or with
// skipBad a reported skip).
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, encodeJpeg, encodePngGrey, encodePngRgb } from '../../src/data/codec.js';
import { IGNORE_LABEL, VOC_BORDER, VOC_COLORMAP } from '../../src/data/colormap.js';
import { findVOCRoot, openFolder, openVOC } from '../../src/data/dataset.js';
import { Preprocessor } from '../../src/data/preprocess.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'webfcn-ds-'));
  dirs.push(d);
  return d;
}
let base: string; // pristine synthetic dataset (out folder)
let pre: Preprocessor;
const K = 6;

beforeAll(async () => {
  base = tmp();
  writeSyntheticDataset({ out: base, classes: K, train: 10, val: 4, size: [40, 56], seed: 5, small: 3, border: 1 });
  pre = await Preprocessor.create();
});
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A fresh copy of the synthetic dataset to damage; returns its VOC2012 folder. */
function copy(): string {
  const d = tmp();
  cpSync(base, d, { recursive: true });
  return join(d, 'VOCdevkit', 'VOC2012');
}

/** Reference label decode: pngjs + a plain Map from colour to id (unknown → `unknown`). */
function refLabel(file: string, unknown: number): Uint8Array {
  const png = PNG.sync.read(readFileSync(file));
  const map = new Map(VOC_COLORMAP.map((c, i) => [c.join(','), i]));
  const out = new Uint8Array(png.width * png.height);
  for (let p = 0; p < out.length; p++) out[p] = map.get([png.data[4 * p], png.data[4 * p + 1], png.data[4 * p + 2]].join(',')) ?? unknown;
  return out;
}


/** VOC's 256-entry palette (the devkit's bit-interleaved colour map; entry 255 is the border). */
function vocPalette(): number[][] {
  return Array.from({ length: 256 }, (_, i) => {
    let [r, g, b, c] = [0, 0, 0, i];
    for (let j = 0; j < 8; j++) {
      r |= (c & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    return [r, g, b];
  });
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = 0xffffffff;
  for (const b of body) c = CRC[(c ^ b) & 255]! ^ (c >>> 8);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0, body.length + 4);
  return out;
}

/** An 8-bit palette PNG (colour type 3) like VOC's SegmentationClass files. */
function palettePng(indices: Uint8Array, h: number, w: number, palette: number[][]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 3, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) raw.set(indices.subarray(y * w, (y + 1) * w), y * (w + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('PLTE', Uint8Array.from(palette.flat())), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

describe('openVOC', () => {
  it('finds VOC2012 from the folder, VOCdevkit or VOC2012 and filters images smaller than the crop', async () => {
    const root = join(base, 'VOCdevkit', 'VOC2012');
    for (const r of [base, join(base, 'VOCdevkit'), root]) expect(findVOCRoot(r)).toBe(root);
    expect(() => findVOCRoot(join(base, 'nope'))).toThrow(/no VOC2012 folder/);
    const ds = await openVOC(base, 'train', { crop: [32, 48], preprocessor: pre });
    expect(ds.length).toBe(7);
    expect(ds.filtered).toBe(3);
    expect(ds.summary([32, 48])).toMatch(/read 7 examples \(filtered 3 smaller than 32x48, skipped 0\)/);
    expect(ds.entries.map((e) => e.id)).not.toContain('train_00000');
    const all = await openVOC(base, 'train', { preprocessor: pre });
    expect(all.length).toBe(10);
    expect(all.filtered).toBe(0);
  });

  it('decodes images like jpeg-js and labels like a plain colour lookup (border → 255, or 0 in chapter mode)', async () => {
    const root = join(base, 'VOCdevkit', 'VOC2012');
    const ds = await openVOC(base, 'val', { preprocessor: pre, classes: K });
    const chapter = await openVOC(base, 'val', { preprocessor: pre, classes: K, unknownColors: 'background' });
    for (let i = 0; i < ds.length; i++) {
      const s = ds.sample(i);
      const img = jpeg.decode(readFileSync(join(root, 'JPEGImages', `${s.id}.jpg`)), { useTArray: true, formatAsRGBA: false });
      expect(s.channels).toBe(3);
      expect(Buffer.from(s.image).equals(Buffer.from(img.data))).toBe(true);
      const lbl = join(root, 'SegmentationClass', `${s.id}.png`);
      expect(Buffer.from(s.label).equals(Buffer.from(refLabel(lbl, IGNORE_LABEL)))).toBe(true);
      expect(Buffer.from(chapter.sample(i).label).equals(Buffer.from(refLabel(lbl, 0)))).toBe(true);
      expect(s.label.includes(IGNORE_LABEL)).toBe(true);
      expect(chapter.sample(i).label.includes(IGNORE_LABEL)).toBe(false);
    }
  });

  it('reads VOC palette PNGs: palette indices are the class ids, the border index 255 is ignored', async () => {
    const pal = vocPalette();
    expect(pal.slice(0, 21)).toEqual(VOC_COLORMAP.map((c) => [...c]));
    expect(pal[255]).toEqual([...VOC_BORDER]);
    const root = copy();
    const [h, w] = [40, 56];
    const idx = new Uint8Array(h * w).map((_, p) => (p % 11 === 0 ? 255 : p % K));
    writeFileSync(join(root, 'SegmentationClass', 'val_00001.png'), palettePng(idx, h, w, pal));
    const ds = await openVOC(root, 'val', { preprocessor: pre, classes: K });
    expect([...ds.sample(1).label]).toEqual([...idx]);
    const chapter = await openVOC(root, 'val', { preprocessor: pre, classes: K, unknownColors: 'background' });
    expect([...chapter.sample(1).label]).toEqual([...idx].map((v) => (v === 255 ? 0 : v)));
  });

  it('an empty split is an error naming the list', async () => {
    const root = copy();
    const list = join(root, 'ImageSets', 'Segmentation', 'val.txt');
    writeFileSync(list, '\n\n');
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(`${list}: the split is empty`);
    await expect(openVOC(root, 'test', { preprocessor: pre })).rejects.toThrow(/test\.txt: split list not found/);
  });

  it('missing list entries and missing labels name the files; skipBad counts them', async () => {
    const root = copy();
    const list = join(root, 'ImageSets', 'Segmentation', 'val.txt');
    writeFileSync(list, `${readFileSync(list, 'utf8')}ghost_1\n`);
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(/val\.txt: lists "ghost_1" but no image file/);
    rmSync(join(root, 'SegmentationClass', 'val_00001.png'));
    writeFileSync(list, 'val_00000\nval_00001\nval_00002\n');
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(/val_00001\.png: missing label for "val_00001"/);
    writeFileSync(list, 'val_00000\nval_00001\nghost_1\nval_00002\n');
    const ds = await openVOC(root, 'val', { preprocessor: pre, skipBad: true });
    expect(ds.length).toBe(2);
    expect(ds.skipped.map((s) => s.id)).toEqual(['val_00001', 'ghost_1']);
    expect(ds.summary()).toMatch(/read 2 examples \(filtered 0, skipped 2\)\n  skipped val_00001: .*missing label/);
  });

  it('truncated and corrupt JPEG/PNG files are errors naming the file', async () => {
    const root = copy();
    const jpg = join(root, 'JPEGImages', 'val_00000.jpg');
    const png = join(root, 'SegmentationClass', 'val_00002.png');
    const bytes = readFileSync(jpg);
    writeFileSync(jpg, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const pb = readFileSync(png);
    writeFileSync(png, pb.subarray(0, pb.length - 30));
    const ds = await openVOC(root, 'val', { preprocessor: pre }); // headers are intact: found on decode
    expect(() => ds.get(0)).toThrow(DataError);
    expect(() => ds.get(0)).toThrow(`${jpg}: corrupt or truncated JPEG`);
    expect(() => ds.get(2)).toThrow(`${png}: corrupt or truncated PNG`);
    expect(ds.get(1).height).toBe(40);
    const skip = await openVOC(root, 'val', { preprocessor: pre, skipBad: true });
    expect(skip.length).toBe(2);
    expect(skip.skipped.map((s) => s.file)).toEqual([jpg, png]);
    // Garbage where a JPEG should be fails while opening.
    writeFileSync(jpg, Buffer.from('not an image at all'));
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(`${jpg}: neither a JPEG nor a PNG file`);
    writeFileSync(jpg, bytes.subarray(0, 10));
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(`${jpg}: truncated`);
  });

  it('image/label size mismatch names the label', async () => {
    const root = copy();
    const png = join(root, 'SegmentationClass', 'val_00003.png');
    writeFileSync(png, encodePngRgb(new Uint8Array(40 * 50 * 3), 40, 50));
    await expect(openVOC(root, 'val', { preprocessor: pre })).rejects.toThrow(`${png}: label is 40x50 but image`);
    const skip = await openVOC(root, 'val', { preprocessor: pre, skipBad: true });
    expect(skip.skipped).toHaveLength(1);
    expect(skip.length).toBe(3);
  });

  it('class ids ≥ K are errors naming the label; skipBad skips them', async () => {
    const ds = await openVOC(base, 'train', { preprocessor: pre, classes: 2 });
    expect(() => ds.decodeAll()).toThrow(/SegmentationClass\/train_000\d\d\.png: \d+ pixels have class ids ≥ 2/);
    // A VOC colour for class 20 in a 6-class dataset
    const root = copy();
    const png = join(root, 'SegmentationClass', 'val_00000.png');
    const rgb = new Uint8Array(40 * 56 * 3);
    for (let p = 0; p < 40 * 56; p++) rgb.set(p < 100 ? VOC_COLORMAP[20]! : p < 200 ? VOC_BORDER : VOC_COLORMAP[1]!, 3 * p);
    writeFileSync(png, encodePngRgb(rgb, 40, 56));
    const bad = await openVOC(root, 'val', { preprocessor: pre, classes: K });
    expect(() => bad.get(0)).toThrow(`${png}: 100 pixels have class ids ≥ 6 (20)`);
    const skip = await openVOC(root, 'val', { preprocessor: pre, classes: K, skipBad: true });
    expect(skip.skipped.map((s) => s.id)).toEqual(['val_00000']);
  });

  it('everything filtered or skipped is an error', async () => {
    await expect(openVOC(base, 'val', { preprocessor: pre, crop: [100, 100] })).rejects.toThrow(/no usable examples \(filtered 4/);
  });
});

describe('openFolder', () => {
  function makeFolder(kind: 'color' | 'index'): string {
    const root = tmp();
    mkdirSync(join(root, 'images'));
    mkdirSync(join(root, 'masks'));
    const colors = [[10, 20, 30], [200, 0, 0], [0, 200, 0]];
    if (kind === 'color') writeFileSync(join(root, 'colormap.txt'), colors.map((c, i) => `${c.join(' ')} c${i}`).join('\n'));
    for (let i = 0; i < 3; i++) {
      const [h, w] = [12 + i, 16];
      const rgba = new Uint8Array(h * w * 4).map((_, j) => (j * 7 + i) & 255);
      const ids = new Uint8Array(h * w).map((_, j) => (j % 7 === 6 ? 255 : j % 3));
      if (i === 1) {
        const png = new PNG({ width: w, height: h });
        png.data = Buffer.from(rgba);
        writeFileSync(join(root, 'images', `im${i}.png`), PNG.sync.write(png));
      } else {
        writeFileSync(join(root, 'images', `im${i}.jpg`), encodeJpeg(rgba, h, w));
      }
      if (kind === 'index') writeFileSync(join(root, 'masks', `im${i}.png`), encodePngGrey(ids, h, w));
      else {
        const rgb = new Uint8Array(h * w * 3);
        ids.forEach((v, p) => rgb.set(v === 255 ? [1, 2, 3] : colors[v]!, 3 * p));
        writeFileSync(join(root, 'masks', `im${i}.png`), encodePngRgb(rgb, h, w));
      }
    }
    return root;
  }

  for (const kind of ['color', 'index'] as const) {
    it(`reads images (JPEG and PNG) with ${kind} masks`, async () => {
      const root = makeFolder(kind);
      const ds = await openFolder(root, 'all', { preprocessor: pre, classes: kind === 'index' ? 3 : undefined, crop: [13, 16] });
      expect(ds.entries.map((e) => e.id)).toEqual(['im1', 'im2']);
      expect(ds.filtered).toBe(1);
      expect(ds.numClasses).toBe(3);
      if (kind === 'color') expect(ds.classNames).toEqual(['c0', 'c1', 'c2']);
      for (let i = 0; i < 2; i++) {
        const s = ds.sample(i);
        const want = new Uint8Array(s.height * s.width).map((_, j) => (j % 7 === 6 ? 255 : j % 3));
        expect([...s.label]).toEqual([...want]);
      }
      expect(ds.sample(0).channels).toBe(4);
      expect(ds.sample(1).channels).toBe(3);
      writeFileSync(join(root, 'list.txt'), 'im2\n');
      const listed = await openFolder(root, 'list', { preprocessor: pre, classes: 3 });
      expect(listed.entries.map((e) => e.id)).toEqual(['im2']);
    });
  }

  it('index masks need classes, ids ≥ K fail, colour images as index masks fail', async () => {
    const root = makeFolder('index');
    await expect(openFolder(root, 'all', { preprocessor: pre })).rejects.toThrow(/no colormap\.txt.*pass \{ classes \}/);
    const two = await openFolder(root, 'all', { preprocessor: pre, classes: 2 });
    expect(() => two.get(0)).toThrow(/im0\.png: \d+ pixels have class ids ≥ 2 \(2\)/);
    copyFileSync(join(makeFolder('color'), 'masks', 'im0.png'), join(root, 'masks', 'im0.png'));
    const ds = await openFolder(root, 'all', { preprocessor: pre, classes: 3 });
    expect(() => ds.get(0)).toThrow(/im0\.png: index masks must be greyscale/);
  });
});

describe('class names', () => {
  it('a synthetic VOC folder names its own classes; openVOC reads them', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { writeSyntheticDataset } = await import('../../src/data/synth.js');
    const { openVOC } = await import('../../src/data/dataset.js');
    const out = mkdtempSync(join(tmpdir(), 'webfcn-names-'));
    const r = writeSyntheticDataset({ out, classes: 3, train: 2, val: 1, size: [32, 32], seed: 1 });
    const ds = await openVOC(out, 'train', { classes: 3 });
    expect(ds.classNames).toEqual(r.classNames);
    expect(ds.classNames[0]).toBe('background');
    expect(ds.classNames[1]).not.toBe('aeroplane');
  });

  it('a VOC folder without class_names.txt gets neutral names unless K = 21 (then VOC\'s)', async () => {
    const { rmSync: rm } = await import('node:fs');
    const out = mkdtempSync(join(tmpdir(), 'webfcn-names-'));
    const r = writeSyntheticDataset({ out, classes: 4, train: 1, val: 1, size: [32, 32], seed: 1 });
    rm(join(r.root, 'class_names.txt'));
    expect((await openVOC(out, 'train', { classes: 4 })).classNames).toEqual(['background', 'class 1', 'class 2', 'class 3']);
    const voc = await openVOC(out, 'train', { classes: 21 });
    expect(voc.classNames).toHaveLength(21);
    expect(voc.classNames.slice(0, 3)).toEqual(['background', 'aeroplane', 'bicycle']);
    // A names file shorter than K: the rest get the default names.
    writeFileSync(join(r.root, 'class_names.txt'), 'sky\nroad\n');
    expect((await openVOC(out, 'train', { classes: 4 })).classNames).toEqual(['sky', 'road', 'class 2', 'class 3']);
  });
});
