// `webfcn synth`: a synthetic dataset in the VOC folder layout.
import { writeSyntheticDataset } from '../data/synth.js';
import { parseIntFlag, parseSize, UsageError } from './args.js';

export const synthHelp = `webfcn synth --out DIR [--classes K] [--train N] [--val N] [--size HxW] [--seed S]

Writes a synthetic segmentation dataset in the VOC folder layout (DIR/VOCdevkit/VOC2012).
It has K classes (background + shapes with their own textures and colour families, overlapping)
on textured backgrounds of any colour. Same seed, same bytes.

  --classes K   classes including background, 2..21 (default 5)
  --train N     training images (default 64)
  --val N       validation images (default 16)
  --size HxW    image size (default 128x160)
  --seed S      (default 0)`;

export const synthOptions = {
  out: { type: 'string' },
  classes: { type: 'string' },
  train: { type: 'string' },
  val: { type: 'string' },
  size: { type: 'string' },
  seed: { type: 'string' },
} as const;

export async function synth(v: Record<string, string | boolean | undefined>): Promise<void> {
  if (!v.out) throw new UsageError('--out DIR is required');
  const t0 = performance.now();
  const r = writeSyntheticDataset({
    out: v.out as string,
    classes: parseIntFlag('classes', (v.classes as string) ?? '5', 2, 21),
    train: parseIntFlag('train', (v.train as string) ?? '64', 1),
    val: parseIntFlag('val', (v.val as string) ?? '16', 1),
    size: parseSize('size', (v.size as string) ?? '128x160'),
    seed: parseIntFlag('seed', (v.seed as string) ?? '0', 0, 2 ** 32 - 1),
  });
  console.log(`wrote ${r.train.length} train + ${r.val.length} val images to ${r.root} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`classes: ${r.classNames.join(', ')}`);
}
