// Initialisers, as the chapter and torchvision define them.
import { Rng } from './random.js';

/**
 * The chapter's bilinear_kernel(in, out, k): a (in, out, k, k) transposed-conv weight that
 * upsamples by bilinear interpolation; only the diagonal channel pairs (i, i) are non-zero.
 */
export function bilinearKernel(inChannels: number, outChannels: number, k: number): Float32Array {
  const factor = Math.floor((k + 1) / 2);
  const center = k % 2 === 1 ? factor - 1 : factor - 0.5;
  const filt = new Float32Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) filt[i * k + j] = (1 - Math.abs(i - center) / factor) * (1 - Math.abs(j - center) / factor);
  }
  const w = new Float32Array(inChannels * outChannels * k * k);
  for (let c = 0; c < Math.min(inChannels, outChannels); c++) w.set(filt, (c * outChannels + c) * k * k);
  return w;
}

/** torchvision ResNet's conv init: kaiming_normal_(mode='fan_out', nonlinearity='relu'). */
export function kaimingNormalFanOut(shape: readonly number[], rng: Rng): Float32Array {
  const [outC, , kh = 1, kw = 1] = shape;
  const std = Math.sqrt(2 / (outC! * kh * kw));
  const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  return w;
}

/** fan_in / fan_out as torch.nn.init computes them: dim 1 / dim 0 times the receptive field. */
function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** xavier_uniform_: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform(shape: readonly number[], rng: Rng): Float32Array {
  const { fanIn, fanOut } = fans(shape);
  const a = Math.sqrt(6 / (fanIn + fanOut));
  const w = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-a, a);
  return w;
}

/** PyTorch's default conv bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of the layer's weight. */
export function defaultBias(weightShape: readonly number[], n: number, rng: Rng): Float32Array {
  const bound = 1 / Math.sqrt(fans(weightShape).fanIn);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.uniform(-bound, bound);
  return b;
}
