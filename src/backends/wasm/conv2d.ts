// conv2d and conv_transpose2d on the WebAssembly runtime as packed implicit GEMM (dilation 1,
// groups 1, NCHW, PyTorch semantics), with the same three passes and the same contracts as the
// WebGPU ops (src/gpu/ops/conv2d.ts):
//   forward:         y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C,kh,kw)) + b (K)            — overwrites y
//   backward-input:  dx(n,c,y,x) = Σ dy(n,k,oy,ox)·w(k,c,ky,kx) where oy·S+ky−P = y        — overwrites dx, or adds with accumulate
//   backward-weight: dw(k,c,ky,kx) += Σ_{n,oy,ox} dy(n,k,oy,ox)·x(n,c,oy·S−P+ky,ox·S−P+kx); db(k) += Σ dy — accumulates
// As GEMMs (R = kh·kw, P = OH·OW, col_n = im2col(x_n), (C·R, P)):
//   forward:         y_n (K, P)   = W (K, C·R) · col_n (C·R, P) + b
//   backward-input:  dcol_n (C·R, P) = Wᵀ (C·R, K) · dy_n (K, P);  dx_n = col2im(dcol_n)
//   backward-weight: dW (K, C·R) += dY (K, N·P) · colᵀ (N·P, C·R)   (the reduction runs over images)
// A 1×1 kernel with stride 1 and no padding has col_n = x_n and dcol_n = dx_n: no im2col/col2im.
// 3×3 stride-1 forward convolutions (and so stride-1 backward-input) run as Winograd F(2×2, 3×3).
// Images are processed in chunks so that the im2col/packing scratch stays under `scratchBudget`.
// Scratch is the plan's own arena regions, or, with a SharedScratch, one region that every step
// of a sequential plan reuses (allocated once after planning).
// Transposed convolution is conv with roles swapped (Caffe's deconvolution): its forward is conv's
// backward-input (+ bias), its backward-input conv's forward, its weight gradient conv's with x
// and dy exchanged; those whose kernel is a whole number of strides run by output phases or by
// direct kernels instead (useDirect, channelsScratch, usePhases below). All tensors are byte
// offsets in the runtime's memory.
import { gemm, NR, packA, packB, packedABytes, packedBBytes, splitK, splitKBytes, type Strided } from './gemm.js';
import { scratchRegions, type SharedScratch } from './memory.js';
import type { WasmRuntime } from './runtime.js';

export interface Conv2dParams {
  N: number; C: number; H: number; W: number; K: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

export interface ConvTranspose2dParams {
  N: number; Cin: number; H: number; W: number; Cout: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

/** One runnable step of a plan (replayed every training step). */
export interface Step {
  label: string;
  /**
   * How the step computes (for listings and tests): 'gemm' (im2col/packed GEMM), 'im2col-packed'
   * (the same with im2col writing the GEMM's packed panels directly), 'split-k' (the
   * same with the GEMM's K split over the pool), 'winograd', or 'phases' (a transposed convolution
   * with k = T·stride as one GEMM over its stride² output phases; '+split-k' when its K is split),
   * or 'direct' (such a transposed convolution by assembly/kernels/tconv-direct.ts, without GEMM).
   */
  variant?: 'gemm' | 'im2col-packed' | 'split-k' | 'winograd' | 'phases' | 'phases+split-k' | 'direct';
  run(): void;
}

/**
 * Planning options: the most scratch bytes one pass may use (whole images are never split),
 * whether 3×3 stride-1 convolutions run as Winograd F(2×2, 3×3), whether GEMMs with too few tiles
 * for the pool split their K (gemm.ts splitK), and whether transposed convolutions whose kernel is
 * a whole number of strides run by output phases (assembly/kernels/tconv.ts), and whether those
 * with strides and paddings that are multiples of 4 along the width run by direct kernels instead
 * (assembly/kernels/tconv-direct.ts), and whether GEMMs with a real im2col (not 1×1 stride 1) build
 * their packed columns straight from x: col for forward-shaped GEMMs (assembly/kernels/conv.ts
 * im2colPack), colᵀ for weight gradients (im2colPackT) — one pass, no separate col buffer.
 */
export const wasmConvOptions = { scratchBudget: 256 * 2 ** 20, winograd: true, splitK: true, tconvPhases: true, tconvDirect: true, directPack: true };

/** The K length of each part when this GEMM should split its K on this runtime (0: no split). */
function planSplit(rt: WasmRuntime, M: number, N: number, K: number, batch: number): number {
  return wasmConvOptions.splitK ? splitK(M, N, K, batch, rt.threads) : 0;
}

/**
 * Winograd F(2×2, 3×3) serves 3×3 stride-1 convolutions with enough channels and tiles to amortise
 * its transforms. Measured (bench:wasm, 160×256, batch 1, GFLOP per CPU-second): it wins from
 * layer1 to layer3 (40 to 640 tiles: 1.5–2.2× the im2col GEMM) and loses on layer4 (12 tiles:
 * 0.6×, the 16 transformed 512×512 weight matrices are read for a dozen columns).
 */
const WINOGRAD_MIN_TILES = 32;
function useWinograd(p: Conv2dParams): boolean {
  if (!(wasmConvOptions.winograd && p.kh === 3 && p.kw === 3 && p.strideH === 1 && p.strideW === 1 && p.padH <= 2 && p.padW <= 2)) return false;
  const { OH, OW } = conv2dOutSize(p);
  return p.C >= 8 && p.K >= 8 && p.N * Math.ceil(OH / 2) * Math.ceil(OW / 2) >= WINOGRAD_MIN_TILES;
}

export function conv2dOutSize(p: Conv2dParams): { OH: number; OW: number } {
  return { OH: Math.floor((p.H + 2 * p.padH - p.kh) / p.strideH) + 1, OW: Math.floor((p.W + 2 * p.padW - p.kw) / p.strideW) + 1 };
}

export function convTranspose2dOutSize(p: ConvTranspose2dParams): { OH: number; OW: number } {
  return { OH: (p.H - 1) * p.strideH - 2 * p.padH + p.kh, OW: (p.W - 1) * p.strideW - 2 * p.padW + p.kw };
}

/** Throws a clear error for a shape the kernels cannot run. */
export function checkConv2dParams(p: Conv2dParams, what = 'conv2d'): void {
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what}: ${k} must be a non-negative integer, got ${v}`);
  }
  for (const k of ['N', 'C', 'H', 'W', 'K', 'kh', 'kw', 'strideH', 'strideW'] as const) {
    if (p[k] < 1) throw new Error(`${what}: ${k} must be at least 1, got ${p[k]}`);
  }
  const { OH, OW } = conv2dOutSize(p);
  if (OH < 1 || OW < 1) throw new Error(`${what}: kernel ${p.kh}×${p.kw} does not fit the padded input ${p.H}×${p.W}`);
}

function isPointwise(p: Conv2dParams): boolean {
  return p.kh === 1 && p.kw === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0;
}

function geometry(p: Conv2dParams) {
  const { OH, OW } = conv2dOutSize(p);
  const P = OH * OW, CR = p.C * p.kh * p.kw;
  return { OH, OW, P, CR };
}

/** Images per chunk so that `perImage` scratch bytes × chunk ≤ the budget (at least 1). */
function chunkOf(N: number, perImage: number): number {
  return Math.max(1, Math.min(N, Math.floor(wasmConvOptions.scratchBudget / Math.max(1, perImage))));
}

/** im2col/col2im argument list for images starting at `x` (geometry shared by both). */
function colArgs(p: Conv2dParams, x: number, col: number, batch: number): number[] {
  const { OH, OW } = conv2dOutSize(p);
  return [x, p.C, p.H, p.W, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, OH, OW, col, batch];
}

/** Plans y = conv(x, w) + b. `b` may be 0 (no bias). Scratch comes from the runtime's arena. */
export function conv2dForward(rt: WasmRuntime, y: number, x: number, w: number, b: number, p: Conv2dParams, label = '', scratch?: SharedScratch): Step[] {
  checkConv2dParams(p);
  return planForward(rt, y, x, { ptr: w, sr: p.C * p.kh * p.kw, sk: 1 }, b, p, false, 'conv2d.forward', label, scratch);
}

/**
 * y [+]= conv(x, w) (+ b when overwriting): conv2d's forward, its stride-1 backward-input, and
 * conv_transpose2d's backward-input. `w` says where weight (k, c·kh·kw) lives (it may be a view
 * of another conv's weights, transposed and flipped).
 */
function planForward(
  rt: WasmRuntime, y: number, x: number, w: Strided, b: number, p: Conv2dParams, accumulate: boolean, op: string, label: string, scratch?: SharedScratch,
): Step[] {
  if (useWinograd(p)) return planWinograd(rt, y, x, w, b, p, accumulate, op, label, scratch);
  const { P, CR } = geometry(p);
  const pw = !isPointwise(p);
  const direct = pw && wasmConvOptions.directPack;
  const perImage = (pw && !direct ? CR * P * 4 : 0) + packedBBytes(CR, P);
  const chunk = chunkOf(p.N, perImage);
  const kLen = planSplit(rt, p.K, P, CR, chunk);
  const regions = scratchRegions(rt.arena, [
    { label: `${op}(${label}) packed weights`, bytes: packedABytes(p.K, CR) },
    { label: `${op}(${label}) im2col`, bytes: pw && !direct ? chunk * CR * P * 4 : 0 },
    { label: `${op}(${label}) packed columns`, bytes: chunk * packedBBytes(CR, P) },
    { label: `${op}(${label}) split-K parts`, bytes: splitKBytes(p.K, P, CR, chunk, kLen) },
  ], scratch);
  return [{
    label: `${op}(${label})`,
    variant: kLen > 0 ? 'split-k' : direct ? 'im2col-packed' : 'gemm',
    run() {
      const [pa, col, pb, parts] = regions() as [number, number, number, number];
      packA(rt, w, p.K, CR, pa);
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        const xs = x + n0 * p.C * p.H * p.W * 4;
        if (direct) {
          rt.run('im2colPack', [...colArgs(p, xs, pb, nb), packedBBytes(CR, P)]);
        } else if (pw) {
          rt.run('im2col', colArgs(p, xs, col, nb));
          packB(rt, { ptr: col, sr: 1, sk: P }, CR, P, pb, nb, CR * P * 4);
        } else {
          packB(rt, { ptr: xs, sr: 1, sk: P }, CR, P, pb, nb, CR * P * 4);
        }
        const ys = y + n0 * p.K * P * 4;
        if (kLen > 0) {
          gemm(rt, { M: p.K, N: P, K: CR, a: pa, b: pb, c: ys, ldc: P, cStride: p.K * P * 4, batch: nb, accumulate, split: { kLen, partials: parts } });
          if (b && !accumulate) rt.run('addBias', [ys, nb, p.K, P, b]);
        } else {
          gemm(rt, { M: p.K, N: P, K: CR, a: pa, b: pb, c: ys, ldc: P, cStride: p.K * P * 4, batch: nb, bias: b, accumulate });
        }
      }
    },
  }];
}

/**
 * y [+]= conv(x, w) (+ b) as Winograd F(2×2, 3×3) (assembly/kernels/winograd.ts): weights and
 * input tiles transformed straight into packed panels, 16 GEMMs M_ξ (K, T) = U_ξ (K, C)·V_ξ (C, T)
 * over the T = N·⌈OH/2⌉·⌈OW/2⌉ tiles, and the output transform (bias, accumulation, edge clipping).
 */
function planWinograd(
  rt: WasmRuntime, y: number, x: number, w: Strided, b: number, p: Conv2dParams, accumulate: boolean, op: string, label: string, scratch?: SharedScratch,
): Step[] {
  const { OH, OW } = conv2dOutSize(p);
  const TH = Math.ceil(OH / 2), TW = Math.ceil(OW / 2), tilesPerImage = TH * TW;
  const perImage = 16 * (packedBBytes(p.C, tilesPerImage) + p.K * tilesPerImage * 4);
  const chunk = chunkOf(p.N, perImage);
  // The 16 transformed matrices (weights, input tiles) and the 16 products are 16 streams the
  // transforms write (read) side by side: spaced a multiple of 4 KiB apart they would share L1
  // sets and alias in the store buffer, so each is padded to a stride ≡ 256 (mod 4096) bytes.
  const spaced = (bytes: number) => Math.ceil(bytes / 4096) * 4096 + 256;
  const aBytes = spaced(packedABytes(p.K, p.C));
  const vStride = (T: number) => spaced(packedBBytes(p.C, T)), mStride = (T: number) => spaced(p.K * T * 4);
  const regions = scratchRegions(rt.arena, [
    { label: `${op}(${label}) winograd weights`, bytes: 16 * aBytes },
    { label: `${op}(${label}) winograd input tiles`, bytes: 16 * vStride(chunk * tilesPerImage) },
    { label: `${op}(${label}) winograd products`, bytes: 16 * mStride(chunk * tilesPerImage) },
  ], scratch);
  return [{
    label: `${op}(${label})`,
    variant: 'winograd',
    run() {
      const [u, v, m] = regions() as [number, number, number];
      rt.run('winogradWeights', [w.ptr, p.K, p.C, w.sr, w.sk, w.period ?? p.C * 9, w.kStride ?? 0, u, aBytes]);
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0), T = nb * tilesPerImage;
        rt.run('winogradInput', [x + n0 * p.C * p.H * p.W * 4, nb, p.C, p.H, p.W, p.padH, p.padW, TH, TW, v, vStride(T)]);
        gemm(rt, { M: p.K, N: T, K: p.C, a: u, aStride: aBytes, b: v, bStride: vStride(T), c: m, ldc: T, cStride: mStride(T), batch: 16 });
        rt.run('winogradOutput', [m, y + n0 * p.K * OH * OW * 4, nb, p.K, OH, OW, TH, TW, b, accumulate ? 1 : 0, mStride(T)]);
      }
    },
  }];
}

/** Plans dx = conv2d backward-input(dy, w); overwrites dx, or adds to it when `accumulate`. */
export function conv2dBackwardInput(
  rt: WasmRuntime, dx: number, dy: number, w: number, p: Conv2dParams, accumulate = false, label = '', scratch?: SharedScratch,
): Step[] {
  checkConv2dParams(p);
  if (p.strideH === 1 && p.strideW === 1 && p.padH < p.kh && p.padW < p.kw && !isPointwise(p)) {
    // Stride 1: dx is a forward convolution of dy with the kernels transposed (C ← K) and flipped,
    // padded by k − 1 − P: dx(n,c,y,x) = Σ_{k,ky',kx'} dy(n,k, y−(kh−1−P)+ky', …)·w(k,c,kh−1−ky',kw−1−kx').
    // Im2col + GEMM, no col2im scatter. Weight (c, (k, r')) = w[k·C·R + c·R + (R−1−r')], R = kh·kw.
    const R = p.kh * p.kw;
    const flipped: Conv2dParams = {
      N: p.N, C: p.K, H: conv2dOutSize(p).OH, W: conv2dOutSize(p).OW, K: p.C, kh: p.kh, kw: p.kw,
      strideH: 1, strideW: 1, padH: p.kh - 1 - p.padH, padW: p.kw - 1 - p.padW,
    };
    const wt: Strided = { ptr: w + (R - 1) * 4, sr: R, sk: -1, period: R, kStride: p.C * R };
    return planForward(rt, dx, dy, wt, 0, flipped, accumulate, 'conv2d.backward_input', label, scratch);
  }
  const { P, CR } = geometry(p);
  const pw = !isPointwise(p);
  const perImage = (pw ? CR * P * 4 : 0) + packedBBytes(p.K, P);
  const chunk = chunkOf(p.N, perImage);
  const kLen = planSplit(rt, CR, P, p.K, chunk);
  const regions = scratchRegions(rt.arena, [
    { label: `conv2d.backward_input(${label}) packed weights`, bytes: packedABytes(CR, p.K) },
    { label: `conv2d.backward_input(${label}) columns`, bytes: pw ? chunk * CR * P * 4 : 0 },
    { label: `conv2d.backward_input(${label}) packed dy`, bytes: chunk * packedBBytes(p.K, P) },
    { label: `conv2d.backward_input(${label}) split-K parts`, bytes: splitKBytes(CR, P, p.K, chunk, kLen) },
  ], scratch);
  return [{
    label: `conv2d.backward_input(${label})`,
    variant: kLen > 0 ? 'split-k' : 'gemm',
    run() {
      const [pa, dcol, pb, parts] = regions() as [number, number, number, number];
      const split = kLen > 0 ? { kLen, partials: parts } : undefined;
      packA(rt, { ptr: w, sr: 1, sk: CR }, CR, p.K, pa); // Wᵀ: a(crs, k) = w[k·CR + crs]
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        const dxs = dx + n0 * p.C * p.H * p.W * 4;
        packB(rt, { ptr: dy + n0 * p.K * P * 4, sr: 1, sk: P }, p.K, P, pb, nb, p.K * P * 4);
        if (pw) {
          gemm(rt, { M: CR, N: P, K: p.K, a: pa, b: pb, c: dcol, ldc: P, cStride: CR * P * 4, batch: nb, split });
          rt.run('col2im', [...colArgs(p, dxs, dcol, nb), accumulate ? 1 : 0]);
        } else {
          gemm(rt, { M: CR, N: P, K: p.K, a: pa, b: pb, c: dxs, ldc: P, cStride: CR * P * 4, batch: nb, accumulate, split });
        }
      }
    },
  }];
}

/** Plans dw += conv2d weight gradient(dy, x) and, when `db` is not 0, db += Σ dy. */
export function conv2dBackwardWeight(
  rt: WasmRuntime, dw: number, db: number, dy: number, x: number, p: Conv2dParams, label = '', scratch?: SharedScratch,
): Step[] {
  checkConv2dParams(p);
  const { P, CR } = geometry(p);
  const pw = !isPointwise(p);
  const direct = pw && wasmConvOptions.directPack;
  const perImage = (pw && !direct ? CR * P * 4 : 0) + packedABytes(p.K, P) + packedBBytes(P, CR);
  const chunk = chunkOf(p.N, perImage);
  const kLen = planSplit(rt, p.K, CR, chunk * P, 1);
  const regions = scratchRegions(rt.arena, [
    { label: `conv2d.backward_weight(${label}) im2col`, bytes: pw && !direct ? chunk * CR * P * 4 : 0 },
    { label: `conv2d.backward_weight(${label}) packed dy`, bytes: packedABytes(p.K, chunk * P) },
    { label: `conv2d.backward_weight(${label}) packed columns`, bytes: packedBBytes(chunk * P, CR) },
    { label: `conv2d.backward_weight(${label}) split-K parts`, bytes: splitKBytes(p.K, CR, chunk * P, 1, kLen) },
  ], scratch);
  return [{
    label: `conv2d.backward_weight(${label})`,
    variant: kLen > 0 ? 'split-k' : direct ? 'im2col-packed' : 'gemm',
    run() {
      const [col, pa, pb, parts] = regions() as [number, number, number, number];
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        const xs = x + n0 * p.C * p.H * p.W * 4;
        // a(k, (n, q)) = dy[n·K·P + k·P + q]; b((n, q), crs) = col[n·CR·P + crs·P + q]
        packA(rt, { ptr: dy + n0 * p.K * P * 4, sr: P, sk: 1, period: P, kStride: p.K * P }, p.K, nb * P, pa);
        if (direct) {
          rt.run('im2colPackT', [...colArgs(p, xs, pb, nb), nb * P * NR * 4]);
        } else {
          let src = xs;
          if (pw) {
            rt.run('im2col', colArgs(p, xs, col, nb));
            src = col;
          }
          packB(rt, { ptr: src, sr: P, sk: 1, period: P, kStride: CR * P }, nb * P, CR, pb);
        }
        // The last chunk may be shorter: its parts follow from its own K (same kLen, fewer parts).
        gemm(rt, { M: p.K, N: CR, K: nb * P, a: pa, b: pb, c: dw, ldc: CR, accumulate: true, split: kLen > 0 ? { kLen, partials: parts } : undefined });
      }
      if (db) rt.run('biasGrad', [dy, p.N, p.K, P, db]);
    },
  }];
}

/** The conv2d whose backward-input is this transposed convolution's forward. */
export function convOfTranspose(p: ConvTranspose2dParams): Conv2dParams {
  const { OH, OW } = convTranspose2dOutSize(p);
  return { N: p.N, C: p.Cout, H: OH, W: OW, K: p.Cin, kh: p.kh, kw: p.kw, strideH: p.strideH, strideW: p.strideW, padH: p.padH, padW: p.padW };
}

function checkTranspose(p: ConvTranspose2dParams): Conv2dParams {
  const c = convOfTranspose(p);
  checkConv2dParams(c, 'conv_transpose2d');
  const back = conv2dOutSize(c);
  if (back.OH !== p.H || back.OW !== p.W) throw new Error(`conv_transpose2d: input ${p.H}×${p.W} is not reachable with these kernel/stride/padding`);
  return c;
}

/**
 * Transposed convolutions whose kernel is a whole number of strides in both directions (FCN's
 * upsampling heads: k = 2s) run by output phases (assembly/kernels/tconv.ts): the forward as one
 * GEMM with K = Cin·(kh/sh)·(kw/sw) and M = sh·sw·Cout instead of a K = Cin product followed by a
 * col2im that sums four overlapping taps per pixel; the backward-input and weight gradient from a
 * phase gather of dy (a permutation) instead of an im2col that copies each dy value
 * (kh/sh)·(kw/sw) times with strided reads. The forward takes phases from stride 2 (4 phases),
 * the backward passes from 16 phases: on FCN-8s's k4/s2 upsampler they lost to the plain GEMMs
 * (0.6 against 0.4 ms), on the k16/s8 and k64/s32 heads they won (BENCHMARKS.md).
 */
function usePhases(p: ConvTranspose2dParams, pass: 'forward' | 'backward'): boolean {
  return wasmConvOptions.tconvPhases && p.kh % p.strideH === 0 && p.kw % p.strideW === 0 && p.strideH * p.strideW >= (pass === 'forward' ? 4 : 16);
}

/** Sizes of the phase formulation: M rows (co, ry, rx), K = (ci, tap), and the Q grid per image. */
function phaseGeometry(p: ConvTranspose2dParams) {
  const Th = p.kh / p.strideH, Tw = p.kw / p.strideW;
  const QH = p.H + Th - 1, QW = p.W + Tw - 1;
  const M = p.strideH * p.strideW * p.Cout, K = p.Cin * Th * Tw;
  // im2col of x for a Th×Tw kernel, stride 1, padding T − 1: the (ci, a', b') × (Qy, Qx) columns.
  const col: Conv2dParams = { N: p.N, C: p.Cin, H: p.H, W: p.W, K: M, kh: Th, kw: Tw, strideH: 1, strideW: 1, padH: Th - 1, padW: Tw - 1 };
  return { Th, Tw, QH, QW, QP: QH * QW, M, K, col };
}

/** The tconvScatter / tconvGather geometry after (Z or D, y or dy, batch). */
function phaseArgs(p: ConvTranspose2dParams, g: ReturnType<typeof phaseGeometry>): number[] {
  const { OH, OW } = convTranspose2dOutSize(p);
  return [p.Cout, OH, OW, p.strideH, p.strideW, p.padH, p.padW, g.QH, g.QW];
}

function planTransposeForwardPhases(
  rt: WasmRuntime, y: number, x: number, w: number, b: number, p: ConvTranspose2dParams, label: string, scratch?: SharedScratch,
): Step[] {
  const g = phaseGeometry(p);
  const { OH, OW } = convTranspose2dOutSize(p);
  const perImage = g.K * g.QP * 4 + packedBBytes(g.K, g.QP) + g.M * g.QP * 4;
  const chunk = chunkOf(p.N, perImage);
  const regions = scratchRegions(rt.arena, [
    { label: `conv_transpose2d.forward(${label}) phase weights`, bytes: packedABytes(g.M, g.K) },
    { label: `conv_transpose2d.forward(${label}) im2col`, bytes: chunk * g.K * g.QP * 4 },
    { label: `conv_transpose2d.forward(${label}) packed columns`, bytes: chunk * packedBBytes(g.K, g.QP) },
    { label: `conv_transpose2d.forward(${label}) phase products`, bytes: chunk * g.M * g.QP * 4 },
  ], scratch);
  return [{
    label: `conv_transpose2d.forward(${label})`,
    variant: 'phases',
    run() {
      const [pa, col, pb, z] = regions() as [number, number, number, number];
      rt.run('tconvPhaseWeights', [w, p.Cin, p.Cout, p.kh, p.kw, p.strideH, p.strideW, pa, 0]);
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        rt.run('im2col', colArgs(g.col, x + n0 * p.Cin * p.H * p.W * 4, col, nb));
        packB(rt, { ptr: col, sr: 1, sk: g.QP }, g.K, g.QP, pb, nb, g.K * g.QP * 4);
        gemm(rt, { M: g.M, N: g.QP, K: g.K, a: pa, b: pb, c: z, ldc: g.QP, cStride: g.M * g.QP * 4, batch: nb });
        rt.run('tconvScatter', [z, y + n0 * p.Cout * OH * OW * 4, nb, ...phaseArgs(p, g), b, 0]);
      }
    },
  }];
}

function planTransposeWeightPhases(
  rt: WasmRuntime, dw: number, dy: number, x: number, p: ConvTranspose2dParams, label: string, scratch?: SharedScratch,
): Step[] {
  const g = phaseGeometry(p);
  const { OH, OW } = convTranspose2dOutSize(p);
  const perImage = 2 * g.M * g.QP * 4 + g.K * g.QP * 4 + packedBBytes(g.QP, g.K);
  const chunk = chunkOf(p.N, perImage);
  const regions = scratchRegions(rt.arena, [
    { label: `conv_transpose2d.backward_weight(${label}) phase dy`, bytes: chunk * g.M * g.QP * 4 },
    { label: `conv_transpose2d.backward_weight(${label}) im2col`, bytes: chunk * g.K * g.QP * 4 },
    { label: `conv_transpose2d.backward_weight(${label}) packed phase dy`, bytes: packedABytes(g.M, chunk * g.QP) },
    { label: `conv_transpose2d.backward_weight(${label}) packed columns`, bytes: packedBBytes(chunk * g.QP, g.K) },
    { label: `conv_transpose2d.backward_weight(${label}) phase weight gradient`, bytes: g.M * g.K * 4 },
  ], scratch);
  return [{
    label: `conv_transpose2d.backward_weight(${label})`,
    variant: 'phases',
    run() {
      const [d, col, pa, pb, dwp] = regions() as [number, number, number, number, number];
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        rt.run('tconvGather', [dy + n0 * p.Cout * OH * OW * 4, d, nb, ...phaseArgs(p, g)]);
        rt.run('im2col', colArgs(g.col, x + n0 * p.Cin * p.H * p.W * 4, col, nb));
        // dWp ((co, phase), (ci, tap)) [+]= Σ_(n, Q) D((co, phase), (n, Q)) · col((ci, tap), (n, Q))
        packA(rt, { ptr: d, sr: g.QP, sk: 1, period: g.QP, kStride: g.M * g.QP }, g.M, nb * g.QP, pa);
        packB(rt, { ptr: col, sr: g.QP, sk: 1, period: g.QP, kStride: g.K * g.QP }, nb * g.QP, g.K, pb);
        gemm(rt, { M: g.M, N: g.K, K: nb * g.QP, a: pa, b: pb, c: dwp, ldc: g.K, accumulate: n0 > 0 });
      }
      rt.run('tconvPhaseWeights', [dw, p.Cin, p.Cout, p.kh, p.kw, p.strideH, p.strideW, dwp, 1]);
    },
  }];
}

/**
 * dx by phases: with D the phase gather of dy (M = Cout·sh·sw rows of QH×QW), dx is D convolved
 * with a Th×Tw kernel, stride 1, no padding: dx_n (Cin, H·QW) = Σ_a Wd_a (Cin, M·Tw) · B_a, where
 * B_a((m, b), j) = D_n(m, a·QW + b + j) reads D in place (columns j = iy·QW + ix, the ones with
 * ix ≥ W dropped after). So no im2col: the packed B is assembled from Th strided reads of D.
 */
function planTransposeInputPhases(
  rt: WasmRuntime, dx: number, dy: number, w: number, p: ConvTranspose2dParams, accumulate: boolean, label: string, scratch?: SharedScratch,
): Step[] {
  const g = phaseGeometry(p);
  const { OH, OW } = convTranspose2dOutSize(p);
  const Ka = g.M * g.Tw, K = g.Th * Ka, NQ = p.H * g.QW;
  const perImage = g.M * g.QP * 4 + packedBBytes(K, NQ) + p.Cin * NQ * 4;
  const chunk = chunkOf(p.N, perImage);
  const kLen = planSplit(rt, p.Cin, NQ, K, chunk);
  const regions = scratchRegions(rt.arena, [
    { label: `conv_transpose2d.backward_input(${label}) phase weights`, bytes: packedABytes(p.Cin, K) },
    // (Tw floats past the last row: B_a's junk columns may read that far.)
    { label: `conv_transpose2d.backward_input(${label}) phase dy`, bytes: (chunk * g.M * g.QP + g.Tw) * 4 },
    { label: `conv_transpose2d.backward_input(${label}) packed phase dy`, bytes: chunk * packedBBytes(K, NQ) },
    { label: `conv_transpose2d.backward_input(${label}) products`, bytes: chunk * p.Cin * NQ * 4 },
    { label: `conv_transpose2d.backward_input(${label}) split-K parts`, bytes: splitKBytes(p.Cin, NQ, K, chunk, kLen) },
  ], scratch);
  return [{
    label: `conv_transpose2d.backward_input(${label})`,
    variant: kLen > 0 ? 'phases+split-k' : 'phases',
    run() {
      const [pa, d, pb, c, parts] = regions() as [number, number, number, number, number];
      rt.run('tconvInputWeights', [w, p.Cin, p.Cout, p.kh, p.kw, p.strideH, p.strideW, pa]);
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        rt.run('tconvGather', [dy + n0 * p.Cout * OH * OW * 4, d, nb, ...phaseArgs(p, g)]);
        for (let a = 0; a < g.Th; a++) {
          packB(rt, { ptr: d + a * g.QW * 4, sr: 1, sk: 1, period: g.Tw, kStride: g.QP }, Ka, NQ, pb, nb, g.M * g.QP * 4, { k0: a * Ka, K });
        }
        gemm(rt, { M: p.Cin, N: NQ, K, a: pa, b: pb, c, ldc: NQ, cStride: p.Cin * NQ * 4, batch: nb, split: kLen > 0 ? { kLen, partials: parts } : undefined });
        rt.run('cropColumns', [c, dx + n0 * p.Cin * p.H * p.W * 4, nb * p.Cin, p.H, g.QW, p.W, accumulate ? 1 : 0]);
      }
    },
  }];
}

/**
 * Transposed convolutions with k = T·stride whose width stride and padding are multiples of 4 (FCN's
 * k = 2s heads for s = 8, 16, 32) run by direct kernels (assembly/kernels/tconv-direct.ts): every
 * aligned 4-vector of output columns shares one input column, so the three passes are register-
 * blocked SIMD loops over x, w and dy in place. The phase GEMMs they replace are memory-bound on
 * these shapes (K = 84 against a Cout·s² × Q product written then scattered, or M = 21 against a
 * packed dy of megabytes): on the 2×160×256 bench the forward ran 1.3-1.4×, the backward-input
 * 2.2-3.5× and the weight gradient 1.5-3× faster (BENCHMARKS.md).
 */
function useDirect(p: ConvTranspose2dParams): boolean {
  return wasmConvOptions.tconvDirect && p.kh % p.strideH === 0 && p.kw % p.strideW === 0 && p.strideW % 4 === 0 && p.padW % 4 === 0;
}

/** The geometry the direct kernels share after their tensor arguments. */
function directArgs(p: ConvTranspose2dParams): number[] {
  const { OH, OW } = convTranspose2dOutSize(p);
  return [p.Cin, p.Cout, p.H, p.W, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, OH, OW];
}

function planTransposeForwardDirect(
  rt: WasmRuntime, y: number, x: number, w: number, b: number, p: ConvTranspose2dParams, label: string, scratch?: SharedScratch,
): Step[] {
  const { OH, OW } = convTranspose2dOutSize(p);
  const Th = p.kh / p.strideH, Tw = p.kw / p.strideW;
  const QH = p.H + Th - 1, QW = p.W + Tw - 1;
  // x with Th − 1 zero rows above and below, Tw − 1 zero columns on the left and Tw + 3 on the
  // right (a block of 4 input columns may start at the last one).
  const Hp = p.H + 2 * (Th - 1), Wp = QW + Tw + 3;
  const chunk = chunkOf(p.N, p.Cin * Hp * Wp * 4);
  // Each thread's weight panel: the tile's taps (K = Cin·Th·Tw) × sw floats, then K offsets.
  const panelBytes = Math.ceil((p.strideW + 1) * p.Cin * Th * Tw * 4 / 64) * 64;
  const regions = scratchRegions(rt.arena, [
    { label: `conv_transpose2d.forward(${label}) padded x`, bytes: chunk * p.Cin * Hp * Wp * 4 },
    { label: `conv_transpose2d.forward(${label}) weight panels`, bytes: rt.threads * panelBytes },
  ], scratch);
  return [{
    label: `conv_transpose2d.forward(${label})`,
    variant: 'direct',
    run() {
      const [xp, panels] = regions() as [number, number];
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        rt.run('tconvPad', [x + n0 * p.Cin * p.H * p.W * 4, nb * p.Cin, p.H, p.W, xp, Hp, Wp, Th - 1, Tw - 1]);
        rt.run('tconvDirectForward', [
          xp, w, b, y + n0 * p.Cout * OH * OW * 4, nb, p.Cin, p.Cout, QH, QW, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, OH, OW, Hp, Wp, panels, panelBytes,
        ]);
      }
    },
  }];
}

/**
 * Per-thread scratch of tconvChannelsForward: w as wT (channels padded to 8), x padded, the tap
 * offsets; 0 when the transposed convolution is not one it serves. It serves the small k = T·stride
 * ones useDirect does not (FCN's k4/s2 upsamplers, 1-5 MFLOP a pass) with a width stride ≥ 2 (stride
 * 1 both ways stays with Winograd and the GEMM), in one dispatch per pass instead of the phase and
 * GEMM plans' four or five, while a thread's copy stays under 2 MiB. Each of the three passes
 * (tconvChannelsForward, tconvChannelsInput, tconvChannelsWeight) ran 1.5-2.3x faster than those
 * plans on the FCN-16s/8s upsamplers (BENCHMARKS.md).
 */
function channelsScratch(p: ConvTranspose2dParams): number {
  if (!wasmConvOptions.tconvDirect || p.kh % p.strideH !== 0 || p.kw % p.strideW !== 0 || p.strideW < 2 || useDirect(p)) return 0;
  const Th = p.kh / p.strideH, Tw = p.kw / p.strideW, K = p.Cin * Th * Tw, CP = Math.ceil(p.Cout / 8) * 8;
  const Hp = p.H + 2 * (Th - 1), Wp = p.W + 2 * (Tw - 1) + 3;
  const bytes = Math.ceil((p.strideH * p.strideW * K * CP + p.N * p.Cin * Hp * Wp + K) * 4 / 64) * 64;
  return bytes <= 2 * 2 ** 20 ? bytes : 0;
}

/**
 * One step running a tconvChannels* kernel (one dispatch, `bytes` of scratch per thread): the
 * kernel's arguments are `args` followed by the geometry (N, Cin, Cout, H, W, kh, kw, strides,
 * paddings, OH, OW), `extra`, and the scratch region and its per-thread size.
 */
function planChannels(
  rt: WasmRuntime, pass: 'forward' | 'backward_input' | 'backward_weight', kernel: 'tconvChannelsForward' | 'tconvChannelsInput' | 'tconvChannelsWeight',
  args: number[], extra: number[], p: ConvTranspose2dParams, bytes: number, label: string, scratch?: SharedScratch,
): Step[] {
  const { OH, OW } = convTranspose2dOutSize(p);
  const geometry = [p.N, p.Cin, p.Cout, p.H, p.W, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, OH, OW];
  const regions = scratchRegions(rt.arena, [{ label: `conv_transpose2d.${pass}(${label}) per-thread copies`, bytes: rt.threads * bytes }], scratch);
  return [{
    label: `conv_transpose2d.${pass}(${label})`,
    variant: 'direct',
    run() {
      const [s] = regions() as [number];
      rt.run(kernel, [...args, ...geometry, ...extra, s, bytes]);
    },
  }];
}

/** Per-thread scratch of tconvChannelsInput (wT, dy padded, tap offsets) on the shapes channelsScratch serves; else 0. */
function channelsInputScratch(p: ConvTranspose2dParams): number {
  if (!channelsScratch(p)) return 0;
  const { OH } = convTranspose2dOutSize(p);
  const K = p.Cout * p.kh * p.kw, CP = Math.ceil(p.Cin / 8) * 8, W4 = Math.ceil(p.W / 4) * 4;
  const Hq = OH + 2 * p.padH, Wq = (W4 - 1) * p.strideW + p.kw;
  const bytes = Math.ceil((K * CP + p.N * p.Cout * Hq * Wq + K) * 4 / 64) * 64;
  return bytes <= 2 * 2 ** 20 ? bytes : 0;
}


/** Per-thread scratch of tconvChannelsWeight (dy channels-last and padded, the (n, iy, ix) list) on the shapes channelsScratch serves; else 0. */
function channelsWeightScratch(p: ConvTranspose2dParams): number {
  if (!channelsScratch(p)) return 0;
  const { OH, OW } = convTranspose2dOutSize(p);
  const CP = Math.ceil(p.Cout / 8) * 8;
  const bytes = Math.ceil(((OH + 2 * p.padH) * (OW + 2 * p.padW) * CP * p.N * 4 + 8 * p.N * p.H * p.W) / 64) * 64;
  return bytes <= 2 * 2 ** 20 ? bytes : 0;
}


function planTransposeInputDirect(
  rt: WasmRuntime, dx: number, dy: number, w: number, p: ConvTranspose2dParams, accumulate: boolean, label: string, scratch?: SharedScratch,
): Step[] {
  const { OH, OW } = convTranspose2dOutSize(p);
  const size = p.Cin * p.H * p.W;
  const chunk = chunkOf(p.N, p.Cout * size * 4);
  const regions = scratchRegions(rt.arena, [{ label: `conv_transpose2d.backward_input(${label}) per-channel sums`, bytes: chunk * p.Cout * size * 4 }], scratch);
  return [{
    label: `conv_transpose2d.backward_input(${label})`,
    variant: 'direct',
    run() {
      const [part] = regions() as [number];
      for (let n0 = 0; n0 < p.N; n0 += chunk) {
        const nb = Math.min(chunk, p.N - n0);
        const g = directArgs(p);
        rt.run('tconvDirectInput', [dy + n0 * p.Cout * OH * OW * 4, w, part, nb, ...g]);
        rt.run('tconvDirectReduce', [part, dx + n0 * size * 4, nb, p.Cout, size, accumulate ? 1 : 0]);
      }
    },
  }];
}

function planTransposeWeightDirect(
  rt: WasmRuntime, dw: number, dy: number, x: number, p: ConvTranspose2dParams, label: string, scratch?: SharedScratch,
): Step[] {
  // 16 zero bytes (what a dy vector outside the image reads) and each thread's copy of x
  // channels-last (channels padded to a multiple of 4) followed by a tile's row addresses or list
  // of (n, iy, ix) offsets.
  const CP = Math.ceil(p.Cin / 4) * 4;
  const tableBytes = Math.ceil((4 * CP + 8) * p.N * p.H * p.W / 64) * 64;
  const regions = scratchRegions(rt.arena, [
    { label: `conv_transpose2d.backward_weight(${label}) zeros`, bytes: 16 },
    { label: `conv_transpose2d.backward_weight(${label}) x copies and offset lists`, bytes: rt.threads * tableBytes },
  ], scratch);
  return [{
    label: `conv_transpose2d.backward_weight(${label})`,
    variant: 'direct',
    run() {
      const [zero, tables] = regions() as [number, number];
      rt.f32(zero, 4).fill(0);
      rt.run('tconvDirectWeight', [x, dy, dw, zero, p.N, ...directArgs(p), tables, tableBytes]);
    },
  }];
}

/** Plans y (N,Cout,OH,OW) = conv_transpose2d(x (N,Cin,H,W), w (Cin,Cout,kh,kw)) + b; overwrites y. */
export function convTranspose2dForward(
  rt: WasmRuntime, y: number, x: number, w: number, b: number, p: ConvTranspose2dParams, label = '', scratch?: SharedScratch,
): Step[] {
  const c = checkTranspose(p);
  if (useDirect(p)) return planTransposeForwardDirect(rt, y, x, w, b, p, label, scratch);
  const channels = channelsScratch(p);
  if (channels) return planChannels(rt, 'forward', 'tconvChannelsForward', [x, w, b, y], [], p, channels, label, scratch);
  if (usePhases(p, 'forward')) return planTransposeForwardPhases(rt, y, x, w, b, p, label, scratch);
  const steps = conv2dBackwardInput(rt, y, x, w, c, false, label, scratch).map((s) => ({ ...s, label: `conv_transpose2d.forward(${label})` }));
  if (b) {
    const { OH, OW } = convTranspose2dOutSize(p);
    steps.push({ label: `conv_transpose2d.bias(${label})`, run: () => rt.run('addBias', [y, p.N, p.Cout, OH * OW, b]) });
  }
  return steps;
}

/** Plans dx (N,Cin,H,W) = conv(dy (N,Cout,OH,OW), w); overwrites dx, or adds to it when accumulate. */
export function convTranspose2dBackwardInput(
  rt: WasmRuntime, dx: number, dy: number, w: number, p: ConvTranspose2dParams, accumulate = false, label = '', scratch?: SharedScratch,
): Step[] {
  const c = checkTranspose(p);
  if (useDirect(p)) return planTransposeInputDirect(rt, dx, dy, w, p, accumulate, label, scratch);
  const channels = channelsInputScratch(p);
  if (channels) return planChannels(rt, 'backward_input', 'tconvChannelsInput', [dy, w, dx], [accumulate ? 1 : 0], p, channels, label, scratch);
  if (usePhases(p, 'backward')) return planTransposeInputPhases(rt, dx, dy, w, p, accumulate, label, scratch);
  return planForward(rt, dx, dy, { ptr: w, sr: c.C * c.kh * c.kw, sk: 1 }, 0, c, accumulate, 'conv_transpose2d.backward_input', label, scratch);
}

/** Plans dw += transposed-conv weight gradient and, when `db` is not 0, db += Σ dy. */
export function convTranspose2dBackwardWeight(
  rt: WasmRuntime, dw: number, db: number, dy: number, x: number, p: ConvTranspose2dParams, label = '', scratch?: SharedScratch,
): Step[] {
  const c = checkTranspose(p);
  // conv's weight gradient with its dy := our x (N, Cin, H, W) and its x := our dy (N, Cout, OH, OW).
  const channels = channelsWeightScratch(p);
  const steps = useDirect(p) ? planTransposeWeightDirect(rt, dw, dy, x, p, label, scratch)
    : channels ? planChannels(rt, 'backward_weight', 'tconvChannelsWeight', [x, dy, dw], [], p, channels, label, scratch)
    : usePhases(p, 'backward') ? planTransposeWeightPhases(rt, dw, dy, x, p, label, scratch) : conv2dBackwardWeight(rt, dw, 0, x, dy, c, label, scratch).map((s) => ({ ...s, label: `conv_transpose2d.backward_weight(${label})` }));
  if (db) {
    const { OH, OW } = convTranspose2dOutSize(p);
    steps.push({ label: `conv_transpose2d.bias_grad(${label})`, run: () => rt.run('biasGrad', [dy, p.N, p.Cout, OH * OW, db]) });
  }
  return steps;
}

/** Runs planned steps in order. */
export function runSteps(steps: readonly Step[]): void {
  for (const s of steps) s.run();
}
