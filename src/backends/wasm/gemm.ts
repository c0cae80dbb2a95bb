// Host side of the packed GEMM (assembly/kernels/gemm.ts): packing and multiplying matrices that
// live in the runtime's memory, addressed by byte offsets.
//   C (M, N) [+]= A (M, K) · B (K, N) (+ bias (M) per row when overwriting)
// A strided source describes where element (row r, reduction index k) lives, in elements:
//   src[(k / period)·kStride + (k % period)·sk + r·sr]
// so a plain matrix is { sr: K, sk: 1 }, its transpose { sr: 1, sk: ld }, and a reduction index
// running over images (k = (n, oy, ox) in conv weight gradients) sets period = OH·OW.
import type { WasmRuntime } from './runtime.js';

export const MR = 4;
export const NR = 8;

export interface Strided {
  /** Byte offset of element (0, 0). */
  ptr: number;
  /** Element stride between rows of A (or columns of B). */
  sr: number;
  /** Element stride along the reduction index k (may be negative). */
  sk: number;
  /** k wraps every `period` steps (default: never) ... */
  period?: number;
  /** ... and then moves on by kStride elements. */
  kStride?: number;
}

/** Bytes of a packed A (M, K). */
export function packedABytes(M: number, K: number): number {
  return Math.ceil(M / MR) * MR * K * 4;
}

/** Bytes of one packed B (K, N). */
export function packedBBytes(K: number, N: number): number {
  return Math.ceil(N / NR) * NR * K * 4;
}

/** Element strides travel as i32 byte strides: |stride| < 2^29 elements. */
function checkStrides(what: string, ...strides: number[]): void {
  for (const s of strides) {
    if (!Number.isInteger(s) || Math.abs(s) >= 2 ** 29) throw new Error(`${what}: stride ${s} is not an integer below 2^29 elements`);
  }
}

/** Packs A (M, K) into panels of MR rows at `dst` (packedABytes(M, K) bytes). */
export function packA(rt: WasmRuntime, a: Strided, M: number, K: number, dst: number): void {
  checkStrides('packA', a.sr, a.sk, a.kStride ?? 0);
  rt.run('packA', [a.ptr, M, K, a.sr, a.sk, a.period ?? K, a.kStride ?? 0, dst]);
}

/**
 * Packs `batch` matrices B_i (K, N) into panels of 8 columns at dst + i·packedBBytes(K, N);
 * B_i starts `srcStride` bytes after B_(i−1). With `rows` { k0, K }, they fill rows k0..k0+K of the
 * panels of a (rows.K, N) packed B at dst instead (dst + i·packedBBytes(rows.K, N) for B_i): a
 * longer K assembled from several sources.
 */
export function packB(rt: WasmRuntime, b: Strided, K: number, N: number, dst: number, batch = 1, srcStride = 0, rows?: { k0: number; K: number }): void {
  checkStrides('packB', b.sr, b.sk, b.kStride ?? 0);
  if (rows && !(rows.k0 >= 0 && rows.k0 + K <= rows.K)) throw new Error(`packB: rows ${rows.k0}..${rows.k0 + K} do not fit a K of ${rows.K}`);
  const full = rows ? rows.K : K;
  rt.run('packB', [b.ptr, K, N, b.sk, b.sr, b.period ?? K, b.kStride ?? 0, dst + (rows ? rows.k0 * NR * 4 : 0), batch, srcStride, packedBBytes(full, N), full * NR * 4]);
}

export interface GemmArgs {
  M: number; N: number; K: number;
  /** Packed A, and the first packed B (the batch's B_i follow each other). */
  a: number; b: number;
  /** Bytes between the batch's packed A_i (default 0: one A for the whole batch). */
  aStride?: number;
  /** Bytes between the batch's packed B_i (default: packedBBytes(K, N), back to back). */
  bStride?: number;
  /** C_0 and its row pitch in elements; C_i starts cStride bytes after C_(i−1). */
  c: number; ldc: number; cStride?: number;
  batch?: number;
  /** Adds into C instead of overwriting it. */
  accumulate?: boolean;
  /** Byte offset of a per-row bias (M) added when overwriting, or 0. */
  bias?: number;
  /**
   * Split K (from splitK): the parts' products go to `partials` (splitKBytes), then are summed
   * into C (overwriting or accumulating as `accumulate` says). Needs a dense C (ldc = N, and
   * cStride = M·N·4 when batched) and no bias.
   */
  split?: { kLen: number; partials: number };
}

/** Row and column tile of one GEMM thread tile (assembly/kernels/gemm.ts MC, NC). */
const MC = 72, NC = 128;

/**
 * The K length of each part when a GEMM with too few (batch, row, column) tiles for `threads`
 * threads and a long K is better split along K (0: no split). Aims at ≥ 4 tiles per thread with
 * parts of at least 256 (the micro-kernel's K block).
 */
export function splitK(M: number, N: number, K: number, batch: number, threads: number): number {
  const tiles = batch * Math.ceil(M / MC) * Math.ceil(N / NC);
  const want = Math.ceil((4 * threads) / tiles);
  const parts = Math.min(want, Math.floor(K / 256));
  if (threads < 2 || parts < 2) return 0;
  return Math.ceil(K / parts / 4) * 4;
}

/** Bytes of the split parts' products (0 when kLen is 0). */
export function splitKBytes(M: number, N: number, K: number, batch: number, kLen: number): number {
  return kLen > 0 ? Math.ceil(K / kLen) * batch * M * N * 4 : 0;
}

/** C_i [+]= A_i · B_i on packed operands, split over the pool by (K part, batch, 72-row, 128-column) tiles. */
export function gemm(rt: WasmRuntime, g: GemmArgs): void {
  const batch = g.batch ?? 1;
  if (g.split && g.split.kLen > 0) {
    const { kLen, partials } = g.split;
    if (g.ldc !== g.N || (batch > 1 && g.cStride !== g.M * g.N * 4) || g.bias) throw new Error('gemm: a split-K product needs a dense C and no bias');
    const part = batch * g.M * g.N * 4, parts = Math.ceil(g.K / kLen);
    rt.run('gemm', [g.M, g.N, g.K, g.a, g.b, g.bStride ?? packedBBytes(g.K, g.N), partials, g.N, g.M * g.N * 4, batch, 0, 0, g.aStride ?? 0, kLen, part]);
    rt.run('reduceParts', [g.c, partials, batch * g.M * g.N, parts, part, g.accumulate ? 1 : 0]);
    return;
  }
  rt.run('gemm', [g.M, g.N, g.K, g.a, g.b, g.bStride ?? packedBBytes(g.K, g.N), g.c, g.ldc, g.cStride ?? 0, batch, g.accumulate ? 1 : 0, g.bias ?? 0, g.aStride ?? 0, 0, 0]);
}

/** Fills `n` f32 at `dst` with `value`. */
export function fill(rt: WasmRuntime, dst: number, n: number, value = 0): void {
  rt.run('fill', [dst, n, value]);
}

/**
 * C (M, N) [+]= op(A) · op(B) for row-major A and B in the runtime's memory (transA: A is stored
 * (K, M); transB: B is stored (N, K)), packing into `scratch` (matmulScratchBytes bytes).
 */
export function matmul(
  rt: WasmRuntime, o: { M: number; N: number; K: number; a: number; b: number; c: number; transA?: boolean; transB?: boolean; accumulate?: boolean; scratch: number },
): void {
  const { M, N, K } = o;
  const pa = o.scratch, pb = o.scratch + packedABytes(M, K);
  packA(rt, o.transA ? { ptr: o.a, sr: 1, sk: M } : { ptr: o.a, sr: K, sk: 1 }, M, K, pa);
  packB(rt, o.transB ? { ptr: o.b, sr: K, sk: 1 } : { ptr: o.b, sr: 1, sk: N }, K, N, pb);
  gemm(rt, { M, N, K, a: pa, b: pb, c: o.c, ldc: N, accumulate: o.accumulate });
}

/** Scratch bytes `matmul` packs into. */
export function matmulScratchBytes(M: number, N: number, K: number): number {
  return packedABytes(M, K) + packedBBytes(K, N);
}
