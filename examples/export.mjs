// Exports a model for other frameworks: a PyTorch .pth state dict and an ONNX model.
//
//   node examples/export.mjs [--model runs/examples/model.safetensors] [--out runs/examples/export]
//
// Without --model it builds a fresh FCN-ResNet18 (5 classes). On the PyTorch side the .pth loads with
//   net.load_state_dict(torch.load('model.pth', weights_only=True))   (net as built in the chapter)
// and model.onnx runs in onnxruntime (web, Node, Python, …): input 'images' (N, 3, H, W), normalised
// with the ImageNet mean and std, H and W multiples of 32; output 'logits' (N, K, H, W).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../dist/webfcn.node.js';

const { values: args } = parseArgs({ options: { model: { type: 'string' }, out: { type: 'string', default: 'runs/examples/export' } } });
mkdirSync(args.out, { recursive: true });

const engine = await createEngine();
try {
  const model = args.model ? (await engine.load(readFileSync(args.model), basename(args.model))).model : await engine.build({ classes: 5, seed: 1 });
  console.log(`model: ${model.head}, ${model.classes} classes`);
  for (const [file, options] of [
    ['model.pth', { format: 'pth', layout: 'chapter' }],
    ['model.onnx', { format: 'onnx' }],
  ]) {
    const t0 = performance.now();
    const bytes = await engine.export(options);
    writeFileSync(join(args.out, file), bytes);
    console.log(`wrote ${join(args.out, file)}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB in ${(performance.now() - t0).toFixed(0)} ms`);
  }
} finally {
  await engine.dispose();
}
