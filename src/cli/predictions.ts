// The chapter's prediction figure: rows of input | prediction | ground truth for validation
// images, predicted whole (tiled) and coloured with the run's colour map.
import type { SegDataset } from '../data/dataset.js';
import type { CheckpointMeta } from '../fcn/checkpoint.js';
import type { FcnModel } from '../fcn/model.js';
import { predictClasses } from '../fcn/predict.js';
import { normalizeImage } from '../fcn/image.js';
import { gridPng, toRgb, type RgbImage } from '../report/grid.js';

/** Colours a class map with `colormap` (ignore label 255 and unknown ids -> white). */
export function colorize(classes: ArrayLike<number>, height: number, width: number, colormap: ReadonlyArray<readonly number[]>): RgbImage {
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) {
    const c = colormap[classes[i]!] ?? [255, 255, 255];
    data[i * 3] = c[0]!;
    data[i * 3 + 1] = c[1]!;
    data[i * 3 + 2] = c[2]!;
  }
  return { data, height, width };
}

/** PNG bytes of `n` rows (input | prediction | ground truth) from the first validation images. */
export async function predictionGrid(model: FcnModel, ds: SegDataset, meta: CheckpointMeta, n: number): Promise<Uint8Array> {
  const rows: RgbImage[][] = [];
  for (let i = 0; i < Math.min(n, ds.length); i++) {
    const s = ds.sample(i);
    const pred = await predictClasses(model, normalizeImage(s.image, s.height, s.width, s.channels, meta, ds.pre), s.height, s.width);
    rows.push([toRgb(s.image, s.height, s.width, s.channels), colorize(pred, s.height, s.width, meta.colormap), colorize(s.label, s.height, s.width, meta.colormap)]);
  }
  return gridPng(rows);
}
