// conv_transpose2d (PyTorch ConvTranspose2d, weight (Cin, Cout, kh, kw), no output padding,
// dilation 1, groups 1) is conv2d with the roles of input and output swapped (Caffe's
// deconvolution layer): for the conv c with K = Cin, C = Cout, H×W = this op's output size and
// the same kernel, stride and padding,
//   forward:         y  = c.backwardInput(dy := x, w := W) + b        — overwrites y
//   backward-input:  dx = c.forward(x := dy, w := W)                  — overwrites dx, or adds with accumulate
//   backward-weight: dW += c.weightGrad(dy := x, x := dy); db += Σ dy — accumulates
// W's layout (Cin, Cout, kh, kw) is exactly c's (K, C, kh, kw), so no kernel is duplicated.
import { GpuError, type Gpu } from '../device.js';
import type { Dispatch } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import {
  checkShapes,
  conv2dOutSize,
  planBackwardInput,
  planBiasGrad,
  planForward,
  planWeightGrad,
  type Conv2dParams,
} from './conv2d.js';

export interface ConvTranspose2dParams {
  N: number; Cin: number; H: number; W: number; Cout: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

/** Output spatial size: (H − 1)·S − 2P + k. */
export function convTranspose2dOutSize(p: ConvTranspose2dParams): { OH: number; OW: number } {
  return {
    OH: (p.H - 1) * p.strideH - 2 * p.padH + p.kh,
    OW: (p.W - 1) * p.strideW - 2 * p.padW + p.kw,
  };
}

/** The convolution whose backward-input pass is this transposed convolution. */
function asConv(op: string, p: ConvTranspose2dParams): Conv2dParams {
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new GpuError(`parameter ${k} = ${v} must be a non-negative integer`, op);
  }
  if (!(p.N >= 1 && p.kh >= 1 && p.kw >= 1 && p.strideH >= 1 && p.strideW >= 1)) {
    throw new GpuError(`N, kernel and stride must be >= 1 in ${JSON.stringify(p)}`, op);
  }
  const { OH, OW } = convTranspose2dOutSize(p);
  if (OH < 1 || OW < 1) throw new GpuError(`output size ${OH}x${OW} is empty for ${JSON.stringify(p)}`, op);
  const c: Conv2dParams = {
    N: p.N, C: p.Cout, H: OH, W: OW, K: p.Cin, kh: p.kh, kw: p.kw,
    strideH: p.strideH, strideW: p.strideW, padH: p.padH, padW: p.padW,
  };
  const back = conv2dOutSize(c);
  if (back.OH !== p.H || back.OW !== p.W) throw new GpuError(`inconsistent sizes for ${JSON.stringify(p)}`, op);
  return c;
}

function shapes(p: ConvTranspose2dParams) {
  const { OH, OW } = convTranspose2dOutSize(p);
  return { x: [p.N, p.Cin, p.H, p.W], w: [p.Cin, p.Cout, p.kh, p.kw], b: [p.Cout], y: [p.N, p.Cout, OH, OW] };
}

/** Plans y (N,Cout,OH,OW) = convT(x (N,Cin,H,W), w (Cin,Cout,kh,kw)) + b (Cout); b may be null. Overwrites y. */
export async function convTranspose2dForward(
  gpu: Gpu, y: Tensor, x: Tensor, w: Tensor, b: Tensor | null, p: ConvTranspose2dParams, label = '',
): Promise<Dispatch[]> {
  const op = 'conv_transpose2d.forward';
  const c = asConv(op, p);
  const s = shapes(p);
  checkShapes(op, { x: { t: x, shape: s.x }, w: { t: w, shape: s.w }, b: { t: b, shape: s.b }, y: { t: y, shape: s.y } }, p);
  return planBackwardInput(gpu, op, y, x, w, b, c, false, label);
}

/** Plans dx (N,Cin,H,W) = conv(dy (N,Cout,OH,OW), w); overwrites dx, or adds to it when accumulate. */
export async function convTranspose2dBackwardInput(
  gpu: Gpu, dx: Tensor, dy: Tensor, w: Tensor, p: ConvTranspose2dParams, accumulate = false, label = '',
): Promise<Dispatch[]> {
  const op = 'conv_transpose2d.backward_input';
  const c = asConv(op, p);
  const s = shapes(p);
  checkShapes(op, { dx: { t: dx, shape: s.x }, dy: { t: dy, shape: s.y }, w: { t: w, shape: s.w } }, p);
  return planForward(gpu, op, dx, dy, w, null, c, accumulate, label);
}

/** Plans dw (Cin,Cout,kh,kw) += Σ x·dy and db (Cout) += Σ dy (db may be null). Accumulates. */
export async function convTranspose2dBackwardWeight(
  gpu: Gpu, dw: Tensor, db: Tensor | null, dy: Tensor, x: Tensor, p: ConvTranspose2dParams, label = '',
): Promise<Dispatch[]> {
  const op = 'conv_transpose2d.backward_weight';
  const c = asConv(op, p);
  const s = shapes(p);
  checkShapes(op, { dw: { t: dw, shape: s.w }, db: { t: db, shape: s.b }, dy: { t: dy, shape: s.y }, x: { t: x, shape: s.x } }, p);
  const ds = await planWeightGrad(gpu, op, dw, x, dy, c, label);
  if (db) ds.push(...(await planBiasGrad(gpu, op, db, dy, label)));
  return ds;
}
