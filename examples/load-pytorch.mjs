// Loads a PyTorch state dict saved with torch.save (the d2l chapter's nn.Sequential model, or
// torchvision's key layout) and predicts an image with it.
//
//   node examples/load-pytorch.mjs [--model net.pth] [--out runs/examples/pytorch]
//
// On the PyTorch side:  torch.save(net.state_dict(), 'net.pth')  (net as built in the chapter).
// The default --model is the test suite's chapter model (`npm run golden:model` writes it).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, encodePngRgb, renderSample } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({
  options: { model: { type: 'string', default: 'test/golden/model/fcn_chapter.pth' }, out: { type: 'string', default: 'runs/examples/pytorch' } },
});
mkdirSync(args.out, { recursive: true });

let bytes;
try {
  bytes = readFileSync(args.model);
} catch {
  console.error(`${args.model}: not found; pass --model net.pth (or run \`npm run golden:model\` to write the default)`);
  process.exit(2);
}

const engine = await createEngine();
try {
  const t0 = performance.now();
  const { model, format, notes } = await engine.load(bytes, basename(args.model));
  console.log(`loaded ${args.model} (${format}) in ${(performance.now() - t0).toFixed(0)} ms: ${model.head}, ${model.classes} classes, ${(model.parameters / 1e6).toFixed(2)}M parameters`);
  for (const n of notes) console.log(`  note: ${n}`);

  let seed = 5;
  const rng = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const { rgba } = renderSample(64, 96, 4, 1, rng);
  const p = await engine.predict({ data: rgba, width: 96, height: 64 });
  const classes = new Set(p.classes);
  console.log(`predicted 64x96: ${classes.size} distinct classes (${[...classes].slice(0, 6).map((c) => model.classNames[c]).join(', ')})`);
  const rgb = new Uint8Array(64 * 96 * 3);
  for (let i = 0; i < 64 * 96; i++) rgb.set(p.colors.subarray(4 * i, 4 * i + 3), 3 * i);
  writeFileSync(join(args.out, 'classes.png'), encodePngRgb(rgb, 64, 96));
  console.log(`wrote ${join(args.out, 'classes.png')}`);
} finally {
  await engine.dispose();
}
