// add: out = a + b (residual joins) and acc += a (gradient of a sum reaching an input that
// already holds a gradient).
import addWgsl from '../../../shaders/add/add.wgsl';
import addIntoWgsl from '../../../shaders/add/add_into.wgsl';
import type { Gpu } from '../device.js';
import { elementwiseGrid, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import { checkSameShape, type Tensor } from '../tensor.js';

export const addKernel: KernelDef = { name: 'add', code: addWgsl };
export const addIntoKernel: KernelDef = { name: 'add.into', code: addIntoWgsl };

/** Plans out = a + b, all the same shape; out is overwritten and may not alias a or b (a and b may alias). */
export async function add(gpu: Gpu, out: Tensor, a: Tensor, b: Tensor, label?: string): Promise<Dispatch> {
  checkSameShape('add', { out, a, b });
  return makeDispatch(gpu, addKernel, {
    bindings: { a, b, out },
    uniforms: { n: out.size },
    workgroups: elementwiseGrid(gpu, out.size),
    label,
  });
}

/** Plans acc += a (same shape; acc ACCUMULATES and may not alias a). */
export async function addInto(gpu: Gpu, acc: Tensor, a: Tensor, label?: string): Promise<Dispatch> {
  checkSameShape('add.into', { acc, a });
  return makeDispatch(gpu, addIntoKernel, {
    bindings: { a, acc },
    uniforms: { n: acc.size },
    workgroups: elementwiseGrid(gpu, acc.size),
    label,
  });
}
