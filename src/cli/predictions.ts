// The chapter's prediction figure: rows of input | prediction | ground truth for validation
// images, predicted whole (tiled) and coloured with the run's colour map.
import { colorize } from '../data/colormap.js';
import type { SegDataset } from '../data/dataset.js';
import type { CheckpointMeta } from '../fcn/checkpoint.js';
import type { Model } from '../fcn/backend.js';
import { predictClasses } from '../fcn/predict.js';
import { normalizeImage } from '../fcn/image.js';
import { gridPng, toRgb, type RgbImage } from '../report/grid.js';

/** PNG bytes of `n` rows (input | prediction | ground truth) from the first validation images. */
export async function predictionGrid(model: Model, ds: SegDataset, meta: CheckpointMeta, n: number): Promise<Uint8Array> {
  const rows: RgbImage[][] = [];
  for (let i = 0; i < Math.min(n, ds.length); i++) {
    const s = ds.sample(i);
    const pred = await predictClasses(model, normalizeImage(s.image, s.height, s.width, s.channels, meta, ds.pre), s.height, s.width);
    const colours = (ids: ArrayLike<number>): RgbImage => ({ data: colorize(ids, meta.colormap), height: s.height, width: s.width });
    rows.push([toRgb(s.image, s.height, s.width, s.channels), colours(pred), colours(s.label)]);
  }
  return gridPng(rows);
}
