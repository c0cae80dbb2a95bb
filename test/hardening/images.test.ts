// Hostile image files: seeded mutations of JPEGs and PNGs (RGB, RGBA, grey, palette, interlaced)
// through decodeImage, and of a dataset's files through openVOC + decode. Every case must decode
// to an image of the size its header declares or be refused with a DataError naming the file;
// declared sizes of up to 2^32 - 1 must not allocate from the header (resident memory is watched).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, decodeImage, encodeJpeg, encodePngGrey, encodePngRgb, MAX_IMAGE_PIXELS } from '../../src/data/codec';
import { openVOC } from '../../src/data/dataset';
import { Preprocessor } from '../../src/data/preprocess';
import { writeSyntheticDataset } from '../../src/data/synth';
import { byteMutations, CASES, crc32, fuzz, int, namedRefusal, pick, type Mutation, type Tally } from './fuzz';

const H = 24;
const W = 40;
/** (H, W, 4) RGBA test pattern. */
const rgba = Uint8Array.from({ length: H * W * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 37 + (i >> 7) * 11) & 255));
const rgb = Uint8Array.from({ length: H * W * 3 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)]!);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit PNG written by hand (pngjs writes neither palettes nor Adam7): samples (H, W, spp). */
function handPng(samples: Uint8Array, spp: number, colorType: number, interlace: boolean, palette?: Uint8Array): Uint8Array {
  const rows: number[] = [];
  const passes = interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes) {
    if (x0! >= W || y0! >= H) continue;
    for (let y = y0!; y < H; y += dy!) {
      rows.push(0);
      for (let x = x0!; x < W; x += dx!) for (let s = 0; s < spp; s++) rows.push(samples[(y * W + x) * spp + s]!);
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, W);
  dv.setUint32(4, H);
  ihdr.set([8, colorType, 0, 0, interlace ? 1 : 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', palette));
  parts.push(chunk('IDAT', deflateSync(new Uint8Array(rows))), chunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts));
}

const grey = Uint8Array.from({ length: H * W }, (_, i) => (i * 7) & 255);
const paletteIdx = Uint8Array.from({ length: H * W }, (_, i) => i % 5);
const palette = new Uint8Array([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 224, 224, 192]);
const rgbaPng = (() => {
  const p = new PNG({ width: W, height: H });
  p.data = Buffer.from(rgba);
  return new Uint8Array(PNG.sync.write(p));
})();

const BASES: Record<string, Uint8Array> = {
  'rgb.jpg': encodeJpeg(rgba, H, W, 85),
  'rgb.png': encodePngRgb(rgb, H, W),
  'rgba.png': rgbaPng,
  'grey.png': encodePngGrey(grey, H, W),
  'palette.png': handPng(paletteIdx, 1, 3, false, palette),
  'interlaced.png': handPng(rgb, 3, 2, true),
};

const SIZES = [2 ** 32 - 1, 2 ** 31, 2 ** 31 - 1, 65535, 0x10000, 100000, 30000, 9000, 2 * H, W + 1, 1, 0];

/** IHDR width/height/bit depth/colour type set to odd values, with the CRC recomputed so they reach the decoder. */
const pngHeader: Mutation = (b, r) => {
  const c = b.slice();
  const dv = new DataView(c.buffer);
  const field = int(r, 4);
  let what: string;
  if (field < 2) {
    const v = pick(r, SIZES);
    dv.setUint32(16 + 4 * field, v);
    what = `IHDR ${field ? 'height' : 'width'} = ${v}`;
  } else if (field === 2) {
    c[24] = pick(r, [1, 2, 4, 8, 16, 0, 3, 255]);
    what = `IHDR bit depth = ${c[24]}`;
  } else {
    c[25] = pick(r, [0, 2, 3, 4, 6, 1, 5, 7, 255]);
    what = `IHDR colour type = ${c[25]}`;
  }
  if (r() < 0.8) dv.setUint32(29, crc32(c.subarray(12, 29)));
  else what += ' (stale CRC)';
  return { input: c, what };
};

/**
 * Pixel data changed below the CRC: compressed IDAT bits flipped, or the inflated rows' filter
 * bytes and samples changed and deflated again, with the chunk CRC recomputed (reaches zlib and
 * pngjs's row filters instead of stopping at the CRC check).
 */
const pngData: Mutation = (b, r) => {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 8;
  while (String.fromCharCode(...b.subarray(p + 4, p + 8)) !== 'IDAT') p += 12 + dv.getUint32(p);
  const len = dv.getUint32(p);
  let data = new Uint8Array(b.subarray(p + 8, p + 8 + len));
  let what: string;
  if (r() < 0.5) {
    const bit = int(r, data.length * 8);
    data[bit >> 3]! ^= 1 << (bit & 7);
    what = `IDAT compressed bit ${bit} flipped (CRC fixed)`;
  } else {
    const raw = inflateSync(data);
    const at = int(r, raw.length);
    raw[at] = pick(r, [5, 255, 4, 0, raw[at]! ^ 0x80]);
    data = deflateSync(raw);
    what = `IDAT raw byte ${at} = ${raw[at]} (re-deflated)`;
  }
  return { input: Buffer.concat([b.subarray(0, p), chunk('IDAT', data), b.subarray(p + 12 + len)]), what };
};

/** JPEG frame-header (SOF) height/width set to odd values, e.g. 65535x65535. */
const jpegHeader: Mutation = (b, r) => {
  const c = b.slice();
  for (let p = 2; p + 9 < c.length; ) {
    const m = c[p + 1]!;
    const len = (c[p + 2]! << 8) | c[p + 3]!;
    if (m === 0xc0) {
      const h = pick(r, [65535, 65535, 32768, 10000, 4096, 2 * H, H + 1, 1, 0]);
      const w = pick(r, [65535, 65535, 32768, 10000, 4096, 2 * W, W + 1, 1, 0]);
      c.set([h >> 8, h & 255, w >> 8, w & 255], p + 5);
      return { input: c, what: `SOF ${w}x${h}` };
    }
    p += 2 + len;
  }
  throw new Error('no SOF0 in the base JPEG');
};

const refusedAsData = (name: string) => (e: unknown) => namedRefusal(e, [DataError], name);

describe('image decoding under mutation', () => {
  it('the unmutated bases decode to their pixels (interlaced and palette PNGs included)', () => {
    for (const [name, b] of Object.entries(BASES)) {
      const d = decodeImage(b, name);
      expect([d.height, d.width], name).toEqual([H, W]);
      if (name === 'rgb.jpg') continue; // lossy
      for (let p = 0; p < H * W; p++) {
        const got = Array.from(d.data.subarray(p * 4, p * 4 + 4));
        const want = name === 'grey.png' ? [grey[p], grey[p], grey[p], 255]
          : name === 'palette.png' ? [...palette.subarray(paletteIdx[p]! * 3, paletteIdx[p]! * 3 + 3), 255]
            : name === 'rgba.png' ? Array.from(rgba.subarray(p * 4, p * 4 + 4)) : [...rgb.subarray(p * 3, p * 3 + 3), 255];
        if (got.join() !== want.join()) throw new Error(`${name}: pixel ${p} is ${got}, expected ${want}`);
      }
    }
  });

  it('huge declared sizes are refused from the header, allocating nothing', () => {
    const rss0 = process.memoryUsage().rss;
    const setPng = (w: number, h: number) => {
      const c = BASES['rgb.png']!.slice();
      const dv = new DataView(c.buffer);
      dv.setUint32(16, w);
      dv.setUint32(20, h);
      dv.setUint32(29, crc32(c.subarray(12, 29)));
      return c;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ['png-2^31.png', setPng(2 ** 31, 2 ** 31), /too wide|megapixel/],
      ['png-30000.png', setPng(30000, 30000), /megapixel limit/],
      ['png-9000.png', setPng(9000, 9000), /needs at least \d+ bytes, but the file has/],
      ['png-taller.png', setPng(W, H + 1), /pixel data holds \d+ of the \d+ bytes/],
      ['jpeg-65535.jpg', jpegHeader(BASES['rgb.jpg']!, () => 0).input, /65535x65535 \(height x width\) pixels, more than the 100-megapixel limit/],
    ];
    for (const [name, b, re] of cases) {
      const t0 = performance.now();
      expect(() => decodeImage(b, name), name).toThrow(DataError);
      expect(() => decodeImage(b, name), name).toThrow(re);
      expect(performance.now() - t0, name).toBeLessThan(500);
    }
    expect(MAX_IMAGE_PIXELS).toBe(100e6);
    expect((process.memoryUsage().rss - rss0) / 2 ** 20).toBeLessThan(64);
  });

  it(`${CASES} mutations of each base end in a correct decode or a DataError naming the file`, async () => {
    const tallies: Tally[] = [];
    for (const [k, [name, base]] of Object.entries(BASES).entries()) {
      const muts = name.endsWith('.jpg') ? [...byteMutations, jpegHeader, jpegHeader] : [...byteMutations, pngHeader, pngData, pngData];
      tallies.push(await fuzz({
        label: `decodeImage ${name}`,
        cases: CASES,
        seed: 100 + k,
        make: (r) => pick(r, muts)(base, r),
        run: (b) => {
          const d = decodeImage(b, name);
          // A decode is correct only if it is as big as it says.
          expect(d.height * d.width * d.channels).toBe(d.data.length);
          expect(d.height * d.width).toBeGreaterThan(0);
          expect(d.height * d.width).toBeLessThanOrEqual(MAX_IMAGE_PIXELS);
        },
        refusal: refusedAsData(name),
      }));
    }
    expect(tallies.reduce((n, t) => n + t.refused, 0)).toBeGreaterThan(0);
    expect(tallies.reduce((n, t) => n + t.ok, 0)).toBeGreaterThan(0);
  });
});

describe('dataset files under mutation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webfcn-fuzz-data-'));
  let root = '';
  let pre: Preprocessor;
  const files: string[] = [];
  const original = new Map<string, Uint8Array>();
  beforeAll(async () => {
    root = writeSyntheticDataset({ out: dir, classes: 3, train: 3, val: 1, size: [H, W], seed: 5 }).root;
    for (const sub of ['JPEGImages', 'SegmentationClass']) {
      for (const f of readdirSync(join(root, sub))) {
        const p = join(root, sub, f);
        files.push(p);
        original.set(p, new Uint8Array(readFileSync(p)));
      }
    }
    pre = await Preprocessor.create();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${Math.ceil(CASES / 3)} mutated images and masks: openVOC + decode gives valid samples, a DataError naming the file, or a skip`, async () => {
    const skipBadRuns = { count: 0, skipped: 0 };
    const t = await fuzz({
      label: 'openVOC + decode',
      cases: Math.ceil(CASES / 3),
      seed: 7,
      make: (r) => {
        const file = pick(r, files);
        const base = original.get(file)!;
        const muts = [...byteMutations, file.endsWith('.jpg') ? jpegHeader : pngHeader];
        const m = pick(r, muts)(base, r);
        return { input: { file, bytes: m.input, skipBad: r() < 0.3 }, what: `${file.slice(root.length)}: ${m.what}` };
      },
      run: async ({ file, bytes, skipBad }) => {
        for (const [p, b] of original) writeFileSync(p, b);
        writeFileSync(file, bytes);
        const ds = await openVOC(root, 'train', { preprocessor: pre, classes: 3, skipBad });
        if (skipBad) {
          skipBadRuns.count++;
          skipBadRuns.skipped += ds.skipped.length;
          for (const s of ds.skipped) expect(s.reason).toContain(s.file);
        }
        ds.decodeAll();
        for (let i = 0; i < ds.length; i++) {
          const s = ds.sample(i);
          expect(s.image.length).toBe(s.height * s.width * s.channels);
          for (const v of s.label) if (v >= 3 && v !== 255) throw new Error(`sample ${s.id}: label ${v}`);
        }
      },
      // The error may come from the file's partner (a label that no longer matches its image's
      // size names both files), so it must mention the mutated file's id.
      refusal: (e, { file }) => namedRefusal(e, [DataError], file.slice(file.lastIndexOf('/') + 1).replace(/\.\w+$/, '')),
    });
    console.log(`  skipBad runs ${skipBadRuns.count}, samples skipped ${skipBadRuns.skipped}`);
    expect(t.ok + t.refused).toBe(Math.ceil(CASES / 3));
    expect(t.refused).toBeGreaterThan(0);
  });

  it('a dataset image whose header claims 65535x65535 is refused before decoding', async () => {
    for (const [p, b] of original) writeFileSync(p, b);
    const jpg = files.find((f) => f.endsWith('.jpg'))!;
    const mask = jpg.replace('JPEGImages', 'SegmentationClass').replace(/\.jpg$/, '.png');
    writeFileSync(jpg, jpegHeader(original.get(jpg)!, () => 0).input);
    // A mask claiming the same size passes the open-time size check, so the decode must refuse it.
    const m = original.get(mask)!.slice();
    const dv = new DataView(m.buffer);
    dv.setUint32(16, 65535);
    dv.setUint32(20, 65535);
    dv.setUint32(29, crc32(m.subarray(12, 29)));
    writeFileSync(mask, m);
    const rss0 = process.memoryUsage().rss;
    const ds = await openVOC(root, 'train', { preprocessor: pre, classes: 3, skipBad: true });
    expect(ds.skipped.map((s) => s.file)).toEqual([jpg]);
    expect(ds.skipped[0]!.reason).toMatch(/65535x65535 \(height x width\) pixels, more than the 100-megapixel limit/);
    expect((process.memoryUsage().rss - rss0) / 2 ** 20).toBeLessThan(64);
  });
});
