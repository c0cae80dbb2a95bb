// The batch loader: epoch-seeded determinism, drop_last, batch contents against the TS twins,
// reused staging memory and whole-image evaluation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVOC, type SegDataset } from '../../src/data/dataset.js';
import { DataLoader, type HostBatch } from '../../src/data/loader.js';
import { Preprocessor } from '../../src/data/preprocess.js';
import { tsKernels } from '../../src/data/preprocess-ts.js';
import { writeSyntheticDataset } from '../../src/data/synth.js';

let dir: string;
let ds: SegDataset;
const CROP: [number, number] = [24, 32];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'webfcn-loader-'));
  writeSyntheticDataset({ out: dir, classes: 5, train: 10, val: 3, size: [36, 44], seed: 9, border: 1 });
  ds = await openVOC(dir, 'train', { crop: CROP, preprocessor: await Preprocessor.create() });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A batch's data copied out of wasm memory. */
function grab(l: DataLoader, b: HostBatch) {
  const v = l.views(b);
  return { ids: b.ids, crops: b.crops, images: v.images.slice(), labels: v.labels.slice() };
}

function same(a: ReturnType<typeof grab>, b: ReturnType<typeof grab>): boolean {
  return JSON.stringify([a.ids, a.crops]) === JSON.stringify([b.ids, b.crops]) &&
    Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer)) && Buffer.from(a.labels.buffer).equals(Buffer.from(b.labels.buffer));
}

describe('DataLoader', () => {
  it('drop_last: 10 samples in batches of 4 make 2 batches, or 3 (the last of 2) without it', () => {
    const a = new DataLoader(ds, { batchSize: 4, crop: CROP, seed: 1 });
    expect(a.batchesPerEpoch).toBe(2);
    expect([...a.epoch(0)].map((b) => b.size)).toEqual([4, 4]);
    const b = new DataLoader(ds, { batchSize: 4, crop: CROP, seed: 1, dropLast: false });
    expect([...b.epoch(0)].map((x) => x.size)).toEqual([4, 4, 2]);
    expect(() => new DataLoader(ds, { batchSize: 11, crop: CROP })).toThrow(/no full batch of 11/);
    expect(() => new DataLoader(ds, { batchSize: 2, crop: [37, 10] })).toThrow(/smaller than the 37x10 crop/);
  });

  it('each epoch visits every sample once, in an order and with crops seeded by (seed, epoch)', () => {
    const l = new DataLoader(ds, { batchSize: 5, crop: CROP, seed: 4 });
    const orders = [0, 1, 2].map((e) => [...l.epoch(e)].flatMap((b) => b.samples));
    for (const o of orders) expect([...o].sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(orders[0]).not.toEqual(orders[1]);
    const crops = [0, 1].map((e) => [...l.epoch(e)].flatMap((b) => b.samples.map((s, i) => `${s}:${b.crops[i]}`)).sort());
    expect(crops[0]).not.toEqual(crops[1]);
    const plain = new DataLoader(ds, { batchSize: 5, crop: CROP, seed: 4, shuffle: false });
    expect([...plain.epoch(3)].flatMap((b) => b.samples)).toEqual([...Array(10).keys()]);
  });

  it('same seed → same batches; epoch e depends only on (seed, e), so resuming replays it', () => {
    const a = new DataLoader(ds, { batchSize: 3, crop: CROP, seed: 7 });
    const b = new DataLoader(ds, { batchSize: 3, crop: CROP, seed: 7 });
    const c = new DataLoader(ds, { batchSize: 3, crop: CROP, seed: 8 });
    const seqA: ReturnType<typeof grab>[] = [];
    for (let e = 0; e < 3; e++) for (const x of a.epoch(e)) seqA.push(grab(a, x));
    // b jumps straight to epoch 2, batch 1 (a resume), then finishes the epoch
    const resumed = [...b.epoch(2, 1)].map((x) => grab(b, x));
    expect(resumed).toHaveLength(2);
    resumed.forEach((r, i) => expect(same(r, seqA[3 * 2 + 1 + i]!)).toBe(true));
    expect(same(grab(b, b.batch(0, 0)), seqA[0]!)).toBe(true);
    expect(same(grab(c, c.batch(0, 0)), seqA[0]!)).toBe(false);
  });

  it('batches hold the twin-computed crop of each sample; staging memory is reused', () => {
    const l = new DataLoader(ds, { batchSize: 4, crop: CROP, seed: 2 });
    const [h, w] = CROP;
    const first = l.batch(0, 0);
    const second = l.batch(0, 1);
    expect(second.slot).not.toBe(first.slot);
    const mem = ds.pre.allocated;
    for (let e = 1; e < 4; e++) for (const b of l.epoch(e)) {
      const v = l.views(b);
      b.samples.forEach((i, n) => {
        const s = ds.sample(i);
        const [y0, x0] = b.crops[n]!;
        const img = new Float32Array(3 * h * w);
        tsKernels.cropNormalize(s.image, s.height, s.width, s.channels, y0, x0, h, w, img, 0);
        const lbl = new Uint32Array(h * w);
        tsKernels.cropLabels(s.label, s.height, s.width, y0, x0, h, w, lbl, 0);
        expect(Buffer.from(v.images.slice(n * 3 * h * w, (n + 1) * 3 * h * w).buffer).equals(Buffer.from(img.buffer))).toBe(true);
        expect(Buffer.from(v.labels.slice(n * h * w, (n + 1) * h * w).buffer).equals(Buffer.from(lbl.buffer))).toBe(true);
      });
      expect([first.imagesPtr, second.imagesPtr]).toContain(b.imagesPtr);
    }
    expect(ds.pre.allocated).toBe(mem);
    const labels = new Set(l.views(l.batch(0, 0)).labels);
    expect(labels.has(255)).toBe(true);
    expect([...labels].every((v) => v < 5 || v === 255)).toBe(true);
  });

  it('evaluation yields whole images, normalised, with their labels', () => {
    const l = new DataLoader(ds, { batchSize: 4, crop: CROP });
    let n = 0;
    for (const b of l.evaluation()) {
      const s = ds.sample(b.index);
      expect([b.height, b.width, b.size]).toEqual([s.height, s.width, 1]);
      const want = new Float32Array(3 * s.height * s.width);
      tsKernels.cropNormalize(s.image, s.height, s.width, s.channels, 0, 0, s.height, s.width, want, 0);
      const v = l.views(b);
      expect(Buffer.from(v.images.slice().buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect([...v.labels]).toEqual([...s.label]);
      n++;
    }
    expect(n).toBe(ds.length);
  });
});
