// f32 GEMM on packed panels with a register-blocked SIMD micro-kernel (the structure of
// XNNPACK's f32-gemm wasmsimd "loadsplat" kernels and of GotoBLAS's loop nest):
//   C (M, N) [+]= A (M, K) · B (K, N)  (+ bias(m) when overwriting)
// A is packed in panels of MR = 4 rows, (K, 4) each: a(m, k) at panel[k·4 + m%4];
// B in panels of NR = 8 columns, (K, 8) each: b(k, n) at panel[k·8 + n%8];
// rows/columns past M/N are packed as zeros, so the micro-kernel always computes a full 4×8 block
// (8 accumulators in v128 locals) and only the store is clipped.
// The packers read strided sources: a(m, k) = src[(k / P)·ks + (k % P)·sk + m·sm] (and the same
// for b(k, n) with sn), which covers plain and transposed matrices and a K that runs over images
// (conv weight gradients: K = (n, oy, ox)).
// Relaxed SIMD: built with --enable relaxed-simd, the multiply-add is f32x4.relaxed_madd (one FMA
// where the hardware has it); otherwise mul + add.
import { argF, argI, argU, nextTile } from './args';

export const MR = 4;
export const NR = 8;
/** K block: one A micro-panel (KC × 4 floats = 4 KiB) stays in L1 while the B panels stream. */
const KC = 256;
/** Rows (a multiple of MR) and columns (a multiple of NR) of one thread tile. */
const MC = 72;
const NC = 128;

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Stores the first `nr` (1..8) lanes of (v0, v1) at p, adding to what is there when `acc`. */
// @ts-ignore: decorator
@inline function storeRow(p: usize, v0: v128, v1: v128, nr: i32, acc: bool): void {
  if (nr == 8) {
    if (acc) {
      v0 = f32x4.add(v0, v128.load(p));
      v1 = f32x4.add(v1, v128.load(p, 16));
    }
    v128.store(p, v0);
    v128.store(p, v1, 16);
    return;
  }
  storeLanes(p, v0, min(nr, 4), acc);
  if (nr > 4) storeLanes(p + 16, v1, nr - 4, acc);
}

function storeLanes(p: usize, v: v128, n: i32, acc: bool): void {
  if (acc) {
    store<f32>(p, load<f32>(p) + f32x4.extract_lane(v, 0));
    if (n > 1) store<f32>(p, load<f32>(p, 4) + f32x4.extract_lane(v, 1), 4);
    if (n > 2) store<f32>(p, load<f32>(p, 8) + f32x4.extract_lane(v, 2), 8);
    if (n > 3) store<f32>(p, load<f32>(p, 12) + f32x4.extract_lane(v, 3), 12);
  } else {
    store<f32>(p, f32x4.extract_lane(v, 0));
    if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
    if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
    if (n > 3) store<f32>(p, f32x4.extract_lane(v, 3), 12);
  }
}

/**
 * The 4×8 micro-kernel: c[r, 0..nr) (+)= Σ_k a[k·4 + r] · b[k·8 + j] for r < mr, over kc steps.
 * `ldc` is C's row pitch in bytes; `bias` (0: none) is added per row when not accumulating.
 * Eight accumulators, two B vectors, the A splat and the product make 12 live v128 values: V8
 * allocates 15 XMM registers on x64, and a 6×8 block (16 live values without FMA) spilled in its
 * inner loop: measured alone on one thread (loaded machine, GFLOP per CPU-second) the 6×8 kernel
 * ran at 24–26 (relaxed SIMD: 26–30) where this one runs at 30–32 (36–38).
 */
function micro4x8(kc: i32, a: usize, b: usize, c: usize, ldc: usize, mr: i32, nr: i32, acc: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += MR << 2;
    b += NR << 2;
  }
  if (bias != 0 && !acc) {
    let bv = v128.load32_splat(bias);
    c00 = f32x4.add(c00, bv); c01 = f32x4.add(c01, bv);
    if (mr > 1) { bv = v128.load32_splat(bias, 4); c10 = f32x4.add(c10, bv); c11 = f32x4.add(c11, bv); }
    if (mr > 2) { bv = v128.load32_splat(bias, 8); c20 = f32x4.add(c20, bv); c21 = f32x4.add(c21, bv); }
    if (mr > 3) { bv = v128.load32_splat(bias, 12); c30 = f32x4.add(c30, bv); c31 = f32x4.add(c31, bv); }
  }
  storeRow(c, c00, c01, nr, acc);
  if (mr > 1) storeRow(c + ldc, c10, c11, nr, acc);
  if (mr > 2) storeRow(c + 2 * ldc, c20, c21, nr, acc);
  if (mr > 3) storeRow(c + 3 * ldc, c30, c31, nr, acc);
}

/**
 * GEMM over `batch` problems: C_i (M, N) [+]= A_i · B_i (+ bias).
 * args: M, N, K, packedA, packedB, bStride (bytes between packed B_i), C, ldc (elements),
 *       cStride (bytes between C_i), batch, accumulate (0/1), bias (0: none; length M),
 *       aStride (bytes between packed A_i; 0: one A shared by the batch),
 *       kLen (split K: 0 none; else part s sums k in [s·kLen, (s+1)·kLen) into its own C),
 *       partStride (split K: bytes between the parts' C; they overwrite, without bias)
 * Tiles: (K part, batch, MC rows, NC columns), from counter 0 (with one A for the batch: (K part,
 * MC rows, batch, NC columns)). Splitting K gives products with
 * few row/column tiles and a long K (a 21-channel head's backward-input, the stem's weight
 * gradient) enough tiles for every thread; reduceParts then sums the parts.
 */
export function gemm(ctl: usize): void {
  const M = argI(ctl, 0), N = argI(ctl, 1), K = argI(ctl, 2);
  const pa = argU(ctl, 3), pb = argU(ctl, 4), bStride = argU(ctl, 5);
  const C = argU(ctl, 6), ldc = argU(ctl, 7) << 2, cStride = argU(ctl, 8);
  const batch = argI(ctl, 9), bias = argU(ctl, 11), aStride = argU(ctl, 12);
  const kLen = argI(ctl, 13), partStride = argU(ctl, 14);
  const parts = kLen > 0 ? (K + kLen - 1) / kLen : 1;
  const accumulate = kLen == 0 && argI(ctl, 10) != 0;
  const mTiles = (M + MC - 1) / MC, nTiles = (N + NC - 1) / NC;
  const perPart = batch * mTiles * nTiles, tiles = parts * perPart;
  const aPanel = <usize>K * MR << 2, bPanel = <usize>K * NR << 2;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const part = t / perPart, tb = t % perPart;
    // With one A for the batch, tiles go (row tile, image, column tile): a thread's consecutive
    // tiles reuse the A rows it just read (≤ MC·K floats, L2-resident) across the images, instead
    // of streaming all of A once per image (layer4's 512×4608 weights for 40-column images).
    let bi: i32, mi: i32, ni: i32;
    if (aStride == 0) {
      mi = tb / (batch * nTiles); const r = tb % (batch * nTiles); bi = r / nTiles; ni = r % nTiles;
    } else {
      bi = tb / (mTiles * nTiles); const r = tb % (mTiles * nTiles); mi = r / nTiles; ni = r % nTiles;
    }
    const m0 = mi * MC, n0 = ni * NC;
    const m1 = min(M, m0 + MC), n1 = min(N, n0 + NC);
    const bBase = pb + <usize>bi * bStride, aBase = pa + <usize>bi * aStride;
    const cBase = C + <usize>bi * cStride + <usize>part * partStride;
    const kBegin = kLen > 0 ? part * kLen : 0, kEnd = kLen > 0 ? min(K, kBegin + kLen) : K;
    for (let k0 = kBegin; k0 < kEnd; k0 += KC) {
      const kc = min(KC, kEnd - k0);
      const acc = accumulate || k0 > kBegin;
      // One A micro-panel (kc × 4, ≤ 4 KiB) stays in L1 while the tile's B panels stream from L2,
      // and C is written along its rows (four sequential streams the prefetcher follows; walking
      // down the rows instead cost 2x on short-K products, whose C writes dominate).
      for (let m = m0; m < m1; m += MR) {
        const ap = aBase + <usize>(m / MR) * aPanel + (<usize>k0 * MR << 2);
        const mr = min(MR, m1 - m), bm = bias != 0 && kLen == 0 ? bias + (<usize>m << 2) : 0;
        const crow = cBase + (<usize>m * ldc);
        for (let n = n0; n < n1; n += NR) {
          const bp = bBase + <usize>(n / NR) * bPanel + (<usize>k0 * NR << 2);
          micro4x8(kc, ap, bp, crow + (<usize>n << 2), ldc, mr, min(NR, n1 - n), acc, bm);
        }
      }
    }
  }
}

/**
 * Packs A (M, K), a(m, k) = src[(k / P)·ks + (k % P)·sk + m·sm] (strides in elements), into
 * ⌈M/4⌉ panels of (K, 4) at dst. args: src, M, K, sm, sk, P, ks, dst. Tiles: groups of panels (counter 0).
 * Strides are signed (sk = −1 walks k backwards: conv's flipped kernels for backward-input).
 * Fast paths for full panels: k contiguous (sk = ±1: a 4×4 in-register transpose of 4 k at a
 * time) and rows contiguous (sm = 1: one 16-byte copy per k).
 */
export function packA(ctl: usize): void {
  const src = argU(ctl, 0), M = argI(ctl, 1), K = argI(ctl, 2);
  const sm = <usize>(argI(ctl, 3) << 2), sk = <usize>(argI(ctl, 4) << 2), P = argI(ctl, 5), ks = <usize>(argI(ctl, 6) << 2);
  const dst = argU(ctl, 7);
  const back = sk == <usize>-4;
  const panels = (M + MR - 1) / MR;
  // A tile is a group of up to 8 panels, filled one period at a time across the group: where k
  // wraps with a large stride (conv weights read transposed: one period per output channel,
  // C·9 floats apart) the group's rows of one period are one contiguous read, not 4 rows from
  // a different page per period. Groups shrink so that there are ≥ 8 tiles where possible.
  const G = max(1, min(8, panels >> 3)), groups = (panels + G - 1) / G;
  for (let t = nextTile(ctl, 0); t < groups; t = nextTile(ctl, 0)) {
    const p0 = t * G, p1 = min(panels, p0 + G);
    let kb: usize = 0;
    for (let k0 = 0; k0 < K; k0 += P) {
      const len = min(P, K - k0);
      for (let pi = p0; pi < p1; pi++) {
        const m0 = pi * MR;
        packRunA(src + <usize>m0 * sm + kb, dst + (<usize>pi * K * MR << 2) + (<usize>k0 * MR << 2), len, sm, sk, back, min(MR, M - m0));
      }
      kb += ks;
    }
  }
}

/**
 * Stores the 4×4 transpose of rows (r0, r1, r2, r3) at o, o + pitch, o + 2·pitch, o + 3·pitch:
 * row i is (r0[i], r1[i], r2[i], r3[i]). The packers use it to turn k-contiguous sources into
 * panel rows (pitch 16 for A's 4-wide panels; 32, twice, for B's 8-wide ones).
 */
// @ts-ignore: decorator
@inline export function storeTransposed4x4(o: usize, pitch: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(o, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(o + pitch, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(o + 2 * pitch, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(o + 3 * pitch, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/** One period of one A panel: rows base + r·sm (r < mr, zeros after), k = 0..len at steps sk, into o. */
// @ts-ignore: decorator
@inline function packRunA(base: usize, o: usize, len: i32, sm: usize, sk: usize, back: bool, mr: i32): void {
  let k = 0;
  if (mr == MR && (sk == 4 || back)) {
    for (; k + 4 <= len; k += 4) {
      // k..k+3 of each row; walking backwards they sit at p − 12 .. p, reversed.
      const p = back ? base - (<usize>k << 2) - 12 : base + (<usize>k << 2);
      let r0 = v128.load(p), r1 = v128.load(p + sm), r2 = v128.load(p + 2 * sm), r3 = v128.load(p + 3 * sm);
      if (back) {
        r0 = i32x4.shuffle(r0, r0, 3, 2, 1, 0); r1 = i32x4.shuffle(r1, r1, 3, 2, 1, 0);
        r2 = i32x4.shuffle(r2, r2, 3, 2, 1, 0); r3 = i32x4.shuffle(r3, r3, 3, 2, 1, 0);
      }
      storeTransposed4x4(o, MR << 2, r0, r1, r2, r3);
      o += 4 * MR << 2;
    }
  } else if (mr == MR && sm == 4) {
    for (; k < len; k++) {
      v128.store(o, v128.load(base + <usize>k * sk));
      o += MR << 2;
    }
  }
  for (; k < len; k++) {
    const p = base + <usize>k * sk;
    for (let r = 0; r < MR; r++) store<f32>(o + (<usize>r << 2), r < mr ? load<f32>(p + <usize>r * sm) : 0);
    o += MR << 2;
  }
}

/**
 * Packs `batch` matrices B_i (K, N), b(k, n) = src_i[(k / P)·ks + (k % P)·sk + n·sn], into
 * ⌈N/8⌉ panels of (K, 8) each. args: src, K, N, sk, sn, P, ks, dst, batch, srcStride, dstStride
 * (strides in elements; batch strides in bytes), panelPitch (bytes between panels; 0: K·8·4 —
 * larger to fill rows k0.. of the panels of a longer K from several sources).
 * Tiles: (batch, panel) (counter 0). Fast paths for full panels: columns contiguous (sn = 1: two
 * 16-byte copies per k) and k contiguous (sk = 1: 4×4 in-register transposes of 4 k at a time).
 */
export function packB(ctl: usize): void {
  const src = argU(ctl, 0), K = argI(ctl, 1), N = argI(ctl, 2);
  const sk = <usize>(argI(ctl, 3) << 2), sn = <usize>(argI(ctl, 4) << 2), P = argI(ctl, 5), ks = <usize>(argI(ctl, 6) << 2);
  const dst = argU(ctl, 7), batch = argI(ctl, 8), srcStride = argU(ctl, 9), dstStride = argU(ctl, 10);
  const pitch = argU(ctl, 11), panelBytes = pitch != 0 ? pitch : <usize>K * NR << 2;
  const panels = (N + NR - 1) / NR;
  const tiles = batch * panels;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const bi = t / panels, j = t % panels;
    const n0 = j * NR, nr = min(NR, N - n0);
    let o = dst + <usize>bi * dstStride + <usize>j * panelBytes;
    let base = src + <usize>bi * srcStride + <usize>n0 * sn;
    let kk = 0;
    if (nr == NR && sn == 4) {
      for (let k = 0; k < K; k++) {
        const p = base + <usize>kk * sk;
        v128.store(o, v128.load(p));
        v128.store(o, v128.load(p, 16), 16);
        o += NR << 2;
        if (++kk == P) { kk = 0; base += ks; }
      }
    } else if (nr == NR && sk == 4) {
      // k contiguous (a transposed source: conv weight gradients' colᵀ): 4 k of the 8 columns
      // at a time, two 4×4 in-register transposes, four packed rows written whole.
      for (let k = 0; k < K;) {
        const run = min(P - kk, K - k);
        let i = 0;
        for (; i + 4 <= run; i += 4) {
          const p = base + (<usize>(kk + i) << 2);
          const r0 = v128.load(p), r1 = v128.load(p + sn), r2 = v128.load(p + 2 * sn), r3 = v128.load(p + 3 * sn);
          const r4 = v128.load(p + 4 * sn), r5 = v128.load(p + 5 * sn), r6 = v128.load(p + 6 * sn), r7 = v128.load(p + 7 * sn);
          storeTransposed4x4(o, NR << 2, r0, r1, r2, r3);
          storeTransposed4x4(o + 16, NR << 2, r4, r5, r6, r7);
          o += 4 * NR << 2;
        }
        for (; i < run; i++) {
          const p = base + (<usize>(kk + i) << 2);
          for (let c = 0; c < NR; c++) store<f32>(o + (<usize>c << 2), load<f32>(p + <usize>c * sn));
          o += NR << 2;
        }
        k += run;
        kk += run;
        if (kk == P) { kk = 0; base += ks; }
      }
    } else {
      for (let k = 0; k < K; k++) {
        const p = base + <usize>kk * sk;
        for (let c = 0; c < NR; c++) store<f32>(o + (<usize>c << 2), c < nr ? load<f32>(p + <usize>c * sn) : 0);
        o += NR << 2;
        if (++kk == P) { kk = 0; base += ks; }
      }
    }
  }
}

/** Bytes of the packed A for an (M, K) matrix. */
export function packedABytes(M: i32, K: i32): usize {
  return <usize>((M + MR - 1) / MR) * MR * K << 2;
}
/** Bytes of one packed B for a (K, N) matrix. */
export function packedBBytes(K: i32, N: i32): usize {
  return <usize>((N + NR - 1) / NR) * NR * K << 2;
}

/** Fills n f32 at dst with v. args: dst, n, v. Tiles: 64 KiB chunks (counter 0). */
export function fill(ctl: usize): void {
  const dst = argU(ctl, 0), n = argU(ctl, 1), v = argF(ctl, 2);
  const CH: usize = 16384;
  const tiles = <i32>((n + CH - 1) / CH);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const i0 = <usize>t * CH, i1 = min(n, i0 + CH);
    for (let i = i0; i < i1; i++) store<f32>(dst + (i << 2), v);
  }
}

/**
 * Sums the K parts of a split GEMM: dst[i] [+]= Σ_s src[s·partStride + i] for i < n.
 * args: dst, src, n, parts, partStride (bytes), accumulate (0/1). Tiles: 64 KiB chunks (counter 0).
 */
export function reduceParts(ctl: usize): void {
  const dst = argU(ctl, 0), src = argU(ctl, 1), n = argU(ctl, 2), parts = argI(ctl, 3), stride = argU(ctl, 4);
  const accumulate = argI(ctl, 5) != 0;
  const CH: usize = 16384;
  const tiles = <i32>((n + CH - 1) / CH);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const i0 = <usize>t * CH, i1 = min(n, i0 + CH);
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const o = i << 2;
      let v = accumulate ? v128.load(dst + o) : f32x4.splat(0);
      for (let s = 0; s < parts; s++) v = f32x4.add(v, v128.load(src + <usize>s * stride + o));
      v128.store(dst + o, v);
    }
    for (; i < i1; i++) {
      const o = i << 2;
      let v: f32 = accumulate ? load<f32>(dst + o) : 0;
      for (let s = 0; s < parts; s++) v += load<f32>(src + <usize>s * stride + o);
      store<f32>(dst + o, v);
    }
  }
}
