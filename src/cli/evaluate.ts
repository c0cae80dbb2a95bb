// `webfcn evaluate`: whole-split evaluation of a model on whole images (tiled, no crop).
import { openVOC } from '../data/dataset.js';
import { openCompute } from './compute.js';
import { evaluateWholeImages } from '../fcn/evaluate.js';
import { normalizeImage } from '../fcn/image.js';
import { UsageError, parseIntFlag } from './args.js';
import { loadModelFile } from './model-files.js';
import { stderrIsTTY } from './progress.js';

export const evaluateHelp = `webfcn evaluate --model CKPT --data DIR [--split val] [--classes K] [--json]

Evaluates a model on every pixel of every image of a split: whole images through the tiled
predictor, deterministic. Reports pixel accuracy, mean accuracy, mIoU, fwIoU and per-class IoU.

  --model CKPT   a webfcn checkpoint (.safetensors) or a PyTorch .pth state dict
  --data DIR     a VOC2012 folder, or one holding VOCdevkit/VOC2012
  --split NAME   the split list ImageSets/Segmentation/NAME.txt (default val)
  --classes K    only for a .pth that does not say its number of classes
  --json         print the result as JSON`;

export const evaluateOptions = {
  model: { type: 'string' },
  data: { type: 'string' },
  split: { type: 'string' },
  classes: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function evaluate(v: Record<string, string | boolean | undefined>): Promise<void> {
  if (!v.model) throw new UsageError('--model CKPT is required');
  if (!v.data) throw new UsageError('--data DIR is required');
  const classes = v.classes ? parseIntFlag('classes', v.classes as string, 2, 255) : undefined;
  const compute = await openCompute(v);
  try {
    const { model, checkpoint } = loadModelFile(compute, v.model as string, classes);
    const K = model.config.classes;
    const split = (v.split as string) ?? 'val';
    const ds = await openVOC(v.data as string, split, { classes: K });
    const t0 = performance.now();
    const meta = checkpoint.meta;
    function* images() {
      for (let i = 0; i < ds.length; i++) {
        const s = ds.sample(i);
        yield { image: normalizeImage(s.image, s.height, s.width, s.channels, meta, ds.pre), labels: s.label, height: s.height, width: s.width };
      }
    }
    const r = await evaluateWholeImages(model, images(), {
      onImage: (i) => {
        if (!v.json && stderrIsTTY()) process.stderr.write(`\revaluating ${i}/${ds.length}`);
      },
    });
    if (!v.json && stderrIsTTY()) process.stderr.write('\n');
    const seconds = (performance.now() - t0) / 1000;
    const names = meta.classNames;
    if (v.json) {
      console.log(JSON.stringify({ split, images: r.images, pixels: r.pixels, seconds, pixelAccuracy: r.pixelAccuracy, meanAccuracy: r.meanAccuracy, meanIoU: r.meanIoU, fwIoU: r.fwIoU, iou: Object.fromEntries(r.iou.map((x, i) => [names[i] ?? `class${i}`, Number.isNaN(x) ? null : x])) }, null, 2));
    } else {
      console.log(`${split}: ${r.images} images, ${r.pixels} labelled pixels, ${seconds.toFixed(1)} s`);
      console.log(`pixel accuracy ${r.pixelAccuracy.toFixed(4)}  mean accuracy ${r.meanAccuracy.toFixed(4)}  mIoU ${r.meanIoU.toFixed(4)}  fwIoU ${r.fwIoU.toFixed(4)}`);
      r.iou.forEach((x, i) => console.log(`  ${(names[i] ?? `class${i}`).padEnd(24)} IoU ${Number.isNaN(x) ? '  n/a' : x.toFixed(4)}`));
    }
    await model.dispose();
  } finally {
    compute.dispose();
  }
}
