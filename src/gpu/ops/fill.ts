// fill: t(i) = value, for zeroing gradients and resetting buffers inside a compute pass.
import fillWgsl from '../../../shaders/fill/fill.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { elementwiseGrid, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const fillKernel: KernelDef = { name: 'fill', code: fillWgsl };

/** The 32-bit pattern of `value` in `t`'s dtype. */
function bitsOf(t: Tensor, value: number): number {
  if (t.dtype === 'f32') return new Uint32Array(new Float32Array([value]).buffer)[0]!;
  if (!Number.isInteger(value)) throw new GpuError(`value ${value} is not an integer for a ${t.dtype} tensor [${t.shape.join(", ")}]`, 'fill');
  if (t.dtype === 'u32') {
    if (value < 0 || value > 0xffffffff) throw new GpuError(`value ${value} out of u32 range`, 'fill');
    return value >>> 0;
  }
  if (value < -0x80000000 || value > 0x7fffffff) throw new GpuError(`value ${value} out of i32 range`, 'fill');
  return value >>> 0;
}

/** Plans t(i) = value for every element of t (any shape, any dtype); overwrites t. */
export async function fill(gpu: Gpu, t: Tensor, value: number, label?: string): Promise<Dispatch> {
  return makeDispatch(gpu, fillKernel, {
    bindings: { out: t },
    uniforms: { n: t.size, bits: bitsOf(t, value) },
    workgroups: elementwiseGrid(gpu, t.size),
    label,
  });
}
