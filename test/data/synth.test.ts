// The synthetic dataset: reproducible bytes, K classes present, classes that differ by shape and
// texture, with colour families that hint at the class without naming it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVOC } from '../../src/data/dataset.js';
import { mulberry32 } from '../../src/data/rng.js';
import {
  CLASS_HUE_SPREAD, classHue, classLook, renderSample, SYNTH_SHAPES, SYNTH_TEXTURES, syntheticClassNames, writeSyntheticDataset,
} from '../../src/data/synth.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'webfcn-synth-'));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function files(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.set(rel + e.name, readFileSync(join(d, e.name)));
    }
  };
  walk(root, '');
  return out;
}

describe('writeSyntheticDataset', () => {
  it('same seed → identical files; different seed → different images', () => {
    const opts = { classes: 5, train: 6, val: 2, size: [40, 48] as [number, number], border: 1 };
    const a = files(writeSyntheticDataset({ ...opts, out: tmp(), seed: 7 }).root);
    const b = files(writeSyntheticDataset({ ...opts, out: tmp(), seed: 7 }).root);
    const c = files(writeSyntheticDataset({ ...opts, out: tmp(), seed: 8 }).root);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    expect(a.size).toBe(2 * 8 + 2 + 1); // images, labels, two lists, class_names.txt
    for (const [k, v] of a) expect(v.equals(b.get(k)!), k).toBe(true);
    const images = [...a.keys()].filter((k) => k.endsWith('.jpg'));
    expect(images.length).toBe(8);
    for (const k of images) expect(a.get(k)!.equals(c.get(k)!), k).toBe(false);
    expect(a.get('ImageSets/Segmentation/train.txt')!.toString()).toBe(c.get('ImageSets/Segmentation/train.txt')!.toString());
  });

  it('writes K classes, all present in each split, through the VOC reader', async () => {
    const k = 8;
    const { root, train, val, classNames } = writeSyntheticDataset({ out: tmp(), classes: k, train: 14, val: 7, size: [48, 64], seed: 3 });
    expect(classNames.length).toBe(k);
    expect(train.length).toBe(14);
    expect(val.length).toBe(7);
    for (const split of ['train', 'val']) {
      const ds = await openVOC(root, split, { classes: k });
      const counts = new Array(256).fill(0);
      for (let i = 0; i < ds.length; i++) for (const v of ds.sample(i).label) counts[v]++;
      for (let c = 0; c < k; c++) expect(counts[c], `class ${c} in ${split}`).toBeGreaterThan(20);
      expect(counts.slice(k).reduce((x, y) => x + y, 0)).toBe(0);
    }
  });

  it('is fast enough: 64 images of 128x160 in a few seconds', () => {
    const t = performance.now();
    writeSyntheticDataset({ out: tmp(), classes: 21, train: 64, val: 0, size: [128, 160], seed: 1 });
    const s = (performance.now() - t) / 1000;
    expect(s).toBeLessThan(20); // ~1.5–3 s here; generous for loaded machines
  });
});

describe('classes differ by shape and texture; colour only hints', () => {
  it('each (shape, texture) pair belongs to one class; shapes and textures are distinct patterns', () => {
    const pairs = new Set<string>();
    for (let c = 1; c <= 20; c++) pairs.add(classLook(c).join(','));
    expect(pairs.size).toBe(20);
    expect(new Set(syntheticClassNames(21)).size).toBe(21);
    const grid = (f: (u: number, v: number) => number | boolean) => {
      const out: number[] = [];
      for (let y = -1; y <= 1; y += 0.02) for (let x = -1; x <= 1; x += 0.02) out.push(Number(f(x, y)));
      return out;
    };
    const agree = (a: number[], b: number[]) => a.filter((v, i) => v === b[i]).length / a.length;
    const shapes = SYNTH_SHAPES.map(([, f]) => grid(f));
    for (let i = 0; i < shapes.length; i++) for (let j = i + 1; j < shapes.length; j++) {
      expect(agree(shapes[i]!, shapes[j]!), `${SYNTH_SHAPES[i]![0]} vs ${SYNTH_SHAPES[j]![0]}`).toBeLessThan(0.95);
    }
    const tex = SYNTH_TEXTURES.map(([, f]) => grid((u, v) => f(u * 30, v * 30, 6)));
    for (let i = 0; i < tex.length; i++) for (let j = i + 1; j < tex.length; j++) {
      expect(agree(tex[i]!, tex[j]!), `${SYNTH_TEXTURES[i]![0]} vs ${SYNTH_TEXTURES[j]![0]}`).toBeLessThan(0.9);
    }
  });

  it('objects are textured, colours vary per object, backgrounds are textured, objects occlude', () => {
    const means: number[][] = [];
    let occluded = 0;
    for (let i = 0; i < 30; i++) {
      const { rgba, label } = renderSample(64, 80, 4, 2, mulberry32(100 + i));
      // class 2 = square with a checkerboard: its pixels take two well separated colours
      const px: number[][] = [];
      label.forEach((v, p) => { if (v === 2) px.push([rgba[4 * p]!, rgba[4 * p + 1]!, rgba[4 * p + 2]!]); });
      if (px.length < 50) { occluded++; continue; }
      const distinct = new Set(px.map((c) => c.join(',')));
      expect(distinct.size).toBeGreaterThanOrEqual(2);
      means.push([0, 1, 2].map((c) => px.reduce((s, q) => s + q[c]!, 0) / px.length));
      const bg: number[] = [];
      label.forEach((v, p) => { if (v === 0) bg.push(rgba[4 * p]!); });
      const mu = bg.reduce((s, v) => s + v, 0) / bg.length;
      expect(Math.sqrt(bg.reduce((s, v) => s + (v - mu) ** 2, 0) / bg.length)).toBeGreaterThan(3);
    }
    expect(means.length).toBeGreaterThan(15);
    const spread = [0, 1, 2].map((c) => {
      const xs = means.map((m) => m[c]!);
      const mu = xs.reduce((s, v) => s + v, 0) / xs.length;
      return Math.sqrt(xs.reduce((s, v) => s + (v - mu) ** 2, 0) / xs.length);
    });
    for (const s of spread) expect(s).toBeGreaterThan(25);
    // Occlusion: objects of different classes overlap, so their regions share boundaries.
    let touching = 0;
    for (let i = 0; i < 40; i++) {
      const { label } = renderSample(64, 80, 6, 1, mulberry32(500 + i));
      let found = false;
      for (let p = 0; p + 1 < label.length && !found; p++) {
        const a = label[p]!, b = label[p + 1]!;
        found = a !== 0 && b !== 0 && a !== b && (p + 1) % 80 !== 0;
      }
      if (found) touching++;
    }
    expect(touching).toBeGreaterThan(5);
    expect(occluded).toBeLessThan(10);
  });

  it("each object's two colours come from its class's hue range, one light and one dark; backgrounds are any colour", () => {
    const hue = ([r, g, b]: number[]) => {
      const mx = Math.max(r!, g!, b!), mn = Math.min(r!, g!, b!), d = mx - mn;
      const h = mx === r ? ((g! - b!) / d) % 6 : mx === g ? (b! - r!) / d + 2 : (r! - g!) / d + 4;
      return (h * 60 + 360) % 360;
    };
    const dist = (a: number, b: number) => { const x = Math.abs(a - b) % 360; return Math.min(x, 360 - x); };
    const luma = ([r, g, b]: number[]) => 0.299 * r! + 0.587 * g! + 0.114 * b!;
    let pairs = 0;
    let bgOutside = 0;
    for (let i = 0; i < 40; i++) {
      const k = 4;
      const { rgba, label } = renderSample(64, 80, k, 1 + (i % 3), mulberry32(900 + i));
      for (let c = 1; c < k; c++) {
        const colours = new Map<string, number[]>();
        label.forEach((v, p) => { if (v === c) colours.set(`${rgba[4 * p]},${rgba[4 * p + 1]},${rgba[4 * p + 2]}`, [rgba[4 * p]!, rgba[4 * p + 1]!, rgba[4 * p + 2]!]); });
        // Saturation >= 0.4 and value >= 0.25 keep the hue defined; 8-bit rounding moves it by < 2°.
        for (const col of colours.values()) expect(dist(hue(col), classHue(c)), `class ${c} colour ${col}`).toBeLessThanOrEqual(CLASS_HUE_SPREAD + 2);
        // Exactly two colours: one object of the class (or several that happen to share none): one light, one dark.
        if (colours.size === 2) {
          const [a, b] = [...colours.values()];
          expect(Math.abs(luma(a!) - luma(b!))).toBeGreaterThanOrEqual(80);
          pairs++;
        }
      }
      const p0 = label.indexOf(0);
      if (p0 >= 0 && dist(hue([rgba[4 * p0]!, rgba[4 * p0 + 1]!, rgba[4 * p0 + 2]!]), classHue(1)) > CLASS_HUE_SPREAD + 10) bgOutside++;
    }
    expect(pairs).toBeGreaterThan(20);
    // The background takes any colour: a good share of its pixels lie outside class 1's hue range.
    expect(bgOutside).toBeGreaterThan(5);
    // Colour alone does not name a class: every two object classes' hue ranges overlap.
    for (let a = 1; a <= 20; a++) for (let b = a + 1; b <= 20; b++) expect(dist(classHue(a), classHue(b))).toBeLessThan(2 * CLASS_HUE_SPREAD);
  });

  it('texture periods are at least 6 pixels: stripes are bands of 3 pixels or more', () => {
    // Class 1 is circle/stripes. In images whose class-1 pixels take exactly two colours (one object,
    // or objects that occlude none of their own class), every run of one colour along a row that has
    // the other stripe colour on both sides crosses a whole band: a line cuts a band of width w over
    // a length >= w, and a half-open interval of length >= 3 holds >= 3 pixel centres.
    let runs = 0;
    for (let i = 0; i < 40; i++) {
      const H = 64, W = 96;
      const { rgba, label } = renderSample(H, W, 2, 1, mulberry32(1300 + i));
      const key = (p: number) => (label[p] === 1 ? rgba[4 * p]! * 65536 + rgba[4 * p + 1]! * 256 + rgba[4 * p + 2]! : -1);
      const colours = new Set<number>();
      for (let p = 0; p < H * W; p++) if (label[p] === 1) colours.add(key(p));
      if (colours.size !== 2) continue;
      for (let y = 0; y < H; y++) {
        // Runs of equal keys along the row: [key, length].
        const row: [number, number][] = [];
        for (let x = 0; x < W; x++) {
          const k = key(y * W + x);
          if (row.length && row[row.length - 1]![0] === k) row[row.length - 1]![1]++;
          else row.push([k, 1]);
        }
        for (let j = 1; j + 1 < row.length; j++) {
          if (row[j]![0] < 0 || row[j - 1]![0] < 0 || row[j + 1]![0] < 0) continue;
          expect(row[j]![1], `image ${i} row ${y}`).toBeGreaterThanOrEqual(3);
          runs++;
        }
      }
    }
    expect(runs).toBeGreaterThan(100);
  });
});
