// `webfcn predict`: class maps for images of any size (tiled), as colour PNGs and overlays.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { decodeImage, encodePngRgb } from '../data/codec.js';
import { colorize } from '../data/colormap.js';
import { findVOCRoot, readList } from '../data/dataset.js';
import { Preprocessor } from '../data/preprocess.js';
import { openCompute } from './compute.js';
import { writeFileAtomic } from '../io/atomic.js';
import { predictClasses } from '../fcn/predict.js';
import { normalizeImage } from '../fcn/image.js';
import { UsageError, parseIntFlag } from './args.js';
import { loadModelFile } from './model-files.js';
import { toRgb } from '../report/grid.js';

export const predictHelp = `webfcn predict --model CKPT (--input FILE|DIR | --data DIR [--split val]) --out DIR [options]

Predicts a class map for each image (JPEG or PNG, any size; overlapping tiles, logits averaged).
It writes <name>.png (the class map in the model's colour map) and <name>.overlay.png.

  --model CKPT   a webfcn checkpoint (.safetensors) or a PyTorch .pth state dict
  --input PATH   an image, or a folder of .jpg/.jpeg/.png images
  --data DIR     instead of --input: the images of a split of a VOC-layout dataset
  --split NAME   with --data (default val: images the model was not trained on)
  --out DIR      where the PNGs go (created if missing)
  --classes K    only for a .pth that does not say its number of classes
  --alpha A      overlay opacity of the class colours, 0..1 (default 0.5)`;

export const predictOptions = {
  model: { type: 'string' },
  input: { type: 'string' },
  data: { type: 'string' },
  split: { type: 'string' },
  out: { type: 'string' },
  classes: { type: 'string' },
  alpha: { type: 'string' },
} as const;

const IMAGE = /\.(jpe?g|png)$/i;

/** The image files to predict: --input (a file or a folder), or the images of --data's --split. */
function inputFiles(v: Record<string, string | boolean | undefined>): string[] {
  if (v.data) {
    if (v.input) throw new UsageError('give --input or --data, not both');
    const dir = findVOCRoot(v.data as string);
    const ids = readList(join(dir, 'ImageSets', 'Segmentation', `${(v.split as string | undefined) ?? 'val'}.txt`));
    return ids.map((id) => join(dir, 'JPEGImages', `${id}.jpg`));
  }
  if (v.split) throw new UsageError('--split goes with --data');
  const input = v.input as string;
  let files: string[];
  try {
    files = statSync(input).isDirectory() ? readdirSync(input).filter((f) => IMAGE.test(f)).sort().map((f) => join(input, f)) : [input];
  } catch {
    throw new Error(`${input}: no such file or folder`);
  }
  if (!files.length) throw new Error(`${input}: no .jpg/.jpeg/.png images`);
  return files;
}


export async function predict(v: Record<string, string | boolean | undefined>): Promise<void> {
  for (const f of ['model', 'out']) if (!v[f]) throw new UsageError(`--${f} is required`);
  if (!v.input && !v.data) throw new UsageError('--input FILE|DIR (or --data DIR) is required');
  const files = inputFiles(v);
  // Decode everything first: a corrupt image is reported before any GPU work.
  const images = files.map((f) => ({ file: f, img: decodeImage(readFileSync(f), f) }));
  const alpha = v.alpha ? Number(v.alpha) : 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha must be in [0, 1]; got '${v.alpha}'`);
  const classes = v.classes ? parseIntFlag('classes', v.classes as string, 2, 255) : undefined;
  const out = v.out as string;
  mkdirSync(out, { recursive: true });
  const pre = await Preprocessor.create();
  const compute = await openCompute(v);
  try {
    const { model, checkpoint } = loadModelFile(compute, v.model as string, classes);
    for (const { file, img } of images) {
      const t0 = performance.now();
      const pred = await predictClasses(model, normalizeImage(img.data, img.height, img.width, img.channels, checkpoint.meta, pre), img.height, img.width);
      const rgba = colorize(pred, checkpoint.meta.colormap, 4);
      const overlay = pre.overlay(img.data, img.channels, rgba, alpha);
      const png = (px: Uint8Array) => encodePngRgb(toRgb(px, img.height, img.width, 4).data, img.height, img.width);
      const name = basename(file, extname(file));
      await writeFileAtomic(join(out, `${name}.png`), png(rgba));
      await writeFileAtomic(join(out, `${name}.overlay.png`), png(overlay));
      const counts = new Map<number, number>();
      for (const c of pred) counts.set(c, (counts.get(c) ?? 0) + 1);
      const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, n]) => `${checkpoint.meta.classNames[c] ?? c} ${((100 * n) / pred.length).toFixed(0)}%`);
      console.log(`${file}: ${img.height}x${img.width} -> ${join(out, name)}.png (${(performance.now() - t0).toFixed(0)} ms; ${top.join(', ')})`);
    }
    await model.dispose();
  } finally {
    compute.dispose();
  }
}
