// Softmax cross-entropy over the channel dim of (N, K, H, W) logits with (N, H, W) u32 labels,
// ignore label 255. Per-image losses are the mean over ALL H·W pixels with ignored pixels
// contributing 0 (the d2l chapter's F.cross_entropy(reduction='none').mean(1).mean(1)); the
// batch also gets torchvision's mean over valid pixels. Labels >= K other than the ignore label
// are treated as ignored and counted in stats so the host can raise.
//
// Dispatches: per-pixel losses (and the gradient) with per-chunk partial sums, one-workgroup
// finalisation into losses (N) and stats, and for reduction 'mean' a rescale of the gradient by
// the valid count, which is only known after the finalisation.
import forwardWgsl from '../../../shaders/cross_entropy/forward.wgsl';
import finalizeWgsl from '../../../shaders/cross_entropy/finalize.wgsl';
import scaleWgsl from '../../../shaders/cross_entropy/scale.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, grid1d, makeDispatch, planSteps, type Dispatch, type KernelDef } from '../kernel.js';
import { scratch } from '../pool.js';
import { readBytes, type Tensor } from '../tensor.js';

export const crossEntropyForwardKernel: KernelDef = { name: 'cross_entropy.forward', code: forwardWgsl, entryPoint: 'forward' };
export const crossEntropyForwardBackwardKernel: KernelDef = { name: 'cross_entropy.forward_backward', code: forwardWgsl, entryPoint: 'forward_backward' };
export const crossEntropyFinalizeKernel: KernelDef = { name: 'cross_entropy.finalize', code: finalizeWgsl };
export const crossEntropyScaleKernel: KernelDef = { name: 'cross_entropy.scale', code: scaleWgsl };

/** Pixels per workgroup of the per-pixel pass (the WGSL's WG). */
const PIXELS = 256;

export interface CrossEntropyParams {
  N: number;
  K: number;
  H: number;
  W: number;
  /** 'sum': gradient of Σ_n losses(n) (the chapter's loss.sum()); 'mean': of the mean over valid pixels. */
  reduction: 'sum' | 'mean';
  ignoreIndex?: number;
  /**
   * (4) u32 tensor receiving [mean loss (f32 bits), valid pixels, bad labels, Σ losses (f32 bits)];
   * read it with readCrossEntropyStats. Defaults to a per-device scratch tensor.
   */
  stats?: Tensor;
  /**
   * For 'mean' with a batch split into this many equal micro-batches whose gradients are summed:
   * each micro-batch's gradient is additionally divided by it (default 1). 'sum' needs no
   * correction: Σ_n losses(n) adds up over micro-batches.
   */
  microBatches?: number;
}

export interface CrossEntropyStats {
  /** Mean loss over valid pixels of the batch (NaN when none is valid). */
  meanLoss: number;
  /** Σ_n losses(n). */
  sumLoss: number;
  validPixels: number;
  /** Labels >= K that are not the ignore label (the data is wrong if this is not 0). */
  badLabels: number;
}

function check(gpu: Gpu, op: string, p: CrossEntropyParams, losses: Tensor, logits: Tensor, labels: Tensor, dlogits: Tensor | null) {
  const { N, K, H, W } = p;
  for (const [name, v] of Object.entries({ N, K, H, W })) {
    if (!Number.isInteger(v) || v < 1) throw new GpuError(`${name} must be a positive integer, got ${v}`, op);
  }
  const ignoreIndex = p.ignoreIndex ?? 255;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < 0 || ignoreIndex > 0xffffffff) throw new GpuError(`bad ignoreIndex ${ignoreIndex}`, op);
  const parts = p.microBatches ?? 1;
  if (!Number.isInteger(parts) || parts < 1) throw new GpuError(`microBatches must be a positive integer, got ${parts}`, op);
  if (p.reduction !== 'sum' && p.reduction !== 'mean') throw new GpuError(`reduction must be 'sum' or 'mean', got '${p.reduction}'`, op);
  const want: Array<[string, Tensor | null | undefined, readonly number[], boolean]> = [
    ['logits', logits, [N, K, H, W], true],
    ['dlogits', dlogits, [N, K, H, W], true],
    ['labels', labels, [N, H, W], false],
    ['losses', losses, [N], true],
    ['stats', p.stats, [4], false],
  ];
  for (const [name, t, shape, float] of want) {
    if (!t) continue;
    const ok = (float ? t.dtype === 'f32' : t.dtype !== 'f32') && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!ok) throw new GpuError(`${name} must be ${float ? 'f32' : 'u32'} [${shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`, op);
  }
  const HW = H * W;
  if (HW >= 1 << 24) throw new GpuError(`H·W = ${HW} exceeds 2^24 (exact per-image pixel counts)`, op);
  const P = ceilDiv(HW, PIXELS);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (P > maxDim || N > maxDim) throw new GpuError(`grid ${P}x${N} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`, op);
  return { HW, P, ignoreIndex };
}

async function plan(gpu: Gpu, op: string, losses: Tensor, dlogits: Tensor | null, logits: Tensor, labels: Tensor, p: CrossEntropyParams, label?: string): Promise<Dispatch[]> {
  const { HW, P, ignoreIndex } = check(gpu, op, p, losses, logits, labels, dlogits);
  const partials = scratch(gpu, 'cross_entropy.partials', p.N * P * 3); // (N, P, 3)
  const stats = p.stats ?? scratch(gpu, 'cross_entropy.stats', 4); // (4)
  const uniforms = { K: p.K, HW, ignore_index: ignoreIndex, grad_scale: p.reduction === 'sum' ? 1 / HW : 1 };
  return planSteps(gpu, async ({ out }) => {
    out.push(
    await makeDispatch(gpu, dlogits ? crossEntropyForwardBackwardKernel : crossEntropyForwardKernel, {
      bindings: dlogits ? { logits, labels, partials, dlogits } : { logits, labels, partials },
      uniforms,
      workgroups: [P, p.N],
      label,
    }));
    out.push(await makeDispatch(gpu, crossEntropyFinalizeKernel, {
      bindings: { partials, losses, stats },
      uniforms: { N: p.N, P, HW },
      workgroups: [1],
      label,
    }));
    if (dlogits && p.reduction === 'mean') {
    out.push(
      await makeDispatch(gpu, crossEntropyScaleKernel, {
        bindings: { stats, dlogits },
        uniforms: { n: dlogits.size, inv_parts: 1 / (p.microBatches ?? 1) },
        workgroups: grid1d(gpu, dlogits.size, 256),
        label,
      }),
    );
  }
  });
}

/**
 * Plans losses (N) and dlogits (N, K, H, W), both OVERWRITTEN, from logits (N, K, H, W) and
 * labels (N, H, W). dlogits is the gradient of Σ_n losses(n) ('sum') or of the batch mean over
 * valid pixels ('mean'); p.stats (4) receives the batch statistics.
 */
export async function crossEntropyForwardBackward(
  gpu: Gpu,
  losses: Tensor,
  dlogits: Tensor,
  logits: Tensor,
  labels: Tensor,
  p: CrossEntropyParams,
  label?: string,
): Promise<Dispatch[]> {
  return plan(gpu, 'cross_entropy.forward_backward', losses, dlogits, logits, labels, p, label);
}

/** Plans losses (N) (OVERWRITTEN) and p.stats without a gradient, for evaluation. */
export async function crossEntropyForward(gpu: Gpu, losses: Tensor, logits: Tensor, labels: Tensor, p: Omit<CrossEntropyParams, 'reduction'> & { reduction?: 'sum' | 'mean' }, label?: string): Promise<Dispatch[]> {
  return plan(gpu, 'cross_entropy.forward', losses, null, logits, labels, { ...p, reduction: p.reduction ?? 'sum' }, label);
}

/** Reads a stats tensor written by the cross-entropy dispatches (waits for submitted work). */
export async function readCrossEntropyStats(stats: Tensor): Promise<CrossEntropyStats> {
  const raw = await readBytes(stats.gpu, stats.buffer, stats.offset, 16);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  return { meanLoss: f[0]!, validPixels: u[1]!, badLabels: u[2]!, sumLoss: f[3]! };
}

/** The default stats tensor used when p.stats is not given. */
export function defaultCrossEntropyStats(gpu: Gpu): Tensor {
  return scratch(gpu, 'cross_entropy.stats', 4).reshape([4]);
}
