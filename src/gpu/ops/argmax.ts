// argmax over the channel dim: per-pixel class prediction from logits.
import argmaxWgsl from '../../../shaders/argmax/forward.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const argmaxKernel: KernelDef = { name: 'argmax', code: argmaxWgsl };

/** Plans out(n,y,x) = argmax_k logits(n,k,y,x), ties to the lowest k; out (N, H, W) u32, logits (N, K, H, W). */
export async function argmax(gpu: Gpu, out: Tensor, logits: Tensor, label?: string): Promise<Dispatch> {
  const [N, K, H, W] = logits.shape;
  if (logits.shape.length !== 4 || logits.dtype !== 'f32' || K! < 1) {
    throw new GpuError(`logits must be f32 (N, K, H, W) with K >= 1, got ${logits.dtype} [${logits.shape.join(", ")}]`, 'argmax');
  }
  if (out.dtype === 'f32' || out.shape.length !== 3 || out.shape[0] !== N || out.shape[1] !== H || out.shape[2] !== W) {
    throw new GpuError(`out must be u32/i32 [${N}, ${H}, ${W}], got ${out.dtype} [${out.shape.join(", ")}]`, 'argmax');
  }
  return makeDispatch(gpu, argmaxKernel, {
    bindings: { logits, out },
    uniforms: { K: K!, HW: H! * W! },
    workgroups: [ceilDiv(H! * W!, 256), N!],
    label,
  });
}
