// The image ends of an inference pass on the GPU: RGBA u8 frames in (normalised there, so a frame
// uploads 4 bytes per pixel instead of 12), packed u8 class ids out (1 byte per pixel instead of 4).
import normalizeWgsl from '../../../shaders/image/normalize_rgba.wgsl';
import packedArgmaxWgsl from '../../../shaders/argmax/packed_u8.wgsl';
import { foldNormalisation } from '../../io/normalisation.js';
import { GpuError, type Gpu } from '../device.js';
import { grid1d, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

const normalizeKernel: KernelDef = { name: 'image.normalize_rgba', code: normalizeWgsl };
const packedArgmaxKernel: KernelDef = { name: 'argmax.packed_u8', code: packedArgmaxWgsl };

/** Per-channel scale and bias of (v/255 − mean)/std (foldNormalisation), after checking the statistics. */
export function normalizeConstants(mean: readonly number[], std: readonly number[]): { scale: number[]; bias: number[] } {
  if (mean.length !== 3 || std.length !== 3 || std.some((s) => !(s > 0))) {
    throw new GpuError(`mean ${JSON.stringify(mean)} and std ${JSON.stringify(std)} must be 3 values, std > 0`, 'image.normalize_rgba');
  }
  return foldNormalisation(mean, std);
}

/**
 * Plans out (N, 3, TH, TW) f32 = normalised rgba (N, H, W) u32 (packed RGBA, R in the low byte),
 * zero in the padding y ≥ H or x ≥ W.
 */
export async function normalizeRgba(
  gpu: Gpu, out: Tensor, rgba: Tensor, H: number, W: number, mean: readonly number[], std: readonly number[], label?: string,
): Promise<Dispatch> {
  const [N, C, TH, TW] = out.shape as [number, number, number, number];
  if (out.shape.length !== 4 || C !== 3 || out.dtype !== 'f32' || TH < H || TW < W) {
    throw new GpuError(`out must be f32 (N, 3, TH ≥ ${H}, TW ≥ ${W}), got ${out.dtype} [${out.shape.join(', ')}]`, 'image.normalize_rgba');
  }
  if (rgba.dtype !== 'u32' || rgba.size !== N * H * W) {
    throw new GpuError(`rgba must be u32 with ${N}x${H}x${W} pixels, got ${rgba.dtype} [${rgba.shape.join(', ')}]`, 'image.normalize_rgba');
  }
  const { scale, bias } = normalizeConstants(mean, std);
  return makeDispatch(gpu, normalizeKernel, {
    bindings: { rgba, out },
    uniforms: { N, H, W, TH, TW, sR: scale[0]!, sG: scale[1]!, sB: scale[2]!, bR: bias[0]!, bG: bias[1]!, bB: bias[2]! },
    workgroups: grid1d(gpu, N * TH * TW, 256),
    label,
  });
}

/** Plans out (ceil(N·H·W/4)) u32 = argmax_k logits (N, K, TH, TW) over the top-left H × W, four u8 ids per u32. */
export async function argmaxPacked(gpu: Gpu, out: Tensor, logits: Tensor, H: number, W: number, label?: string): Promise<Dispatch> {
  const [N, K, TH, TW] = logits.shape as [number, number, number, number];
  if (logits.shape.length !== 4 || logits.dtype !== 'f32' || K < 1 || K > 256 || TH < H || TW < W) {
    throw new GpuError(`logits must be f32 (N, K ≤ 256, TH ≥ ${H}, TW ≥ ${W}), got ${logits.dtype} [${logits.shape.join(', ')}]`, 'argmax.packed_u8');
  }
  const words = Math.ceil((N * H * W) / 4);
  if (out.dtype === 'f32' || out.size !== words) {
    throw new GpuError(`out must be u32 with ${words} words (${N}x${H}x${W} bytes), got ${out.dtype} [${out.shape.join(', ')}]`, 'argmax.packed_u8');
  }
  return makeDispatch(gpu, packedArgmaxKernel, {
    bindings: { logits, out },
    uniforms: { N, K, H, W, TH, TW },
    workgroups: grid1d(gpu, words, 64),
    label,
  });
}
