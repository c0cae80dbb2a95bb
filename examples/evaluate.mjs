// Evaluates a checkpoint on whole images: pixel accuracy, mean accuracy, mIoU, per-class IoU.
//
//   node examples/train.mjs && node examples/evaluate.mjs [--model runs/examples/model.safetensors]
//        [--data runs/examples/data] [--split val]
//
// The dataset is either a VOC-layout folder (--data; Node only) or, without it, images and labels
// held in memory ({ images: [{ data, width, height }], labels: [Uint8Array of class ids] }), the
// form that also works in browsers.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, renderSample } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/examples/model.safetensors' },
    data: { type: 'string' },
    split: { type: 'string', default: 'val' },
  },
});

const engine = await createEngine();
try {
  const { model } = await engine.load(readFileSync(args.model), basename(args.model));
  let dataset;
  if (args.data) {
    dataset = { path: args.data, split: args.split };
  } else {
    let seed = 11;
    const rng = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const images = [];
    const labels = [];
    for (let i = 0; i < 3; i++) {
      const s = renderSample(48, 64, model.classes, 1 + (i % (model.classes - 1)), rng);
      images.push({ data: s.rgba, width: 64, height: 48 });
      labels.push(s.label); // (H, W) class ids, 255 = ignore
    }
    dataset = { images, labels, name: 'rendered' };
  }
  const r = await engine.evaluate(dataset);
  console.log(`${r.images} images, ${r.pixels} labelled pixels, ${r.seconds.toFixed(1)} s`);
  console.log(`pixel accuracy ${r.pixelAccuracy.toFixed(4)}  mean accuracy ${r.meanAccuracy.toFixed(4)}  mIoU ${r.meanIoU.toFixed(4)}  fwIoU ${r.fwIoU.toFixed(4)}`);
  r.iou.forEach((x, i) => console.log(`  ${(r.classNames[i] ?? `class${i}`).padEnd(20)} IoU ${Number.isNaN(x) ? 'n/a' : x.toFixed(4)}`));
} finally {
  await engine.dispose();
}
