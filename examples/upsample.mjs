// The chapter's bilinear upsampling: a transposed convolution (kernel 4, stride 2, padding 1) whose
// weights are bilinear_kernel(3, 3, 4) doubles an image's height and width, run on the GPU.
//
//   node examples/upsample.mjs [--image some.png] [--out runs/examples/upsample] [--scale 2]
//
// Without --image it upsamples a synthetic image (written as input.png); writes output.png.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine, decodeImage, encodePngRgb, renderSample } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({
  options: { image: { type: 'string' }, out: { type: 'string', default: 'runs/examples/upsample' }, scale: { type: 'string', default: '2' } },
});
mkdirSync(args.out, { recursive: true });

const rgbaPng = (rgba, height, width) => {
  const rgb = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  return encodePngRgb(rgb, height, width);
};

let image;
if (args.image) {
  image = decodeImage(readFileSync(args.image), args.image);
} else {
  let seed = 3;
  const rng = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const { rgba } = renderSample(40, 60, 4, 2, rng);
  image = { data: rgba, width: 60, height: 40, channels: 4 };
  writeFileSync(join(args.out, 'input.png'), rgbaPng(rgba, 40, 60));
}
const [H, W] = [image.height, image.width];

const engine = await createEngine(); // no model needed
try {
  const t0 = performance.now();
  const y = await engine.upsample(image, Number(args.scale));
  console.log(`input image shape: ${H}x${W}, output image shape: ${y.height}x${y.width} (${(performance.now() - t0).toFixed(0)} ms)`);
  writeFileSync(join(args.out, 'output.png'), rgbaPng(y.data, y.height, y.width));
  console.log(`wrote ${join(args.out, 'output.png')}`);
} finally {
  await engine.dispose();
}
