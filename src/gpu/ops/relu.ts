// relu: y = max(x, 0); backward from the output, dx = dy · [y > 0].
import forwardWgsl from '../../../shaders/relu/forward.wgsl';
import backwardWgsl from '../../../shaders/relu/backward.wgsl';
import type { Gpu } from '../device.js';
import { elementwiseGrid, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import { checkSameShape, type Tensor } from '../tensor.js';

export const reluForwardKernel: KernelDef = { name: 'relu.forward', code: forwardWgsl };
export const reluBackwardKernel: KernelDef = { name: 'relu.backward', code: backwardWgsl };

/** Plans y = relu(x); y must not alias x (WebGPU forbids read and read_write views of one buffer in a dispatch). */
export function reluForward(gpu: Gpu, y: Tensor, x: Tensor, label?: string): Promise<Dispatch> {
  checkSameShape('relu.forward', { x, y });
  return makeDispatch(gpu, reluForwardKernel, {
    bindings: { x, y },
    uniforms: { n: x.size },
    workgroups: elementwiseGrid(gpu, x.size),
    label,
  });
}

/** Plans dx = dy · [y > 0], where y is relu's output. */
export function reluBackward(gpu: Gpu, dx: Tensor, dy: Tensor, y: Tensor, label?: string): Promise<Dispatch> {
  checkSameShape('relu.backward', { y, dy, dx });
  return makeDispatch(gpu, reluBackwardKernel, {
    bindings: { y, dy, dx },
    uniforms: { n: y.size },
    workgroups: elementwiseGrid(gpu, y.size),
    label,
  });
}
