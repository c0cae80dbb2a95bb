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
      // g as 9 scalars
      let j = c * 9;
      const g0 = ld(src, j, P, sk, ks, k, sr), g1 = ld(src, j + 1, P, sk, ks, k, sr), g2 = ld(src, j + 2, P, sk, ks, k, sr);
      const g3 = ld(src, j + 3, P, sk, ks, k, sr), g4 = ld(src, j + 4, P, sk, ks, k, sr), g5 = ld(src, j + 5, P, sk, ks, k, sr);
      const g6 = ld(src, j + 6, P, sk, ks, k, sr), g7 = ld(src, j + 7, P, sk, ks, k, sr), g8 = ld(src, j + 8, P, sk, ks, k, sr);
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
 * args: x, N, C, H, W, padH, padW, TH, TW, dst, bBytes. Tiles: (image, channel) (counter 0).
 */
export function winogradInput(ctl: usize): void {
  const x = argU(ctl, 0), N = argI(ctl, 1), C = argI(ctl, 2), H = argI(ctl, 3), W = argI(ctl, 4);
  const PH = argI(ctl, 5), PW = argI(ctl, 6), TH = argI(ctl, 7), TW = argI(ctl, 8);
  const dst = argU(ctl, 9), bBytes = argU(ctl, 10);
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
 * y (N, K, OH, OW) [+]= Aᵀ M A (+ bias) from the 16 products M_ξ (K, T) at m + ξ·K·T·4, clipped
 * to the image. args: m, y, N, K, OH, OW, TH, TW, bias (0: none), accumulate. Tiles: (image, k).
 */
export function winogradOutput(ctl: usize): void {
  const m = argU(ctl, 0), y = argU(ctl, 1), N = argI(ctl, 2), K = argI(ctl, 3);
  const OH = argI(ctl, 4), OW = argI(ctl, 5), TH = argI(ctl, 6), TW = argI(ctl, 7);
  const bias = argU(ctl, 8), accumulate = argI(ctl, 9) != 0;
  const T = N * TH * TW;
  const step = <usize>K * T << 2;
  const tiles = N * K;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / K, k = t % K;
    const b: f32 = bias != 0 ? load<f32>(bias + (<usize>k << 2)) : 0;
    const out = y + (<usize>t * OH * OW << 2);
    for (let th = 0; th < TH; th++) {
      for (let tw = 0; tw < TW; tw++) {
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
        const oy = th * 2, ox = tw * 2;
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
@inline function put(p: usize, v: f32, acc: bool): void {
  store<f32>(p, acc ? load<f32>(p) + v : v);
}
