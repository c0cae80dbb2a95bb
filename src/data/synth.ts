// A synthetic segmentation dataset in the Pascal VOC folder layout, so it goes through the same
// reader as the real one: JPEG images, colour PNG labels in VOC_COLORMAP colours, ImageSets lists.
//
// The samples are drawn by synth-render.ts (shapes and textures; no file system, so browsers use
// it too). Everything is a pure function of (seed, split, image index): the same seed writes the
// same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { CLASS_NAMES_FILE } from './dataset.js';
import { join } from 'node:path';
import { encodeJpeg, encodePngRgb } from './codec.js';
import { IGNORE_LABEL, VOC_BORDER, VOC_COLORMAP } from './colormap.js';
import { hashSeed, mulberry32 } from './rng.js';
import { renderSample, syntheticClassNames } from './synth-render.js';

export interface SynthOptions {
  /** Folder to write; the dataset lands in <out>/VOCdevkit/VOC2012. */
  out: string;
  /** Number of classes K including the background, 2..21. */
  classes: number;
  /** Images in the train and val splits. */
  train: number;
  val: number;
  /** Image size [H, W]. */
  size: [number, number];
  seed: number;
  /** Width in pixels of a VOC-style ignore band (label 255) around objects; default 0 (none). */
  border?: number;
  /** The first `small` train images are made at half size (to exercise the reader's size filter). */
  small?: number;
  /** JPEG quality, default 90. */
  quality?: number;
}

export interface SynthResult {
  /** The VOC2012 folder. */
  root: string;
  train: string[];
  val: string[];
  /** Class names: 'background', then '<shape>/<texture>'. */
  classNames: string[];
}

export { CLASS_HUE_SPREAD, classHue, classLook, renderSample, SYNTH_SHAPES, SYNTH_TEXTURES, syntheticClassNames } from './synth-render.js';

/** Writes the dataset (see SynthOptions); returns the VOC2012 folder and the split ids. */
export function writeSyntheticDataset(opts: SynthOptions): SynthResult {
  const { out, classes: k, train, val, size, seed } = opts;
  if (!Number.isInteger(k) || k < 2 || k > VOC_COLORMAP.length) throw new Error(`writeSyntheticDataset: classes ${k}, expected 2..21`);
  const [H, W] = size;
  if (!(H >= 8 && W >= 8)) throw new Error(`writeSyntheticDataset: size [${size}] too small (min 8x8)`);
  const root = join(out, 'VOCdevkit', 'VOC2012');
  for (const d of ['JPEGImages', 'SegmentationClass', join('ImageSets', 'Segmentation')]) mkdirSync(join(root, d), { recursive: true });
  const result: SynthResult = { root, train: [], val: [], classNames: syntheticClassNames(k) };
  const splits: ['train' | 'val', number, number][] = [['train', train, 1], ['val', val, 2]];
  for (const [split, count, code] of splits) {
    for (let i = 0; i < count; i++) {
      const id = `${split}_${String(i).padStart(5, '0')}`;
      const small = split === 'train' && i < (opts.small ?? 0);
      const h = small ? Math.floor(H / 2) : H, w = small ? Math.floor(W / 2) : W;
      const rng = mulberry32(hashSeed(seed, code, i));
      const { rgba, label } = renderSample(h, w, k, 1 + (i % (k - 1)), rng, opts.border ?? 0);
      const rgb = new Uint8Array(h * w * 3);
      for (let p = 0; p < h * w; p++) rgb.set(label[p] === IGNORE_LABEL ? VOC_BORDER : VOC_COLORMAP[label[p]!]!, 3 * p);
      writeFileSync(join(root, 'JPEGImages', `${id}.jpg`), encodeJpeg(rgba, h, w, opts.quality ?? 90));
      writeFileSync(join(root, 'SegmentationClass', `${id}.png`), encodePngRgb(rgb, h, w));
      result[split].push(id);
    }
    writeFileSync(join(root, 'ImageSets', 'Segmentation', `${split}.txt`), result[split].map((s) => `${s}\n`).join(''));
  }
  // Class names for readers: openVOC uses them instead of the VOC names when present.
  writeFileSync(join(root, CLASS_NAMES_FILE), result.classNames.map((n) => `${n}\n`).join(''));
  return result;
}
