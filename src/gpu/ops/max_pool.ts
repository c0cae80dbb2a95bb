// max_pool2d (PyTorch semantics: −inf padding, first maximum wins ties, floor output size) with
// the argmax indices saved for a gather-formulated backward.
import forwardWgsl from '../../../shaders/max_pool/forward.wgsl';
import backwardWgsl from '../../../shaders/max_pool/backward.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

/** Threads per workgroup along W and rows per thread (the WGSL's WG and ROWS). */
const WG = 64;
const ROWS = 4;

/** Window geometry is compiled in (override constants): one pipeline per (k, stride, pad). */
function kernels(p: MaxPoolParams): { forward: KernelDef; backward: KernelDef } {
  const constants = { K: p.k, S: p.stride, P: p.pad };
  return {
    forward: { name: 'max_pool.forward', code: forwardWgsl, constants },
    backward: { name: 'max_pool.backward', code: backwardWgsl, constants },
  };
}

export interface MaxPoolParams {
  N: number;
  C: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  pad: number;
}

/** Output height and width: floor((H + 2P − k)/S) + 1 (ceil_mode false). Throws on invalid geometry. */
export function maxPoolOutputSize(p: MaxPoolParams, op = 'max_pool'): [number, number] {
  const { N, C, H, W, k, stride, pad } = p;
  for (const [name, v] of Object.entries({ N, C, H, W, k, stride })) {
    if (!Number.isInteger(v) || v < 1) throw new GpuError(`${name} must be a positive integer, got ${v}`, op);
  }
  if (!Number.isInteger(pad) || pad < 0 || pad > k / 2) {
    throw new GpuError(`pad ${pad} must be an integer in [0, k/2 = ${k / 2}] (as PyTorch)`, op);
  }
  const OH = Math.floor((H + 2 * pad - k) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - k) / stride) + 1;
  if (OH < 1 || OW < 1) throw new GpuError(`input ${H}x${W} is smaller than the ${k}x${k} window with pad ${pad}`, op);
  return [OH, OW];
}

function checkShapes(op: string, p: MaxPoolParams, t: Record<string, [Tensor, readonly number[], 'float' | 'int']>): void {
  for (const [name, [tensor, shape, kind]] of Object.entries(t)) {
    const dtypeOk = kind === 'float' ? tensor.dtype === 'f32' : tensor.dtype !== 'f32';
    if (!dtypeOk || tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new GpuError(
        `${name} must be ${kind === 'float' ? 'f32' : 'u32/i32'} [${shape.join(', ')}] for k=${p.k} stride=${p.stride} pad=${p.pad}, got ${tensor.dtype} [${tensor.shape.join(', ')}]`,
        op,
      );
    }
  }
}

function uniforms(p: MaxPoolParams, OH: number, OW: number) {
  return { H: p.H, W: p.W, OH, OW };
}

/** Grid (column blocks, row blocks, planes): a thread per column and ROWS rows, plane = n·C + c. */
function grid(op: string, gpu: Gpu, p: MaxPoolParams, rows: number, cols: number): [number, number, number] {
  const planes = p.N * p.C;
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (planes > maxDim) throw new GpuError(`N·C = ${planes} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`, op);
  return [ceilDiv(cols, WG), ceilDiv(rows, ROWS), planes];
}

/** Plans y, indices (N, C, OH, OW) = max_pool2d(x (N, C, H, W)); both overwritten. indices hold iy·W + ix. */
export async function maxPool2dForward(gpu: Gpu, y: Tensor, indices: Tensor, x: Tensor, p: MaxPoolParams, label?: string): Promise<Dispatch> {
  const op = 'max_pool.forward';
  const [OH, OW] = maxPoolOutputSize(p, op);
  const out = [p.N, p.C, OH, OW];
  checkShapes(op, p, { x: [x, [p.N, p.C, p.H, p.W], 'float'], y: [y, out, 'float'], indices: [indices, out, 'int'] });
  return makeDispatch(gpu, kernels(p).forward, {
    bindings: { x, y, indices },
    uniforms: uniforms(p, OH, OW),
    workgroups: grid(op, gpu, p, OH, OW),
    label,
  });
}

/** Plans dx (N, C, H, W) from dy and the forward's indices (N, C, OH, OW); dx is OVERWRITTEN. */
export async function maxPool2dBackward(gpu: Gpu, dx: Tensor, dy: Tensor, indices: Tensor, p: MaxPoolParams, label?: string): Promise<Dispatch> {
  const op = 'max_pool.backward';
  const [OH, OW] = maxPoolOutputSize(p, op);
  const out = [p.N, p.C, OH, OW];
  checkShapes(op, p, { dx: [dx, [p.N, p.C, p.H, p.W], 'float'], dy: [dy, out, 'float'], indices: [indices, out, 'int'] });
  return makeDispatch(gpu, kernels(p).backward, {
    bindings: { dy, indices, dx },
    uniforms: uniforms(p, OH, OW),
    workgroups: grid(op, gpu, p, p.H, p.W),
    label,
  });
}
