// conv2d (dilation 1, groups 1), NCHW, PyTorch semantics. Three passes, explicit state:
//   forward:         y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C,kh,kw)) + b (K)        — overwrites y
//   backward-input:  dx(n,c,y,x) = Σ dy(n,k,oy,ox)·w(k,c,ky,kx) where oy·S+ky−P = y    — overwrites dx, or adds with accumulate
//   backward-weight: dw(k,c,ky,kx) += Σ_{n,oy,ox} dy(n,k,oy,ox)·x(n,c,oy·S−P+ky,ox·S−P+kx); db(k) += Σ dy — accumulates
// Forward and backward-input share one implicit-GEMM kernel family (shaders/conv2d/igemm_*.wgsl);
// transposed convolution (conv_transpose2d.ts) is the same three kernels with roles swapped.
// Activations larger than one storage binding are processed in chunks over N, each chunk
// binding an aligned sub-range.
import { choose } from '../autotune.js';
import { GpuError, type Gpu } from '../device.js';
import type { Dispatch } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import {
  checkParams, checkShapes, conv2dOutSize, igemmDefault, IGEMM_CANDIDATES, planBiasGrad, planIgemmWith, planWgradWith,
  scratchLike, WGRAD_CANDIDATES, wgradDefault, type Conv2dParams, type IgemmProblem,
} from './conv_gemm.js';
import { planWinograd, planWinogradWgrad, useWinograd, useWinogradWgrad } from './winograd.js';

export * from './conv_gemm.js';


/** Chooses a config (autotune) and plans the problem: as a Winograd convolution where that pays. */
async function planIgemm(gpu: Gpu, op: string, pr: IgemmProblem, label: string): Promise<Dispatch[]> {
  const tile = useWinograd(pr, gpu.policy.conv.winograd, gpu.policy.conv.winogradTile);
  if (tile) return planWinograd(gpu, op, pr, tile, label);
  const shapeKey = [pr.bwd ? 'bwd' : 'fwd', pr.N, pr.Cred, pr.IH, pr.IW, pr.Cols, pr.OH, pr.OW, pr.SH, pr.SW, pr.PH, pr.PW, pr.KH, pr.KW].join(',');
  const chosen = await choose(gpu, 'conv2d.igemm', shapeKey, IGEMM_CANDIDATES, igemmDefault(pr.Cols), async (c) => {
    const scratch = scratchLike(gpu, { inp: pr.inp, w: pr.w, out: pr.out, bias: pr.bias });
    const dispatches = await planIgemmWith(gpu, op, { ...pr, ...scratch, accumulate: false }, c, 'autotune');
    return { dispatches, release: () => Object.values(scratch).forEach((t) => t?.dispose()) };
  });
  return planIgemmWith(gpu, op, pr, chosen.config, label);
}
async function planWgrad(gpu: Gpu, op: string, dw: Tensor, dy: Tensor, x: Tensor, p: Conv2dParams, label: string): Promise<Dispatch[]> {
  const tile = useWinogradWgrad(p, gpu.policy.conv.winograd, gpu.policy.conv.winogradTile);
  if (tile) return planWinogradWgrad(gpu, op, dw, dy, x, p, tile, label);
  const shapeKey = Object.values(p).join(',');
  const chosen = await choose(gpu, 'conv2d.wgrad', shapeKey, WGRAD_CANDIDATES, wgradDefault(p), async (t) => {
    const s = scratchLike(gpu, { dw, dy, x });
    const dispatches = await planWgradWith(gpu, op, s.dw, s.dy, s.x, p, t, 'autotune');
    return { dispatches, release: () => Object.values(s).forEach((t) => t.dispose()) };
  });
  return planWgradWith(gpu, op, dw, dy, x, p, chosen.config, label);
}

// ---------------------------------------------------------------------------------------------
// Public conv2d API.

function shapes(p: Conv2dParams) {
  const { OH, OW } = conv2dOutSize(p);
  return {
    x: [p.N, p.C, p.H, p.W],
    w: [p.K, p.C, p.kh, p.kw],
    b: [p.K],
    y: [p.N, p.K, OH, OW],
    OH,
    OW,
  };
}

function validate(op: string, p: Conv2dParams): void {
  checkParams(op, p as unknown as Record<string, number>);
  const { OH, OW } = conv2dOutSize(p);
  if (OH < 1 || OW < 1) throw new GpuError(`output size ${OH}x${OW} is empty for ${JSON.stringify(p)}`, op);
}

/** Plans y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C,kh,kw)) + b (K); b may be null. Overwrites y. */
export async function conv2dForward(
  gpu: Gpu, y: Tensor, x: Tensor, w: Tensor, b: Tensor | null, p: Conv2dParams, label = '',
  /** True when no gradient will flow through y (eval mode): allows F(4×4) Winograd (winograd.ts, winogradTile). */
  inference = false,
): Promise<Dispatch[]> {
  const op = 'conv2d.forward';
  validate(op, p);
  const s = shapes(p);
  checkShapes(op, { x: { t: x, shape: s.x }, w: { t: w, shape: s.w }, b: { t: b, shape: s.b }, y: { t: y, shape: s.y } }, p);
  return planIgemm(gpu, op, {
    bwd: false, inp: x, w, bias: b, out: y,
    N: p.N, Cred: p.C, IH: p.H, IW: p.W, Cols: p.K, OH: s.OH, OW: s.OW,
    SH: p.strideH, SW: p.strideW, PH: p.padH, PW: p.padW, KH: p.kh, KW: p.kw,
    wsc: p.C * p.kh * p.kw, wsr: p.kh * p.kw, accumulate: false, inference,
  }, label);
}

/** Plans dx (N,C,H,W) = conv^T(dy (N,K,OH,OW), w (K,C,kh,kw)); overwrites dx, or adds to it when accumulate. */
export async function conv2dBackwardInput(
  gpu: Gpu, dx: Tensor, dy: Tensor, w: Tensor, p: Conv2dParams, accumulate = false, label = '',
): Promise<Dispatch[]> {
  const op = 'conv2d.backward_input';
  validate(op, p);
  const s = shapes(p);
  checkShapes(op, { dx: { t: dx, shape: s.x }, dy: { t: dy, shape: s.y }, w: { t: w, shape: s.w } }, p);
  return planBackwardInput(gpu, op, dx, dy, w, null, p, accumulate, label);
}

/** The gathered backward-input pass (also transposed conv's forward, with its bias). */
export function planBackwardInput(
  gpu: Gpu, op: string, dx: Tensor, dy: Tensor, w: Tensor, bias: Tensor | null, p: Conv2dParams, accumulate: boolean, label: string,
): Promise<Dispatch[]> {
  const { OH, OW } = conv2dOutSize(p);
  return planIgemm(gpu, op, {
    bwd: true, inp: dy, w, bias, out: dx,
    N: p.N, Cred: p.K, IH: OH, IW: OW, Cols: p.C, OH: p.H, OW: p.W,
    SH: p.strideH, SW: p.strideW, PH: p.padH, PW: p.padW, KH: p.kh, KW: p.kw,
    wsc: p.kh * p.kw, wsr: p.C * p.kh * p.kw, accumulate,
  }, label);
}

/** The implicit-GEMM forward pass for a validated conv (also transposed conv's backward-input). */
export function planForward(
  gpu: Gpu, op: string, y: Tensor, x: Tensor, w: Tensor, b: Tensor | null, p: Conv2dParams, accumulate: boolean, label: string,
): Promise<Dispatch[]> {
  const { OH, OW } = conv2dOutSize(p);
  return planIgemm(gpu, op, {
    bwd: false, inp: x, w, bias: b, out: y,
    N: p.N, Cred: p.C, IH: p.H, IW: p.W, Cols: p.K, OH, OW,
    SH: p.strideH, SW: p.strideW, PH: p.padH, PW: p.padW, KH: p.kh, KW: p.kw,
    wsc: p.C * p.kh * p.kw, wsr: p.kh * p.kw, accumulate,
  }, label);
}

/** The weight-gradient passes for a validated conv (also transposed conv's, operands swapped). */
export function planWeightGrad(gpu: Gpu, op: string, dw: Tensor, dy: Tensor, x: Tensor, p: Conv2dParams, label: string): Promise<Dispatch[]> {
  return planWgrad(gpu, op, dw, dy, x, p, label);
}

/** Plans dw (K,C,kh,kw) += Σ dy·x and db (K) += Σ dy (db may be null). Accumulates. */
export async function conv2dBackwardWeight(
  gpu: Gpu, dw: Tensor, db: Tensor | null, dy: Tensor, x: Tensor, p: Conv2dParams, label = '',
): Promise<Dispatch[]> {
  const op = 'conv2d.backward_weight';
  validate(op, p);
  const s = shapes(p);
  checkShapes(op, { dw: { t: dw, shape: s.w }, db: { t: db, shape: s.b }, dy: { t: dy, shape: s.y }, x: { t: x, shape: s.x } }, p);
  const ds = await planWgrad(gpu, op, dw, dy, x, p, label);
  if (db) ds.push(...(await planBiasGrad(gpu, op, db, dy, label)));
  return ds;
}
