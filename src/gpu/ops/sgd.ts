// SGD over a flat parameter arena, torch.optim.SGD semantics (dampening 0). One dispatch per
// binding-sized range of the arena (one in practice); the learning rate is a uniform that
// setSgdLearningRate rewrites between steps without replanning.
import sgdWgsl from '../../../shaders/sgd/step.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { elementwiseGrid, makeDispatch, planSteps, setUniforms, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const sgdMomentumKernel: KernelDef = { name: 'sgd', code: sgdWgsl, entryPoint: 'with_momentum' };
export const sgdPlainKernel: KernelDef = { name: 'sgd', code: sgdWgsl, entryPoint: 'plain' };

export interface SgdParams {
  /** Elements to update (a prefix of the arena). */
  n: number;
  lr: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  /** Upper bound on elements per dispatch; defaults to what maxStorageBufferBindingSize allows. */
  maxChunk?: number;
}

/**
 * Plans params −= lr·d with d from grads (n) and, when momentum != 0, momentumBuf (n, starts
 * at 0, updated in place). params and momentumBuf are overwritten; grads is read.
 */
export async function sgdStep(gpu: Gpu, params: Tensor, grads: Tensor, momentumBuf: Tensor | null, p: SgdParams, label?: string): Promise<Dispatch[]> {
  const op = 'sgd';
  const { n, lr, weightDecay, momentum, nesterov } = p;
  if (!Number.isInteger(n) || n < 0) throw new GpuError(`n must be a non-negative integer, got ${n}`, op);
  for (const [name, t] of [['params', params], ['grads', grads], ['momentumBuf', momentumBuf]] as const) {
    if (t && (t.size < n || t.dtype !== 'f32')) throw new GpuError(`${name} must be f32 with at least n = ${n} elements, got ${t.dtype} [${t.shape.join(", ")}]`, op);
  }
  if (momentum !== 0 && !momentumBuf) throw new GpuError(`momentum ${momentum} needs a momentum buffer`, op);
  if (nesterov && momentum <= 0) throw new GpuError('nesterov needs momentum > 0 (as torch.optim.SGD)', op);
  if (momentum < 0 || weightDecay < 0 || !(lr >= 0)) throw new GpuError(`invalid lr ${lr}, momentum ${momentum} or weight decay ${weightDecay}`, op);
  // Sub-ranges start at multiples of the storage offset alignment (in elements).
  const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
  const byLimit = Math.floor(gpu.limits.maxStorageBufferBindingSize / 4 / align) * align;
  const chunk = Math.min(byLimit, p.maxChunk !== undefined ? Math.max(align, Math.floor(p.maxChunk / align) * align) : byLimit);
  const useMomentum = momentum !== 0;
  return planSteps(gpu, async ({ out }) => {
    for (let start = 0; start < n || (n === 0 && start === 0); start += chunk) {
      const len = Math.min(chunk, n - start);
      if (len <= 0) break;
      const bindings: Record<string, Tensor> = { p: params.view([len], start), g: grads.view([len], start) };
      if (useMomentum) bindings.buf = momentumBuf!.view([len], start);
      out.push(
        await makeDispatch(gpu, useMomentum ? sgdMomentumKernel : sgdPlainKernel, {
          bindings,
          uniforms: { n: len, lr, weight_decay: weightDecay, momentum, nesterov: nesterov ? 1 : 0 },
          workgroups: elementwiseGrid(gpu, len),
          label: label ?? (start === 0 ? undefined : `@${start}`),
        }),
      );
    }
  });
}

/** Sets the learning rate of planned sgdStep dispatches (takes effect from the next submit). */
export function setSgdLearningRate(gpu: Gpu, dispatches: readonly Dispatch[], lr: number): void {
  if (!(lr >= 0)) throw new GpuError(`invalid learning rate ${lr}`, 'sgd');
  for (const d of dispatches) setUniforms(gpu, d, { lr });
}
