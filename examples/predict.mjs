// Loads a checkpoint, predicts the class of every pixel of an image, and writes PNGs.
//
//   node examples/train.mjs && node examples/predict.mjs [--model runs/examples/model.safetensors]
//        [--image some.jpg] [--out runs/examples/predict]
//
// Without --image it predicts a synthetic image (written as input.png). Writes classes.png (the
// class colours) and overlay.png (the image blended with them).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, decodeImage, encodePngRgb, renderSample } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/examples/model.safetensors' },
    image: { type: 'string' },
    out: { type: 'string', default: 'runs/examples/predict' },
  },
});
mkdirSync(args.out, { recursive: true });

/** (H, W, 4) RGBA → PNG bytes. */
const rgbaPng = (rgba, height, width) => {
  const rgb = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  return encodePngRgb(rgb, height, width);
};

let image;
if (args.image) {
  image = decodeImage(readFileSync(args.image), args.image); // { data, width, height, channels }
} else {
  let seed = 7;
  const rng = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const { rgba } = renderSample(48, 80, 4, 1, rng);
  image = { data: rgba, width: 80, height: 48, channels: 4 };
  writeFileSync(join(args.out, 'input.png'), rgbaPng(rgba, 48, 80));
}
const { width, height } = image;

const engine = await createEngine();
try {
  const loaded = await engine.load(readFileSync(args.model), basename(args.model));
  console.log(`model: ${args.model} (${loaded.format}), ${loaded.model.classes} classes: ${loaded.model.classNames.join(', ')}`);
  const t0 = performance.now();
  // The pixels move to the worker (image.data is detached here afterwards).
  const p = await engine.predict(image, { alpha: 0.5 });
  console.log(`predicted ${p.height}x${p.width} in ${(performance.now() - t0).toFixed(0)} ms`);
  const counts = new Map();
  for (const c of p.classes) counts.set(c, (counts.get(c) ?? 0) + 1);
  for (const [c, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${loaded.model.classNames[c] ?? c}: ${((100 * n) / p.classes.length).toFixed(1)}% of pixels`);
  }
  writeFileSync(join(args.out, 'classes.png'), rgbaPng(p.colors, height, width));
  writeFileSync(join(args.out, 'overlay.png'), rgbaPng(p.overlay, height, width));
  console.log(`wrote ${join(args.out, 'classes.png')} and ${join(args.out, 'overlay.png')}`);
} finally {
  await engine.dispose();
}
