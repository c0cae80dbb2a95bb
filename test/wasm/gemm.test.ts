// The packed GEMM (assembly/kernels/gemm.ts) against a float64 product on odd sizes (edges of
// the 4×8 micro-tile and of the 72×128 thread tiles), transposed operands, accumulation, bias,
// batches, a reduction index that wraps over images (the conv weight-gradient layout), K split
// into parts, and a packed B assembled from several sources, on one thread and on two.
import { describe, expect, it } from 'vitest';
import { gemm, matmul, matmulScratchBytes, packA, packB, packedABytes, packedBBytes, splitK, splitKBytes } from '../../src/backends/wasm/gemm.js';
import { expectClose as check } from '../helpers/check.js';
import { randn } from '../helpers/gpu.js';
import { filled, put, scoped, testRuntime, THREADS } from '../helpers/wasm.js';

/** float64 C = op(A)·op(B) (+ C0). */
function refMatmul(M: number, N: number, K: number, a: Float32Array, b: Float32Array, transA: boolean, transB: boolean, c0?: Float32Array) {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = c0 ? c0[i * N + j]! : 0;
      for (let k = 0; k < K; k++) s += a[transA ? k * M + i : i * K + k]! * b[transB ? j * K + k : k * N + j]!;
      c[i * N + j] = s;
    }
  return c;
}

// f32 sums of K products of values in [−1, 1] in another order than the float64 reference:
// errors grow like √K·ε·Σ|ab| ≲ K·6e-8; K ≤ 700 here gives ≲ 4e-5.
const TOL = { atol: 1e-4, rtol: 1e-4 };

const expectClose = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) => check(what, got, want, TOL);

const SHAPES: [number, number, number][] = [[1, 1, 1], [5, 7, 3], [6, 8, 4], [7, 9, 13], [13, 130, 31], [49, 129, 257], [97, 300, 700], [130, 17, 513]];

describe.each(THREADS)('gemm on %i thread(s)', (threads) => {
  for (const [M, N, K] of SHAPES) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${M}×${N}×${K}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`, async () => {
        const rt = await testRuntime(threads);
        await scoped(rt, () => {
          const av = randn(M * K, M * 31 + K), bv = randn(K * N, N * 17 + K), c0 = randn(M * N, 5);
          const a = put(rt, av), b = put(rt, bv), c = put(rt, c0);
          const scratch = rt.arena.alloc(matmulScratchBytes(M, N, K), 'scratch');
          matmul(rt, { M, N, K, a, b, c, transA, transB, scratch });
          expectClose('C = AB', rt.read(c, M * N), refMatmul(M, N, K, av, bv, transA, transB));
          matmul(rt, { M, N, K, a, b, c, transA, transB, scratch, accumulate: true });
          const twice = refMatmul(M, N, K, av, bv, transA, transB).map((v) => 2 * v);
          expectClose('C += AB', rt.read(c, M * N), twice);
        });
      });
    }
  }

  it('is exact on small integers (every product and partial sum is representable)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const M = 61, N = 70, K = 300;
      const av = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
      const bv = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
      const a = put(rt, av), b = put(rt, bv), c = filled(rt, M * N, NaN);
      matmul(rt, { M, N, K, a, b, c, scratch: rt.arena.alloc(matmulScratchBytes(M, N, K), 's') });
      const got = rt.read(c, M * N), want = refMatmul(M, N, K, av, bv, false, false);
      for (let i = 0; i < M * N; i++) if (got[i] !== want[i]) expect(got[i], `C[${i}]`).toBe(want[i]);
    });
  });

  it('a batch of B and C with a shared A, and a per-row bias', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const M = 11, N = 37, K = 19, batch = 3;
      const av = randn(M * K, 1), bv = randn(batch * K * N, 2), bias = randn(M, 3);
      const a = put(rt, av), b = put(rt, bv), bb = put(rt, bias), c = filled(rt, batch * M * N, NaN);
      const pa = rt.arena.alloc(packedABytes(M, K), 'pa'), pb = rt.arena.alloc(batch * packedBBytes(K, N), 'pb');
      packA(rt, { ptr: a, sr: K, sk: 1 }, M, K, pa);
      packB(rt, { ptr: b, sr: 1, sk: N }, K, N, pb, batch, K * N * 4);
      gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N, cStride: M * N * 4, batch, bias: bb });
      const got = rt.read(c, batch * M * N);
      for (let i = 0; i < batch; i++) {
        const want = refMatmul(M, N, K, av, bv.subarray(i * K * N, (i + 1) * K * N), false, false).map((v, j) => v + bias[Math.floor(j / N)]!);
        expectClose(`batch ${i}`, got.subarray(i * M * N, (i + 1) * M * N), want);
      }
    });
  });

  it('a reduction index that wraps over images (period, kStride)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      // C (M, N) = Σ_n Σ_q A_n (M, Q)[m, q] · B_n (N, Q)[j, q]: the conv weight-gradient layout.
      const M = 10, N = 23, Q = 29, images = 3;
      const av = randn(images * M * Q, 7), bv = randn(images * N * Q, 8);
      const a = put(rt, av), b = put(rt, bv), c = filled(rt, M * N, 1);
      const pa = rt.arena.alloc(packedABytes(M, images * Q), 'pa'), pb = rt.arena.alloc(packedBBytes(images * Q, N), 'pb');
      packA(rt, { ptr: a, sr: Q, sk: 1, period: Q, kStride: M * Q }, M, images * Q, pa);
      packB(rt, { ptr: b, sr: Q, sk: 1, period: Q, kStride: N * Q }, images * Q, N, pb);
      gemm(rt, { M, N, K: images * Q, a: pa, b: pb, c, ldc: N, accumulate: true });
      const want = new Float64Array(M * N).fill(1);
      for (let n = 0; n < images; n++)
        for (let m = 0; m < M; m++)
          for (let j = 0; j < N; j++)
            for (let q = 0; q < Q; q++) want[m * N + j] += av[(n * M + m) * Q + q]! * bv[(n * N + j) * Q + q]!;
      expectClose('C += Σ_n A_n B_nᵀ', rt.read(c, M * N), want);
    });
  });

  it('K split into parts (overwriting and accumulating, batched, last part shorter), and the split rule', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      // 21 rows × 40 columns × a long K: one thread tile per image, the FCN head's backward-input shape.
      const M = 21, N = 40, K = 1031, batch = 2, kLen = 260; // parts of 260, 260, 260, 251
      const av = randn(M * K, 31), bv = randn(batch * K * N, 32), c0 = randn(batch * M * N, 33);
      const a = put(rt, av), b = put(rt, bv), c = put(rt, c0);
      const pa = rt.arena.alloc(packedABytes(M, K), 'pa'), pb = rt.arena.alloc(batch * packedBBytes(K, N), 'pb');
      const partials = rt.arena.alloc(splitKBytes(M, N, K, batch, kLen), 'parts');
      packA(rt, { ptr: a, sr: K, sk: 1 }, M, K, pa);
      packB(rt, { ptr: b, sr: 1, sk: N }, K, N, pb, batch, K * N * 4);
      const want = (i: number) => refMatmul(M, N, K, av, bv.subarray(i * K * N, (i + 1) * K * N), false, false);
      gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N, cStride: M * N * 4, batch, accumulate: true, split: { kLen, partials } });
      for (let i = 0; i < batch; i++) expectClose(`C_${i} += A·B_${i}`, rt.read(c + i * M * N * 4, M * N), want(i).map((v, j) => v + c0[i * M * N + j]!));
      gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N, cStride: M * N * 4, batch, split: { kLen, partials } });
      for (let i = 0; i < batch; i++) expectClose(`C_${i} = A·B_${i}`, rt.read(c + i * M * N * 4, M * N), want(i));
      expect(() => gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N + 1, split: { kLen, partials } })).toThrow(/dense C/);
    });
    // Split when the tiles are fewer than 4 per thread and K holds ≥ 2 parts of 256; never on one thread.
    expect(splitK(21, 40, 86016, 1, 2)).toBe(86016 / 8);
    expect(splitK(21, 40, 86016, 1, 1)).toBe(0);
    expect(splitK(512, 512, 4608, 1, 2)).toBe(0);
    expect(splitK(21, 40, 300, 1, 2)).toBe(0);
  });

  it('a packed B assembled from two sources (rows k0.. of a longer K)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const M = 9, N = 19, K1 = 13, K2 = 22, K = K1 + K2;
      const av = randn(M * K, 41), b1 = randn(K1 * N, 42), b2 = randn(K2 * N, 43);
      const a = put(rt, av), p1 = put(rt, b1), p2 = put(rt, b2), c = filled(rt, M * N, NaN);
      const pa = rt.arena.alloc(packedABytes(M, K), 'pa'), pb = rt.arena.alloc(packedBBytes(K, N), 'pb');
      packA(rt, { ptr: a, sr: K, sk: 1 }, M, K, pa);
      packB(rt, { ptr: p1, sr: 1, sk: N }, K1, N, pb, 1, 0, { k0: 0, K });
      packB(rt, { ptr: p2, sr: 1, sk: N }, K2, N, pb, 1, 0, { k0: K1, K });
      gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N });
      const bv = new Float32Array(K * N);
      bv.set(b1);
      bv.set(b2, K1 * N);
      expectClose('C = A·[B1; B2]', rt.read(c, M * N), refMatmul(M, N, K, av, bv, false, false));
      expect(() => packB(rt, { ptr: p2, sr: 1, sk: N }, K2, N, pb, 1, 0, { k0: K1 + 1, K })).toThrow(/do not fit/);
    });
  });

  it('A read backwards along k within periods (sk = −1: the flipped kernels of stride-1 backward-input)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      // a(m, (q, r)) = src[q·M·R + m·R + (R − 1 − r)], R = 9: a (M, Q·R) matrix of reversed runs.
      // M = 14: 4 panels, one per tile, the last of 2 rows; M = 150: 38 panels in groups of 4
      // (packA fills a group's panels one period at a time), the last of 2 rows.
      for (const M of [14, 150]) {
        const Q = 5, R = 9, N = 11, K = Q * R;
        const src = randn(Q * M * R, 21), bv = randn(K * N, 22);
        const a = put(rt, src), b = put(rt, bv), c = filled(rt, M * N, NaN);
        const pa = rt.arena.alloc(packedABytes(M, K), 'pa'), pb = rt.arena.alloc(packedBBytes(K, N), 'pb');
        packA(rt, { ptr: a + (R - 1) * 4, sr: R, sk: -1, period: R, kStride: M * R }, M, K, pa);
        packB(rt, { ptr: b, sr: 1, sk: N }, K, N, pb);
        gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N });
        const dense = new Float32Array(M * K);
        for (let m = 0; m < M; m++) for (let q = 0; q < Q; q++) for (let r = 0; r < R; r++) dense[m * K + q * R + r] = src[q * M * R + m * R + (R - 1 - r)]!;
        expectClose(`C (M = ${M})`, rt.read(c, M * N), refMatmul(M, N, K, dense, bv, false, false));
      }
      expect(() => packA(rt, { ptr: 0, sr: 2 ** 29, sk: 1 }, 4, 4, 0)).toThrow(/below 2\^29/);
    });
  });
});
