// Trains FCN-ResNet18 on a small synthetic dataset through the engine worker and saves a checkpoint.
//
//   npm run build && node examples/train.mjs [--out runs/examples] [--epochs 2]
//
// Writes <out>/data (a VOC-layout folder: JPEG images, colour PNG labels) and <out>/model.safetensors
// (a webfcn checkpoint; predict.mjs and evaluate.mjs read it). Tiny sizes so it runs in seconds on a
// software GPU; the chapter's recipe is batch 32 at 320x480 crops.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, writeSyntheticDataset } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'runs/examples' }, epochs: { type: 'string', default: '2' } } });
const classes = 4;
const data = join(args.out, 'data');
mkdirSync(args.out, { recursive: true });
const synth = writeSyntheticDataset({ out: data, classes, train: 4, val: 2, size: [48, 64], seed: 0 });
console.log(`dataset: ${synth.train.length} train + ${synth.val.length} val images in ${synth.root}`);

const engine = await createEngine();
try {
  const { compute } = await engine.info();
  console.log(`device: ${compute.summary}`);
  const model = await engine.build({ classes, seed: 0 });
  console.log(`model: FCN-ResNet18 ${model.head}, ${model.classes} classes, ${(model.parameters / 1e6).toFixed(2)}M parameters`);

  const result = await engine.train(
    data, // a VOC-layout folder: the 'train' split; an in-memory { images, labels } works too
    { epochs: Number(args.epochs), batchSize: 2, crop: [32, 32], lr: 0.01, momentum: 0.9, seed: 0, validation: { path: data, split: 'val' } },
    (e) => {
      if (e.type === 'step') console.log(`  epoch ${e.epoch + 1} step ${e.step}/${e.stepsPerEpoch}  ${e.imagesPerSec.toFixed(2)} images/s`);
      else console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(3)}, train acc ${e.trainAccuracy.toFixed(3)}, test acc ${e.testAccuracy?.toFixed(3)}, ${e.seconds.toFixed(1)} s`);
    },
  );
  console.log(`trained ${result.steps} steps in ${result.seconds.toFixed(1)} s`);

  const bytes = await engine.save();
  const file = join(args.out, 'model.safetensors');
  writeFileSync(file, bytes);
  console.log(`saved ${file} (${(bytes.length / 2 ** 20).toFixed(1)} MiB)`);
} finally {
  await engine.dispose(); // frees the GPU and ends the worker, so the process exits
}
