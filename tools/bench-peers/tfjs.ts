// TensorFlow.js peer for `webfcn bench`: the same FCN-ResNet18 (ResNet-18 backbone, 1x1 score
// conv, bilinear-initialised conv2dTranspose k64/s32/p16 head) written with tfjs ops in NHWC,
// timed for one SGD training step (BatchNorm in training mode through tf.moments, per-pixel
// softmax cross-entropy, gradients by optimizer.minimize) and one inference pass.
//
//   node --import ./tools/register.js tools/bench-peers/tfjs.ts --backend webgpu|wasm
//     --batch B --size HxW --infer-batch B --infer-size HxW --classes K --steps N [--stat median|min]
//     [--dawn opengles|default|swiftshader]
//
// Prints one JSON line (the last line of stdout): { peer, backend, train, infer, inferPixels, notes },
// where each timing is { ms, perSec } or { error }: infer starts from a float tensor already on the
// backend, inferPixels from RGB bytes on the host (upload and normalisation included, as webfcn's). Run in its own process so its GPU device never
// shares a queue with webfcn's.
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

// tfjs-core's Node bundle has no gradients registered (the umbrella package adds them): load
// its ES-module registration file, whose bundler-style imports need the resolve hook.
register('./resolve-hooks.js', import.meta.url);
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const size = (s: string): [number, number] => s.split('x').map(Number) as [number, number];
const backend = opt('backend', 'webgpu');
const B = Number(opt('batch', '1'));
const [H, W] = size(opt('size', '64x64'));
const IB = Number(opt('infer-batch', String(B)));
const [IH, IW] = size(opt('infer-size', `${H}x${W}`));
const K = Number(opt('classes', '21'));
const steps = Math.max(1, Number(opt('steps', '1')));
// The median of the timed runs, or the fastest (--stat min, for machines shared with other work).
const useMin = opt('stat', 'median') === 'min';
const dawn = opt('dawn', 'opengles');
const skipTrain = args.includes('--no-train');
const notes: string[] = [];

/** Gives tfjs-backend-webgpu a navigator.gpu backed by Dawn on the same backend webfcn uses. */
async function installDawn(): Promise<void> {
  const { create, globals } = (await import('webgpu')) as unknown as {
    create(flags: string[]): GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, globals);
  const flags = dawn === 'opengles' ? ['backend=opengles'] : dawn === 'swiftshader' ? ['backend=vulkan'] : [];
  if (dawn === 'opengles' && !process.env.DISPLAY && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  if (dawn === 'swiftshader' && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const gpu = create(flags);
  const compat = dawn !== 'default';
  // OpenGL ES and SwiftShader adapters exist only in compatibility mode; tfjs asks for core.
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  (gpu as { requestAdapter: GPU['requestAdapter'] }).requestAdapter = (o?: GPURequestAdapterOptions) =>
    requestAdapter(compat ? ({ ...(o ?? {}), featureLevel: 'compatibility' } as GPURequestAdapterOptions) : o);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  // Keep the instance referenced for the process's life.
  (globalThis as Record<string, unknown>).__dawnInstance = gpu;
}

type Conv = { w: tf.Variable; stride: number; pad: number };
type BN = { gamma: tf.Variable; beta: tf.Variable; runningMean: tf.Tensor1D; runningVar: tf.Tensor1D };
type Block = { c1: Conv; b1: BN; c2: Conv; b2: BN; down: { c: Conv; b: BN } | null };

function heNormal(shape: [number, number, number, number]): tf.Tensor4D {
  // Kaiming normal, fan_out (torchvision's ResNet init): std = sqrt(2 / (outC·k·k)); HWIO layout.
  const [kh, kw, , outC] = shape;
  return tf.randomNormal(shape, 0, Math.sqrt(2 / (outC * kh * kw)), 'float32', 1);
}

function bilinear(k: number, c: number): tf.Tensor4D {
  // The chapter's bilinear_kernel, channel i -> i; tfjs conv2dTranspose filters are (kh, kw, out, in).
  const factor = Math.floor((k + 1) / 2);
  const center = k % 2 === 1 ? factor - 1 : factor - 0.5;
  const w = new Float32Array(k * k * c * c);
  for (let y = 0; y < k; y++)
    for (let x = 0; x < k; x++) {
      const f = (1 - Math.abs(y - center) / factor) * (1 - Math.abs(x - center) / factor);
      for (let i = 0; i < c; i++) w[((y * k + x) * c + i) * c + i] = f;
    }
  return tf.tensor4d(w, [k, k, c, c]);
}

function makeModel() {
  const conv = (inC: number, outC: number, k: number, stride: number, pad: number): Conv => ({
    w: tf.variable(heNormal([k, k, inC, outC])),
    stride,
    pad,
  });
  const bn = (c: number): BN => ({
    gamma: tf.variable(tf.ones([c])), beta: tf.variable(tf.zeros([c])), runningMean: tf.zeros([c]), runningVar: tf.ones([c]),
  });
  const stem = conv(3, 64, 7, 2, 3);
  const bn1 = bn(64);
  const blocks: Block[] = [];
  let inC = 64;
  [64, 128, 256, 512].forEach((outC, stage) => {
    for (let b = 0; b < 2; b++) {
      const s = stage > 0 && b === 0 ? 2 : 1;
      blocks.push({
        c1: conv(inC, outC, 3, s, 1),
        b1: bn(outC),
        c2: conv(outC, outC, 3, 1, 1),
        b2: bn(outC),
        down: s !== 1 || inC !== outC ? { c: conv(inC, outC, 1, s, 0), b: bn(outC) } : null,
      });
      inC = outC;
    }
  });
  const finalW = tf.variable(tf.randomUniform([1, 1, 512, K], -Math.sqrt(6 / (512 + K)), Math.sqrt(6 / (512 + K)), 'float32', 2));
  const finalB = tf.variable(tf.zeros([K]));
  const upW = tf.variable(bilinear(64, K));
  const upB = tf.variable(tf.zeros([K]));

  const applyConv = (x: tf.Tensor4D, c: Conv): tf.Tensor4D =>
    tf.conv2d(x, c.w as tf.Tensor4D, c.stride, c.pad === 0 ? 'valid' : c.pad);
  const applyBn = (x: tf.Tensor4D, b: BN, training: boolean): tf.Tensor4D => {
    // Eval mode: running statistics (fresh ones: the timing does not depend on their values).
    if (!training) return tf.batchNorm(x, b.runningMean, b.runningVar, b.beta as tf.Tensor1D, b.gamma as tf.Tensor1D, 1e-5);
    // Training mode: batch statistics over (N, H, W) per channel.
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, b.beta as tf.Tensor1D, b.gamma as tf.Tensor1D, 1e-5);
  };
  const forward = (x: tf.Tensor4D, training: boolean): tf.Tensor4D => {
    let h = tf.relu(applyBn(applyConv(x, stem), bn1, training));
    h = tf.maxPool(h, 3, 2, 1);
    for (const b of blocks) {
      let y = tf.relu(applyBn(applyConv(h, b.c1), b.b1, training));
      y = applyBn(applyConv(y, b.c2), b.b2, training);
      const sc = b.down ? applyBn(applyConv(h, b.down.c), b.down.b, training) : h;
      h = tf.relu(tf.add(y, sc)) as tf.Tensor4D;
    }
    const score = tf.add(tf.conv2d(h, finalW as tf.Tensor4D, 1, 'valid'), finalB) as tf.Tensor4D;
    const [n, sh, sw] = score.shape;
    // k64 / s32 / p16: output exactly 32x the score map, as PyTorch's ConvTranspose2d(64, 32, 16).
    const up = tf.conv2dTranspose(score, upW as tf.Tensor4D, [n, sh * 32, sw * 32, K], 32, 'same');
    return tf.add(up, upB) as tf.Tensor4D;
  };
  return { forward };
}

/** The chapter's loss: per-pixel softmax cross-entropy, mean over pixels per image, summed over the batch. */
function loss(logits: tf.Tensor4D, labels: tf.Tensor3D): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(labels, K);
  const nll = tf.neg(tf.sum(tf.mul(onehot, logp), -1));
  return tf.sum(tf.mean(nll, [1, 2]));
}

const median = (v: number[]) => (useMin ? Math.min(...v) : [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!);

/** The median (or fastest) of `steps` runs of an inference pass after one warm-up (shader compilation, kernel set-up), or why it failed. */
async function timeInference(run: () => Promise<number>): Promise<Record<string, unknown>> {
  try {
    await run();
    const times: number[] = [];
    for (let i = 0; i < steps; i++) times.push(await run());
    const ms = median(times);
    return { ms, perSec: (IB * 1000) / ms, batch: IB, size: [IH, IW] };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

async function main(): Promise<void> {
  let wasmBackend: { getThreadsCount(): number } | null = null;
  if (backend === 'webgpu') {
    await installDawn();
    await import('@tensorflow/tfjs-backend-webgpu');
  } else if (backend === 'wasm') {
    wasmBackend = await import('@tensorflow/tfjs-backend-wasm');
  } else {
    throw new Error(`unknown --backend ${backend} (webgpu or wasm)`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' failed to initialise`);
  await tf.ready();
  const model = makeModel();
  const out: Record<string, unknown> = { peer: `tfjs-${backend}`, backend: tf.getBackend(), version: tf.version_core, notes };
  if (wasmBackend) {
    // The build tfjs-wasm chose (threaded and/or SIMD), so the row says what limits it.
    out.threads = wasmBackend.getThreadsCount();
    out.simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'simd128' : 'no SIMD';
  }

  // Inference: forward in eval mode, then read the class map back (argmax), as webfcn's pass does.
  {
    const x = tf.randomNormal([IB, IH, IW, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const run = async () => {
      const t0 = performance.now();
      const pred = tf.tidy(() => tf.argMax(model.forward(x, false), -1));
      await pred.data();
      pred.dispose();
      return performance.now() - t0;
    };
    out.infer = await timeInference(run);
    x.dispose();
  }

  // The same pass from pixels, as webfcn's is timed: RGB bytes uploaded each pass (as int32, the
  // dtype tf.browser.fromPixels gives; tfjs has no uint8 tensors), normalised with tfjs ops on the
  // backend, then forward, argmax and the class-map readback.
  {
    const px = new Int32Array(IB * IH * IW * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    const mean = tf.tensor1d([0.485 * 255, 0.456 * 255, 0.406 * 255]);
    const invStd = tf.tensor1d([1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)]);
    const run = async () => {
      const t0 = performance.now();
      const pred = tf.tidy(() => {
        const x = tf.mul(tf.sub(tf.cast(tf.tensor4d(px, [IB, IH, IW, 3], 'int32'), 'float32'), mean), invStd) as tf.Tensor4D;
        return tf.argMax(model.forward(x, false), -1);
      });
      await pred.data();
      pred.dispose();
      return performance.now() - t0;
    };
    out.inferPixels = await timeInference(run);
    mean.dispose();
    invStd.dispose();
  }

  if (!skipTrain) {
    const x = tf.randomNormal([B, H, W, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = tf.randomUniformInt([B, H, W], 0, K, 5) as tf.Tensor3D;
    const optimizer = tf.train.sgd(0.001);
    const run = async () => {
      const t0 = performance.now();
      const l = optimizer.minimize(() => loss(model.forward(x, true), y), true);
      await l!.data();
      l!.dispose();
      return performance.now() - t0;
    };
    try {
      await run();
      const times: number[] = [];
      for (let i = 0; i < steps; i++) times.push(await run());
      const ms = median(times);
      out.train = { ms, perSec: 1000 / ms, batch: B, size: [H, W] };
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      const m = /Kernel '(\w+)' not registered/.exec(msg);
      out.train = { error: m ? `n/a: no ${m[1]} kernel` : msg };
    }
    x.dispose();
    y.dispose();
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stdout.write(`${JSON.stringify({ peer: `tfjs-${backend}`, error: (e as Error).message })}\n`);
    process.exit(1);
  },
);
