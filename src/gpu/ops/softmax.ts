// Softmax over the channel dim on the GPU: per-class confidence maps from logits, cropped from a
// padded plan to the image, so only (N, K, H, W) f32 is read back.
import softmaxWgsl from '../../../shaders/softmax/channels.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { grid1d, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const softmaxKernel: KernelDef = { name: 'softmax.channels', code: softmaxWgsl };

/** Plans probs (N, K, H, W) f32 = softmax_k logits (N, K, TH, TW) over the top-left H × W. */
export async function softmaxChannels(gpu: Gpu, probs: Tensor, logits: Tensor, H: number, W: number, label?: string): Promise<Dispatch> {
  const [N, K, TH, TW] = logits.shape as [number, number, number, number];
  if (logits.shape.length !== 4 || logits.dtype !== 'f32' || K < 1 || K > 256 || TH < H || TW < W || !(H >= 1 && W >= 1)) {
    throw new GpuError(`logits must be f32 (N, K ≤ 256, TH ≥ ${H}, TW ≥ ${W}), got ${logits.dtype} [${logits.shape.join(', ')}]`, 'softmax.channels');
  }
  if (probs.dtype !== 'f32' || probs.shape.join(',') !== [N, K, H, W].join(',')) {
    throw new GpuError(`probs must be f32 [${N}, ${K}, ${H}, ${W}], got ${probs.dtype} [${probs.shape.join(', ')}]`, 'softmax.channels');
  }
  return makeDispatch(gpu, softmaxKernel, {
    bindings: { logits, probs },
    uniforms: { N, K, H, W, TH, TW },
    workgroups: grid1d(gpu, N * H * W, 64),
    label,
  });
}
