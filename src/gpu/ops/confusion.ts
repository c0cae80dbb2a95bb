// Confusion matrix on the GPU (integer atomics), as torchvision's references/segmentation/utils.py
// ConfusionMatrix; the metrics computed from it on the host are in src/fcn/metrics.ts.
import confusionWgsl from '../../../shaders/confusion/accumulate.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { grid1d, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

/** Largest K·K binned in workgroup memory (the WGSL's BINS). */
const LOCAL_BINS = 1024;
/** Pixels per workgroup of the workgroup-histogram path (WG · PIX in the WGSL). */
const LOCAL_PIXELS = 256 * 16;

export const confusionLocalKernel: KernelDef = { name: 'confusion', code: confusionWgsl, entryPoint: 'local_hist' };
export const confusionGlobalKernel: KernelDef = { name: 'confusion', code: confusionWgsl, entryPoint: 'global' };

/**
 * Plans conf(label·K + pred) += 1 over all pixels; conf (K·K) u32 ACCUMULATES (fill it with 0
 * to start an epoch). pred, labels (N, H, W) u32; labels >= K (255 = ignore) are skipped.
 */
export async function confusionAccumulate(gpu: Gpu, conf: Tensor, pred: Tensor, labels: Tensor, K: number, label?: string): Promise<Dispatch> {
  const op = 'confusion';
  if (!Number.isInteger(K) || K < 1) throw new GpuError(`K must be a positive integer, got ${K}`, op);
  if (conf.size !== K * K || conf.dtype === 'f32') throw new GpuError(`conf must be u32 with K·K = ${K * K} elements, got ${conf.dtype} [${conf.shape.join(", ")}]`, op);
  if (pred.size !== labels.size || pred.dtype === 'f32' || labels.dtype === 'f32') {
    throw new GpuError(`pred and labels must be integer tensors of one size, got ${pred.dtype} [${pred.shape.join(", ")}] and ${labels.dtype} [${labels.shape.join(", ")}]`, op);
  }
  const n = labels.size;
  const local = K * K <= LOCAL_BINS;
  return makeDispatch(gpu, local ? confusionLocalKernel : confusionGlobalKernel, {
    bindings: { pred, labels, conf },
    uniforms: { n, K },
    workgroups: local ? grid1d(gpu, n, LOCAL_PIXELS) : grid1d(gpu, n, 256),
    label,
  });
}
