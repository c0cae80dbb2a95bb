// Winograd F(2×2, 3×3) convolution (Lavin & Gray 2016) for 3×3 stride-1 kernels: a 4×4 input tile
// d gives a 2×2 output tile y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so per tile and channel pair 16
// multiplies replace 36. The 16 elementwise products summed over channels are 16 GEMMs
// M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T) over the T tiles, run by gemm.ts; these kernels are the
// transforms around them, writing U and V straight into the packed panel layouts:
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
import { argI, argU, nextTile } from './args';
import { MR, NR } from './gemm';

/**
 * U_ξ = G g Gᵀ for every (k, c), packed as 16 A matrices (K, C) of ⌈K/MR⌉ panels each, U_ξ at
 * dst + ξ·aBytes. g(k, c, r) (r = ky·3 + kx) = src[(j / P)·ks + (j % P)·sk + k·sr] with j = c·9 + r
 * (element strides, signed: the flipped kernels of backward-input walk r backwards).
 * args: src, K, C, sr, sk, P, ks, dst, aBytes. Tiles: k (counter 0).
 */
export function winogradWeights(ctl: usize): void {
  const src = argU(ctl, 0), K = argI(ctl, 1), C = argI(ctl, 2);
  const sr = argI(ctl, 3), sk = argI(ctl, 4), P = argI(ctl, 5), ks = argI(ctl, 6);
  const dst = argU(ctl, 7), aBytes = argU(ctl, 8);
  for (let k = nextTile(ctl, 0); k < K; k = nextTile(ctl, 0)) {
    const panel = dst + (<usize>(k / MR) * C * MR << 2) + (<usize>(k % MR) << 2);
    for (let c = 0; c < C; c++) {
      // g as 9 scalars. With the period a multiple of 9 (the forward's C·9, the flipped kernels' 9)
      // the 9 taps of one c lie in one period: one base, then steps of sk.
      let j = c * 9;
      let g0: f32, g1: f32, g2: f32, g3: f32, g4: f32, g5: f32, g6: f32, g7: f32, g8: f32;
      if (P % 9 == 0) {
        const q = src + (<usize>((j / P) * ks + (j % P) * sk + k * sr) << 2), d = <usize>sk << 2;
        g0 = load<f32>(q); g1 = load<f32>(q + d); g2 = load<f32>(q + 2 * d);
        g3 = load<f32>(q + 3 * d); g4 = load<f32>(q + 4 * d); g5 = load<f32>(q + 5 * d);
        g6 = load<f32>(q + 6 * d); g7 = load<f32>(q + 7 * d); g8 = load<f32>(q + 8 * d);
      } else {
        g0 = ld(src, j, P, sk, ks, k, sr); g1 = ld(src, j + 1, P, sk, ks, k, sr); g2 = ld(src, j + 2, P, sk, ks, k, sr);
        g3 = ld(src, j + 3, P, sk, ks, k, sr); g4 = ld(src, j + 4, P, sk, ks, k, sr); g5 = ld(src, j + 5, P, sk, ks, k, sr);
        g6 = ld(src, j + 6, P, sk, ks, k, sr); g7 = ld(src, j + 7, P, sk, ks, k, sr); g8 = ld(src, j + 8, P, sk, ks, k, sr);
      }
      // rows: G g (4×3)
      const a0 = g0, a1 = g1, a2 = g2;
      const b0 = <f32>0.5 * (g0 + g3 + g6), b1 = <f32>0.5 * (g1 + g4 + g7), b2 = <f32>0.5 * (g2 + g5 + g8);
      const c0 = <f32>0.5 * (g0 - g3 + g6), c1 = <f32>0.5 * (g1 - g4 + g7), c2 = <f32>0.5 * (g2 - g5 + g8);
      const d0 = g6, d1 = g7, d2 = g8;
      const o = panel + (<usize>c * MR << 2);
      const step = aBytes;
      putRow(o, step, 0, a0, a1, a2);
      putRow(o, step, 4, b0, b1, b2);
      putRow(o, step, 8, c0, c1, c2);
      putRow(o, step, 12, d0, d1, d2);
    }
  }
}

// @ts-ignore: decorator
@inline function ld(src: usize, j: i32, P: i32, sk: i32, ks: i32, k: i32, sr: i32): f32 {
  return load<f32>(src + (<usize>((j / P) * ks + (j % P) * sk + k * sr) << 2));
}

/** Row i of (G g) Gᵀ: [r0, ½(r0+r1+r2), ½(r0−r1+r2), r2] into U_{i..i+3}. */
// @ts-ignore: decorator
@inline function putRow(o: usize, step: usize, i: i32, r0: f32, r1: f32, r2: f32): void {
  const base = o + <usize>i * step;
  store<f32>(base, r0);
  store<f32>(base + step, <f32>0.5 * (r0 + r1 + r2));
  store<f32>(base + 2 * step, <f32>0.5 * (r0 - r1 + r2));
  store<f32>(base + 3 * step, r2);
}

/**
 * V_ξ = Bᵀ d B for every 4×4 input tile (rows 2·th − pad .., zero outside) and channel, packed as
 * 16 B matrices (C, T) in panels of 8 tiles, V_ξ at dst + ξ·bBytes; tile t = (n·TH + th)·TW + tw.
 * args: x, N, C, H, W, padH, padW, TH, TW, dst, bBytes. Tiles: (image, channel) (counter 0), or
 * (image, channel pair) when TW is a multiple of 4.
 */
export function winogradInput(ctl: usize): void {
  const x = argU(ctl, 0), N = argI(ctl, 1), C = argI(ctl, 2), H = argI(ctl, 3), W = argI(ctl, 4);
  const PH = argI(ctl, 5), PW = argI(ctl, 6), TH = argI(ctl, 7), TW = argI(ctl, 8);
  const dst = argU(ctl, 9), bBytes = argU(ctl, 10);
  // With TW a multiple of 4, every run of 4 tiles (4·q .. 4·q + 3) lies in one tile row and fills
  // half a panel row: those are transformed 4 at a time, one tile per lane (inputFour), for two
  // channels in turn, so that one thread writes each 64-byte line of a panel (rows c, c + 1) whole.
  if ((TW & 3) == 0) {
    const pairs = (C + 1) >> 1, jobs = N * pairs;
    for (let t = nextTile(ctl, 0); t < jobs; t = nextTile(ctl, 0)) {
      const n = t / pairs, c0 = (t % pairs) << 1, cn = min(2, C - c0);
      const plane0 = x + (<usize>(n * C + c0) * H * W << 2);
      for (let th = 0; th < TH; th++) {
        const y0 = th * 2 - PH;
        for (let tw = 0; tw < TW; tw += 4) {
          const tile = (n * TH + th) * TW + tw;
          const o = dst + (<usize>(tile / NR) * C * NR << 2) + (<usize>c0 * NR << 2) + (<usize>(tile % NR) << 2);
          inputFour(plane0, y0, tw * 2 - PW, H, W, o, bBytes);
          if (cn > 1) inputFour(plane0 + (<usize>H * W << 2), y0, tw * 2 - PW, H, W, o + (NR << 2), bBytes);
        }
      }
    }
    return;
  }
  const tiles = N * C;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / C, c = t % C;
    const plane = x + (<usize>t * H * W << 2);
    for (let th = 0; th < TH; th++) {
      const y0 = th * 2 - PH;
      for (let tw = 0; tw < TW; tw++) {
        const x0 = tw * 2 - PW;
        // d rows as 4 lanes each (zero outside the image)
        let r0 = f32x4.splat(0), r1 = f32x4.splat(0), r2 = f32x4.splat(0), r3 = f32x4.splat(0);
        if (x0 >= 0 && x0 + 4 <= W) {
          if (y0 >= 0 && y0 < H) r0 = v128.load(plane + (<usize>(y0 * W + x0) << 2));
          if (y0 + 1 >= 0 && y0 + 1 < H) r1 = v128.load(plane + (<usize>((y0 + 1) * W + x0) << 2));
          if (y0 + 2 >= 0 && y0 + 2 < H) r2 = v128.load(plane + (<usize>((y0 + 2) * W + x0) << 2));
          if (y0 + 3 >= 0 && y0 + 3 < H) r3 = v128.load(plane + (<usize>((y0 + 3) * W + x0) << 2));
        } else {
          r0 = edgeRow(plane, y0, x0, H, W);
          r1 = edgeRow(plane, y0 + 1, x0, H, W);
          r2 = edgeRow(plane, y0 + 2, x0, H, W);
          r3 = edgeRow(plane, y0 + 3, x0, H, W);
        }
        // Bᵀ d: rows
        const t0 = f32x4.sub(r0, r2), t1 = f32x4.add(r1, r2), t2 = f32x4.sub(r2, r1), t3 = f32x4.sub(r1, r3);
        const tile = (n * TH + th) * TW + tw;
        const o = dst + (<usize>(tile / NR) * C * NR << 2) + (<usize>c * NR << 2) + (<usize>(tile % NR) << 2);
        putCols(o, bBytes, 0, t0);
        putCols(o, bBytes, 4, t1);
        putCols(o, bBytes, 8, t2);
        putCols(o, bBytes, 12, t3);
      }
    }
  }
}

/**
 * Bᵀ d B of four horizontally adjacent tiles (inputs x0 .. x0 + 9 of rows y0 .. y0 + 3), lane l
 * holding tile l: V_ξ of the four at o + ξ·step, one 16-byte store each.
 */
function inputFour(plane: usize, y0: i32, x0: i32, H: i32, W: i32, o: usize, step: usize): void {
  // Row i as d_i0..d_i3 (lane l: x[y0 + i][x0 + 2l + j]), zero outside the image.
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0; // row 0
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let c0 = a0, c1 = a0, c2 = a0, c3 = a0;
  let e0 = a0, e1 = a0, e2 = a0, e3 = a0;
  const inside = x0 >= 0 && x0 + 10 <= W;
  // Edge runs (x0 < 0 or past W − 10) read x0 .. x0 + 9 all the same (at most 2 floats before
  // the plane and past the row: padding ≤ 2) and zero the lanes outside [0, W) — unless the read
  // could pass the end of memory, where edgeRow reads lane by lane.
  const masked = !inside && x0 >= -2 && plane + (<usize>(H * W + 8) << 2) <= (<usize>memory.size() << 16);
  const lanes = i32x4(0, 1, 2, 3), wv = i32x4.splat(W);
  const m0 = i32x4.lt_u(i32x4.add(i32x4.splat(x0), lanes), wv), m1 = i32x4.lt_u(i32x4.add(i32x4.splat(x0 + 4), lanes), wv);
  const m2 = i32x4.lt_u(i32x4.add(i32x4.splat(x0 + 2), lanes), wv), m3 = i32x4.lt_u(i32x4.add(i32x4.splat(x0 + 6), lanes), wv);
  for (let i = 0; i < 4; i++) {
    const y = y0 + i;
    if (y < 0 || y >= H) continue;
    const row = plane + (<usize>(y * W) << 2);
    let v0: v128, v1: v128, u0: v128, u1: v128;
    if (inside) {
      const p = row + (<usize>x0 << 2);
      v0 = v128.load(p); v1 = v128.load(p, 16); u0 = v128.load(p, 8); u1 = v128.load(p, 24);
    } else if (masked) {
      const p = row + <usize>(x0 << 2); // x0 ≥ −2: at most 8 bytes before the row
      v0 = v128.and(v128.load(p), m0); v1 = v128.and(v128.load(p, 16), m1);
      u0 = v128.and(v128.load(p, 8), m2); u1 = v128.and(v128.load(p, 24), m3);
    } else {
      v0 = edgeRow(plane, y, x0, H, W); v1 = edgeRow(plane, y, x0 + 4, H, W);
      u0 = edgeRow(plane, y, x0 + 2, H, W); u1 = edgeRow(plane, y, x0 + 6, H, W);
    }
    const d0 = i32x4.shuffle(v0, v1, 0, 2, 4, 6), d1 = i32x4.shuffle(v0, v1, 1, 3, 5, 7);
    const d2 = i32x4.shuffle(u0, u1, 0, 2, 4, 6), d3 = i32x4.shuffle(u0, u1, 1, 3, 5, 7);
    if (i == 0) { a0 = d0; a1 = d1; a2 = d2; a3 = d3; }
    else if (i == 1) { b0 = d0; b1 = d1; b2 = d2; b3 = d3; }
    else if (i == 2) { c0 = d0; c1 = d1; c2 = d2; c3 = d3; }
    else { e0 = d0; e1 = d1; e2 = d2; e3 = d3; }
  }
  // Bᵀ d, row by row: [d0 − d2, d1 + d2, d2 − d1, d1 − d3]; then each row times B.
  colsFour(o, step, 0, f32x4.sub(a0, c0), f32x4.sub(a1, c1), f32x4.sub(a2, c2), f32x4.sub(a3, c3));
  colsFour(o, step, 4, f32x4.add(b0, c0), f32x4.add(b1, c1), f32x4.add(b2, c2), f32x4.add(b3, c3));
  colsFour(o, step, 8, f32x4.sub(c0, b0), f32x4.sub(c1, b1), f32x4.sub(c2, b2), f32x4.sub(c3, b3));
  colsFour(o, step, 12, f32x4.sub(b0, e0), f32x4.sub(b1, e1), f32x4.sub(b2, e2), f32x4.sub(b3, e3));
}

/** Row i of (Bᵀ d) B for four tiles: [t0 − t2, t1 + t2, t2 − t1, t1 − t3] into V_{i..i+3}. */
// @ts-ignore: decorator
@inline function colsFour(o: usize, step: usize, i: i32, t0: v128, t1: v128, t2: v128, t3: v128): void {
  const base = o + <usize>i * step;
  v128.store(base, f32x4.sub(t0, t2));
  v128.store(base + step, f32x4.add(t1, t2));
  v128.store(base + 2 * step, f32x4.sub(t2, t1));
  v128.store(base + 3 * step, f32x4.sub(t1, t3));
}

function edgeRow(plane: usize, y: i32, x0: i32, H: i32, W: i32): v128 {
  if (y < 0 || y >= H) return f32x4.splat(0);
  const row = plane + (<usize>(y * W) << 2);
  const v0: f32 = x0 >= 0 && x0 < W ? load<f32>(row + (<usize>x0 << 2)) : 0;
  const v1: f32 = x0 + 1 >= 0 && x0 + 1 < W ? load<f32>(row + (<usize>(x0 + 1) << 2)) : 0;
  const v2: f32 = x0 + 2 >= 0 && x0 + 2 < W ? load<f32>(row + (<usize>(x0 + 2) << 2)) : 0;
  const v3: f32 = x0 + 3 >= 0 && x0 + 3 < W ? load<f32>(row + (<usize>(x0 + 3) << 2)) : 0;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(v0), 1, v1), 2, v2), 3, v3);
}

/** Row i of (Bᵀ d) B: [t0 − t2, t1 + t2, t2 − t1, t1 − t3] into V_{i..i+3}. */
// @ts-ignore: decorator
@inline function putCols(o: usize, step: usize, i: i32, t: v128): void {
  const a = f32x4.extract_lane(t, 0), b = f32x4.extract_lane(t, 1), c = f32x4.extract_lane(t, 2), d = f32x4.extract_lane(t, 3);
  const base = o + <usize>i * step;
  store<f32>(base, a - c);
  store<f32>(base + step, b + c);
  store<f32>(base + 2 * step, c - b);
  store<f32>(base + 3 * step, b - d);
}

/**
 * y (N, K, OH, OW) [+]= Aᵀ M A (+ bias) from the 16 products M_ξ (K, T) at m + ξ·step, clipped
 * to the image. args: m, y, N, K, OH, OW, TH, TW, bias (0: none), accumulate, step (bytes between
 * the M_ξ, ≥ K·T·4). Tiles: (image, k).
 */
export function winogradOutput(ctl: usize): void {
  const m = argU(ctl, 0), y = argU(ctl, 1), N = argI(ctl, 2), K = argI(ctl, 3);
  const OH = argI(ctl, 4), OW = argI(ctl, 5), TH = argI(ctl, 6), TW = argI(ctl, 7);
  const bias = argU(ctl, 8), accumulate = argI(ctl, 9) != 0;
  const T = N * TH * TW;
  const step = argU(ctl, 10);
  const tiles = N * K;
  // Four tiles at a time (lane l: tile tw + l) where they are in one tile row and their 8×2
  // outputs inside the image: M_ξ of consecutive tiles are contiguous, so 16 vector loads.
  const fourEnd = (TW & ~3) * 2 <= OW ? TW & ~3 : (TW - 1) & ~3;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / K, k = t % K;
    const b: f32 = bias != 0 ? load<f32>(bias + (<usize>k << 2)) : 0;
    const bv = f32x4.splat(b);
    const out = y + (<usize>t * OH * OW << 2);
    for (let th = 0; th < TH; th++) {
      const oy = th * 2, full = oy + 1 < OH;
      let tw = 0;
      for (; tw < fourEnd; tw += 4) {
        const p = m + ((<usize>k * T + (n * TH + th) * TW + tw) << 2);
        // rows i of M for 4 tiles: m_ij at p + (4i + j)·step
        const s00 = f32x4.add(f32x4.add(v128.load(p), v128.load(p + 4 * step)), v128.load(p + 8 * step));
        const s01 = f32x4.add(f32x4.add(v128.load(p + step), v128.load(p + 5 * step)), v128.load(p + 9 * step));
        const s02 = f32x4.add(f32x4.add(v128.load(p + 2 * step), v128.load(p + 6 * step)), v128.load(p + 10 * step));
        const s03 = f32x4.add(f32x4.add(v128.load(p + 3 * step), v128.load(p + 7 * step)), v128.load(p + 11 * step));
        // Aᵀ M: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (per column j)
        const s10 = f32x4.sub(f32x4.sub(v128.load(p + 4 * step), v128.load(p + 8 * step)), v128.load(p + 12 * step));
        const s11 = f32x4.sub(f32x4.sub(v128.load(p + 5 * step), v128.load(p + 9 * step)), v128.load(p + 13 * step));
        const s12 = f32x4.sub(f32x4.sub(v128.load(p + 6 * step), v128.load(p + 10 * step)), v128.load(p + 14 * step));
        const s13 = f32x4.sub(f32x4.sub(v128.load(p + 7 * step), v128.load(p + 11 * step)), v128.load(p + 15 * step));
        // (Aᵀ M) A: y_r0 = s_r0 + s_r1 + s_r2, y_r1 = s_r1 − s_r2 − s_r3
        const y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), bv), y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), bv);
        const y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), bv), y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), bv);
        const q = out + (<usize>(oy * OW + tw * 2) << 2);
        put4(q, i32x4.shuffle(y00, y01, 0, 4, 1, 5), accumulate);
        put4(q + 16, i32x4.shuffle(y00, y01, 2, 6, 3, 7), accumulate);
        if (full) {
          const q1 = q + (<usize>OW << 2);
          put4(q1, i32x4.shuffle(y10, y11, 0, 4, 1, 5), accumulate);
          put4(q1 + 16, i32x4.shuffle(y10, y11, 2, 6, 3, 7), accumulate);
        }
      }
      for (; tw < TW; tw++) {
        const tile = (n * TH + th) * TW + tw;
        const p = m + ((<usize>k * T + tile) << 2);
        // rows of M (4 × 4), ξ = 4·i + j
        const m0 = row4(p, step, 0), m1 = row4(p, step, 4), m2 = row4(p, step, 8), m3 = row4(p, step, 12);
        // Aᵀ M: two rows of 4
        const s0 = f32x4.add(f32x4.add(m0, m1), m2), s1 = f32x4.sub(f32x4.sub(m1, m2), m3);
        const y00 = f32x4.extract_lane(s0, 0) + f32x4.extract_lane(s0, 1) + f32x4.extract_lane(s0, 2) + b;
        const y01 = f32x4.extract_lane(s0, 1) - f32x4.extract_lane(s0, 2) - f32x4.extract_lane(s0, 3) + b;
        const y10 = f32x4.extract_lane(s1, 0) + f32x4.extract_lane(s1, 1) + f32x4.extract_lane(s1, 2) + b;
        const y11 = f32x4.extract_lane(s1, 1) - f32x4.extract_lane(s1, 2) - f32x4.extract_lane(s1, 3) + b;
        const ox = tw * 2;
        const q = out + (<usize>(oy * OW + ox) << 2);
        put(q, y00, accumulate);
        if (ox + 1 < OW) put(q + 4, y01, accumulate);
        if (oy + 1 < OH) {
          put(q + (<usize>OW << 2), y10, accumulate);
          if (ox + 1 < OW) put(q + (<usize>OW << 2) + 4, y11, accumulate);
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function row4(p: usize, step: usize, i: i32): v128 {
  const base = p + <usize>i * step;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(base)), 1, load<f32>(base + step)), 2, load<f32>(base + 2 * step)), 3, load<f32>(base + 3 * step));
}

// @ts-ignore: decorator
@inline function put4(p: usize, v: v128, acc: bool): void {
  v128.store(p, acc ? f32x4.add(v128.load(p), v) : v);
}

// @ts-ignore: decorator
@inline function put(p: usize, v: f32, acc: bool): void {
  store<f32>(p, acc ? load<f32>(p) + v : v);
}
