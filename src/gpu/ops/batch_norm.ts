// batch_norm over NCHW, per channel over (N, H, W), PyTorch semantics (eps 1e-5, momentum 0.1,
// biased variance to normalise, unbiased variance into running_var).
//
// Train forward is three dispatches: per-chunk (count, mean, M2) with a workgroup reduction
// (forward_stats), an exact per-channel combination of the chunks that also updates the running
// statistics (forward_finalize), and the elementwise normalisation (forward, normalize_train).
// Each chunk computes its mean first and then Σ(x − mean)², and chunks are merged with Chan et
// al.'s formula, so the variance never suffers the E[x²] − E[x]² cancellation. Backward is the
// same shape: per-chunk Σdy and Σdy·x̂, per-channel totals (accumulated into dweight/dbias), and
// the elementwise dx. Chunk partials live in per-device scratch (pool.ts `scratch`).
import statsWgsl from '../../../shaders/batch_norm/forward_stats.wgsl';
import finalizeWgsl from '../../../shaders/batch_norm/forward_finalize.wgsl';
import forwardWgsl from '../../../shaders/batch_norm/forward.wgsl';
import reduceWgsl from '../../../shaders/batch_norm/backward_reduce.wgsl';
import backwardFinalizeWgsl from '../../../shaders/batch_norm/backward_finalize.wgsl';
import backwardWgsl from '../../../shaders/batch_norm/backward.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, makeDispatch, planSteps, specialize, type Dispatch, type KernelDef } from '../kernel.js';
import { scratch } from '../pool.js';
import type { Tensor } from '../tensor.js';

export const batchNormStatsKernel: KernelDef = { name: 'batch_norm.stats', code: statsWgsl };
export const batchNormFinalizeKernel: KernelDef = { name: 'batch_norm.finalize', code: finalizeWgsl };
export const batchNormTrainKernel: KernelDef = { name: 'batch_norm.forward', code: forwardWgsl, entryPoint: 'normalize_train' };
export const batchNormEvalKernel: KernelDef = { name: 'batch_norm.forward', code: forwardWgsl, entryPoint: 'normalize_eval' };
export const batchNormReduceKernel: KernelDef = { name: 'batch_norm.backward_reduce', code: reduceWgsl };
export const batchNormBackwardFinalizeKernel: KernelDef = { name: 'batch_norm.backward_finalize', code: backwardFinalizeWgsl };
export const batchNormBackwardKernel: KernelDef = { name: 'batch_norm.backward', code: backwardWgsl };

function withWorkgroup(k: KernelDef, wg: number): KernelDef {
  return specialize(k, { name: `${k.name}.wg${wg}`, values: { WG: wg } });
}

/**
 * CPU adapters get narrower reductions: llvmpipe runs a workgroup's invocations 8 at a time and
 * each workgroupBarrier of a tree reduction switches between them, so the per-channel finalize
 * passes (a few dozen partials each) run one invocation per channel, and the chunk reductions 8
 * invocations per chunk (measured: BENCHMARKS.md, "Kernel tuning history").
 */
const cpuVariants = new Map<KernelDef, KernelDef>([
  [batchNormStatsKernel, withWorkgroup(batchNormStatsKernel, 8)],
  [batchNormReduceKernel, withWorkgroup(batchNormReduceKernel, 8)],
  [batchNormFinalizeKernel, withWorkgroup(batchNormFinalizeKernel, 1)],
  [batchNormBackwardFinalizeKernel, withWorkgroup(batchNormBackwardFinalizeKernel, 1)],
]);

/** `k`, or its CPU-adapter variant on CPU adapters. */
function forAdapter(gpu: Gpu, k: KernelDef): KernelDef {
  return (gpu.policy.batchNorm.cpuVariants ?? gpu.report.software) ? cpuVariants.get(k) ?? k : k;
}

/** Elements of one channel reduced by one workgroup (64 per thread of 64). */
export const BATCH_NORM_CHUNK = 4096;
/** Threads per workgroup of the elementwise kernels (the WGSL's WG). */
const ELEMENTWISE_WG = 64;

/**
 * Grid of the elementwise kernels: (blocks, C, N) with `items` elements per thread, blocks of
 * H·W sized so that small planes do not leave most threads idle.
 */
function planeGrid(op: string, gpu: Gpu, p: BatchNormParams, HW: number) {
  const blocks = ceilDiv(HW, ELEMENTWISE_WG * 8);
  const items = ceilDiv(HW, blocks * ELEMENTWISE_WG);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (blocks > maxDim || p.C > maxDim || p.N > maxDim) {
    throw new GpuError(`grid ${blocks}x${p.C}x${p.N} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`, op);
  }
  return { items, workgroups: [blocks, p.C, p.N] as const };
}

export interface BatchNormParams {
  N: number;
  C: number;
  H: number;
  W: number;
  eps?: number;
  momentum?: number;
  /** Elements per reduction workgroup (default BATCH_NORM_CHUNK); smaller values only for tests. */
  chunk?: number;
}

/** Saved by the train forward for backward: batch mean and 1/sqrt(biased var + eps), each (C). */
export interface BatchNormSaved {
  mean: Tensor;
  invstd: Tensor;
}

function geometry(op: string, p: BatchNormParams) {
  const { N, C, H, W } = p;
  for (const [name, v] of Object.entries({ N, C, H, W })) {
    if (!Number.isInteger(v) || v < 1) throw new GpuError(`${name} must be a positive integer, got ${v}`, op);
  }
  const HW = H * W;
  const M = N * HW;
  const chunk = p.chunk ?? BATCH_NORM_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1) throw new GpuError(`chunk must be a positive integer, got ${chunk}`, op);
  const P = ceilDiv(M, chunk);
  return { HW, M, chunk, P };
}

function expectShape(op: string, tensors: Record<string, Tensor>, shape: readonly number[]): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'f32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new GpuError(`${name} must be f32 [${shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`, op);
    }
  }
}

/**
 * Plans y (N, C, H, W) = batch_norm(x). 'train': normalises with batch statistics, updates
 * runningMean/runningVar (C) in place and overwrites saved.mean/invstd (C); 'eval': uses the
 * running statistics and touches nothing but y.
 */
export async function batchNormForward(
  gpu: Gpu,
  y: Tensor,
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  saved: BatchNormSaved,
  mode: 'train' | 'eval',
  p: BatchNormParams,
  label?: string,
): Promise<Dispatch[]> {
  const op = `batch_norm.forward(${mode})`;
  const { HW, M, chunk, P } = geometry(op, p);
  const eps = p.eps ?? 1e-5;
  const momentum = p.momentum ?? 0.1;
  const act = [p.N, p.C, p.H, p.W];
  expectShape(op, { x, y }, act);
  expectShape(op, { weight, bias, runningMean, runningVar }, [p.C]);
  const grid = planeGrid(op, gpu, p, HW);
  if (mode === 'eval') {
    return [
      await makeDispatch(gpu, batchNormEvalKernel, {
        bindings: { x, weight, bias, running_mean: runningMean, running_var: runningVar, y },
        uniforms: { C: p.C, HW, items: grid.items, eps },
        workgroups: grid.workgroups,
        label,
      }),
    ];
  }
  if (mode !== 'train') throw new GpuError(`mode must be 'train' or 'eval', got '${mode}'`, op);
  expectShape(op, { 'saved.mean': saved.mean, 'saved.invstd': saved.invstd }, [p.C]);
  if (M < 2) throw new GpuError(`expected more than 1 value per channel when training, got input [${act.join(', ')}]`, op);
  if (P > gpu.limits.maxComputeWorkgroupsPerDimension || p.C > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new GpuError(`grid ${P}x${p.C} exceeds maxComputeWorkgroupsPerDimension ${gpu.limits.maxComputeWorkgroupsPerDimension}`, op);
  }
  const partials = scratch(gpu, 'batch_norm.partials', p.C * P * 3); // (C, P, 3)
  return planSteps(gpu, async ({ out }) => {
    out.push(
      await makeDispatch(gpu, forAdapter(gpu, batchNormStatsKernel), {
        bindings: { x, partials },
        uniforms: { C: p.C, HW, M, chunk },
        workgroups: [P, p.C],
        label,
      }));
    out.push(
      await makeDispatch(gpu, forAdapter(gpu, batchNormFinalizeKernel), {
        bindings: { partials, mean: saved.mean, invstd: saved.invstd, running_mean: runningMean, running_var: runningVar },
        uniforms: { P, M, eps, momentum },
        workgroups: [p.C],
        label,
      }));
    out.push(
      await makeDispatch(gpu, batchNormTrainKernel, {
        bindings: { x, weight, bias, mean: saved.mean, invstd: saved.invstd, y },
        uniforms: { C: p.C, HW, items: grid.items, eps },
        workgroups: grid.workgroups,
        label,
      }));
  });
}

/**
 * Plans the training-mode backward: dx (N, C, H, W) is OVERWRITTEN, dweight and dbias (C) are
 * ACCUMULATED. x is the forward input, saved what the train forward stored.
 */
export async function batchNormBackward(
  gpu: Gpu,
  dx: Tensor,
  dweight: Tensor,
  dbias: Tensor,
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  saved: BatchNormSaved,
  p: BatchNormParams,
  label?: string,
): Promise<Dispatch[]> {
  const op = 'batch_norm.backward';
  const { HW, M, chunk, P } = geometry(op, p);
  const act = [p.N, p.C, p.H, p.W];
  expectShape(op, { dx, dy, x }, act);
  expectShape(op, { dweight, dbias, weight, 'saved.mean': saved.mean, 'saved.invstd': saved.invstd }, [p.C]);
  if (P > gpu.limits.maxComputeWorkgroupsPerDimension || p.C > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new GpuError(`grid ${P}x${p.C} exceeds maxComputeWorkgroupsPerDimension ${gpu.limits.maxComputeWorkgroupsPerDimension}`, op);
  }
  const grid = planeGrid(op, gpu, p, HW);
  const partials = scratch(gpu, 'batch_norm.partials', p.C * P * 2); // (C, P, 2)
  const sums = scratch(gpu, 'batch_norm.sums', p.C * 2); // (C, 2)
  return planSteps(gpu, async ({ out }) => {
    out.push(
      await makeDispatch(gpu, forAdapter(gpu, batchNormReduceKernel), {
        bindings: { x, dy, mean: saved.mean, invstd: saved.invstd, partials },
        uniforms: { C: p.C, HW, M, chunk },
        workgroups: [P, p.C],
        label,
      }));
    out.push(
      await makeDispatch(gpu, forAdapter(gpu, batchNormBackwardFinalizeKernel), {
        bindings: { partials, sums, dweight, dbias },
        uniforms: { P },
        workgroups: [p.C],
        label,
      }));
    out.push(
      await makeDispatch(gpu, batchNormBackwardKernel, {
        bindings: { x, dy, weight, mean: saved.mean, invstd: saved.invstd, sums, dx },
        uniforms: { C: p.C, HW, items: grid.items, M },
        workgroups: grid.workgroups,
        label,
      }));
  });
}
