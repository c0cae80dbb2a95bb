// Direct transposed-convolution kernels for kernels that are a whole number of strides (kh = Th·sh,
// kw = Tw·sw) with sw and pw multiples of 4 (FCN's k = 2s heads with s = 8, 16, 32): they read x,
// w and dy in place (no phase products, no packed operand, no scatter), SIMD along the output
// width, in register blocks shaped like the GEMM's 4×8 micro-kernel (gemm.ts: 8 v128 accumulators,
// 6 loads per 8 multiply-adds; V8 has 15 XMM registers on x64). With sw % 4 == 0 and pw % 4 == 0,
// OW = QW·sw − 2·pw is a multiple of 4 and every aligned 4-vector of output columns shares one
// input column and lies wholly inside or outside the output, so boundaries are handled per vector.
// The small ones with other width strides ≥ 2 (FCN's k4/s2 upsamplers: 1-5 MFLOP a pass, where
// thread dispatches weigh) run each pass in one dispatch with SIMD across channels instead
// (tconvChannels*: each thread first copies the operands it needs into its own scratch).
// src/backends/wasm/conv2d.ts plans them all ('direct' steps).
import { argI, argU, nextTile } from './args';

/**
 * This thread's scratch slot, 0 .. threads − 1: every thread of the pool runs an op once, and tile
 * counter 3 (reset with the others before each op; these kernels take tiles from counter 0) hands
 * each a distinct number.
 */
// @ts-ignore: decorator
@inline function threadSlot(ctl: usize): i32 {
  return nextTile(ctl, 3);
}

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/**
 * xp (N·Cin planes, Hp × Wp) = x padded with Th − 1 rows and Tw − 1 columns of zeros on the top and
 * left, and zeros below and right up to Hp × Wp (the forward's 4-column input blocks may run past
 * QW). args: x, planes, H, W, xp, Hp, Wp, top, left. Tiles: planes (counter 0).
 */
export function tconvPad(ctl: usize): void {
  const x = argU(ctl, 0), planes = argI(ctl, 1), H = argI(ctl, 2), W = argI(ctl, 3), xp = argU(ctl, 4);
  const Hp = argI(ctl, 5), Wp = argI(ctl, 6), top = argI(ctl, 7), left = argI(ctl, 8);
  for (let t = nextTile(ctl, 0); t < planes; t = nextTile(ctl, 0)) {
    const src = x + (<usize>t * H * W << 2);
    let dst = xp + (<usize>t * Hp * Wp << 2);
    for (let r = 0; r < Hp; r++, dst += <usize>Wp << 2) {
      const iy = r - top;
      if (iy < 0 || iy >= H) {
        memory.fill(dst, 0, <usize>Wp << 2);
        continue;
      }
      memory.fill(dst, 0, <usize>left << 2);
      memory.copy(dst + (<usize>left << 2), src + (<usize>iy * W << 2), <usize>W << 2);
      memory.fill(dst + (<usize>(left + W) << 2), 0, <usize>(Wp - left - W) << 2);
    }
  }
}

/**
 * Forward: y(n, co, oy, ox) = b(co) + Σ_{ci, a, b} x(n, ci, Qy − a, Qx − b) · w(ci, co, a·sh + ry, b·sw + rx)
 * with q = o + p = Q·s + r, read from the padded xp (tconvPad: Th − 1 rows, Tw − 1 columns on the
 * left). One output row (co, oy) has fixed Qy and ry; a block is 4 consecutive Qx × 8 consecutive rx
 * (sw % 8 == 0: 4 splats of x and 2 vectors of w per tap, 8 multiply-adds) or × 4 rx (sw == 4),
 * over the K = Cin·Th·Tw taps; output vectors outside [pw, pw + OW) are dropped.
 * A tile first copies its weights into the thread's panel (at panels + tid·panelBytes): per group
 * of VW = 8 (or 4) rx, K rows of VW floats in tap order, so the tap loop streams them like a packed
 * GEMM operand (w itself keeps a tile's rows Cout·kh·kw floats apart: on the FCN heads a multiple
 * of 4 KiB, which maps them onto a few L1 sets), followed by the taps' byte offsets into xp.
 * args: xp, w, bias (0: none), y, N, Cin, Cout, QH, QW, kh, kw, sh, sw, ph, pw, OH, OW, Hp, Wp,
 * panels, panelBytes (≥ (sw + 1)·K·4). Tiles: (co, ry) (counter 0).
 */
export function tconvDirectForward(ctl: usize): void {
  const tid = threadSlot(ctl);
  const wide = argI(ctl, 12) % 8 == 0;
  const xp = argU(ctl, 0), w = argU(ctl, 1), bias = argU(ctl, 2), y = argU(ctl, 3);
  const N = argI(ctl, 4), Cin = argI(ctl, 5), Cout = argI(ctl, 6);
  const kh = argI(ctl, 9), kw = argI(ctl, 10), sh = argI(ctl, 11), sw = argI(ctl, 12), ph = argI(ctl, 13), pw = argI(ctl, 14);
  const OH = argI(ctl, 15), OW = argI(ctl, 16), Hp = argI(ctl, 17), Wp = argI(ctl, 18);
  const panel = argU(ctl, 19) + <usize>tid * argU(ctl, 20);
  const Th = kh / sh, Tw = kw / sw, K = Cin * Th * Tw;
  const VW = wide ? 8 : 4, group = <usize>K * VW << 2; // bytes of one rx group's panel
  const offs = panel + <usize>(sw / VW) * group; // K i32 offsets into xp
  const wCi = <usize>Cout * kh * kw << 2;
  const xCi = <usize>Hp * Wp << 2; // xp plane stride
  // Tap k = (ci, a, b) reads xp a rows above and b columns left of (Qy + Th − 1, Qx + Tw − 1).
  for (let ci = 0, k = 0; ci < Cin; ci++) {
    for (let a = 0; a < Th; a++) {
      for (let b = 0; b < Tw; b++, k++) store<i32>(offs + (<usize>k << 2), <i32>(ci * Hp * Wp - a * Wp - b) << 2);
    }
  }
  const tiles = Cout * sh;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const co = t / sh, ry = t % sh;
    const bv = bias != 0 ? v128.load32_splat(bias + (<usize>co << 2)) : f32x4.splat(0);
    // The panel: (rx group g, k, VW) from w(ci, co, a·sh + ry, b·sw + g·VW + ·).
    const wt = w + (<usize>((co * kh + ry) * kw) << 2);
    for (let ci = 0, k = 0; ci < Cin; ci++) {
      for (let a = 0; a < Th; a++) {
        for (let b = 0; b < Tw; b++, k++) {
          const src = wt + <usize>ci * wCi + (<usize>(a * sh * kw + b * sw) << 2);
          for (let g = 0; g < sw / VW; g++) {
            const dst = panel + <usize>g * group + (<usize>k * VW << 2), sg = src + (<usize>g * VW << 2);
            v128.store(dst, v128.load(sg));
            if (wide) v128.store(dst, v128.load(sg, 16), 16);
          }
        }
      }
    }
    // oy = Qy·sh + ry − ph inside [0, OH)
    const Qy0 = ry >= ph ? 0 : (ph - ry + sh - 1) / sh;
    for (let n = 0; n < N; n++) {
      const xn = xp + (<usize>n * Cin * Hp * Wp << 2);
      for (let Qy = Qy0; ; Qy++) {
        const oy = Qy * sh + ry - ph;
        if (oy >= OH) break;
        const yrow = y + (<usize>((n * Cout + co) * OH + oy) * OW << 2);
        // xp row of tap a = 0
        const xrow = xn + (<usize>(Qy + Th - 1) * Wp << 2);
        for (let rx = 0; rx < sw; rx += VW) {
          // The Qx whose vectors at rx (or rx + 4) lie in the output window: q = Qx·sw + rx in
          // [pw, pw + OW − 4]. Blocks of 4 start at the first, so only the last block overhangs.
          const rl = wide ? rx + 4 : rx, top = pw + OW - 4 - rx;
          const lo = (pw - rl + sw - 1) / sw, hi = top < 0 ? -1 : top / sw;
          const pg = panel + <usize>(rx / VW) * group;
          for (let Qx0 = lo; Qx0 <= hi; Qx0 += 4) {
            // xp column of (Qx0, b = 0)
            const xb = xrow + (<usize>(Qx0 + Tw - 1) << 2);
            // Output column of (Qx0 + j, rx) is (Qx0 + j)·sw + rx − pw.
            const o0 = Qx0 * sw + rx - pw;
            if (wide) forwardBlock8(xb, pg, offs, K, yrow, o0, sw, OW, bv);
            else forwardBlock4(xb, pg, offs, K, yrow, o0, sw, OW, bv);
          }
        }
      }
    }
  }
}

/**
 * One forward block: 4 Qx × 8 rx (forwardBlock8) or × 4 rx (forwardBlock4) over K taps, from the
 * weight panel `wp` (VW floats per tap), the taps' xp byte offsets `op` from `xb`; stores the output
 * vectors inside [0, OW) of row `yrow` at columns o0 + j·sw (+ 4), plus `bv`. A function of its own,
 * like gemm.ts's micro-kernel, so that the register allocator sees only the block's values.
 */
function forwardBlock8(xb: usize, wp: usize, op: usize, K: i32, yrow: usize, o0: i32, sw: i32, OW: i32, bv: v128): void {
  forwardBlock(xb, wp, op, K, yrow, o0, sw, OW, bv, true);
}
function forwardBlock4(xb: usize, wp: usize, op: usize, K: i32, yrow: usize, o0: i32, sw: i32, OW: i32, bv: v128): void {
  forwardBlock(xb, wp, op, K, yrow, o0, sw, OW, bv, false);
}

// @ts-ignore: decorator
@inline function forwardBlock(xb: usize, wp: usize, op: usize, K: i32, yrow: usize, o0: i32, sw: i32, OW: i32, bv: v128, wide: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < K; k++) {
    // As gemm.ts's micro-kernel: two vectors, then one splat at a time (12 live v128).
    const xq = xb + <usize>load<i32>(op);
    const w0 = v128.load(wp), w1 = wide ? v128.load(wp, 16) : w0;
    let xv = v128.load32_splat(xq);
    c00 = madd(xv, w0, c00); if (wide) c01 = madd(xv, w1, c01);
    xv = v128.load32_splat(xq, 4);
    c10 = madd(xv, w0, c10); if (wide) c11 = madd(xv, w1, c11);
    xv = v128.load32_splat(xq, 8);
    c20 = madd(xv, w0, c20); if (wide) c21 = madd(xv, w1, c21);
    xv = v128.load32_splat(xq, 12);
    c30 = madd(xv, w0, c30); if (wide) c31 = madd(xv, w1, c31);
    wp += wide ? 32 : 16;
    op += 4;
  }
  storeClipped(yrow, o0, OW, f32x4.add(c00, bv));
  storeClipped(yrow, o0 + sw, OW, f32x4.add(c10, bv));
  storeClipped(yrow, o0 + 2 * sw, OW, f32x4.add(c20, bv));
  storeClipped(yrow, o0 + 3 * sw, OW, f32x4.add(c30, bv));
  if (wide) {
    storeClipped(yrow, o0 + 4, OW, f32x4.add(c01, bv));
    storeClipped(yrow, o0 + sw + 4, OW, f32x4.add(c11, bv));
    storeClipped(yrow, o0 + 2 * sw + 4, OW, f32x4.add(c21, bv));
    storeClipped(yrow, o0 + 3 * sw + 4, OW, f32x4.add(c31, bv));
  }
}

// @ts-ignore: decorator
@inline function storeClipped(row: usize, o: i32, OW: i32, v: v128): void {
  if (o >= 0 && o < OW) v128.store(row + (<usize>o << 2), v);
}

/**
 * Backward-input, per output channel: part(n, co, ci, iy, ix) = Σ_{ky, kx} w(ci, co, ky, kx) ·
 * dy(n, co, iy·sh − ph + ky, ix·sw − pw + kx) over the taps that land inside dy (a ky range and,
 * with sw, pw and OW multiples of 4, a kx range of whole vectors). A block is 4 ci × 2 ix (ix and
 * ix + 1 share the taps [lo(ix), hi(ix + 1)); each has the rest of its range alone): 4 vectors of w
 * and 2 of dy per 8 multiply-adds, horizontal sums at the end; the first Cin % 4 blocks take 5 ci
 * (inputPair5: 10 accumulators, 13 live v128), so that Cin = 21 is 5 + 4·4 with no partial block.
 * tconvDirectReduce sums the channels.
 * args: dy, w, part, N, Cin, Cout, H, W, kh, kw, sh, sw, ph, pw, OH, OW.
 * Tiles: (n, co) (counter 0): one tile reads w(·, co, ·, ·) and one dy plane.
 */
export function tconvDirectInput(ctl: usize): void {
  const dy = argU(ctl, 0), w = argU(ctl, 1), part = argU(ctl, 2);
  const N = argI(ctl, 3), Cin = argI(ctl, 4), Cout = argI(ctl, 5), H = argI(ctl, 6), W = argI(ctl, 7);
  const kh = argI(ctl, 8), kw = argI(ctl, 9), sh = argI(ctl, 10), sw = argI(ctl, 11), ph = argI(ctl, 12), pw = argI(ctl, 13);
  const OH = argI(ctl, 14), OW = argI(ctl, 15);
  const wCi = <usize>Cout * kh * kw << 2, HW = H * W;
  const fives = Cin >= 5 * (Cin & 3) ? Cin & 3 : 0;
  const tiles = N * Cout;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / Cout, co = t % Cout;
    const plane = dy + (<usize>t * OH * OW << 2);
    const pt = part + (<usize>t * Cin * HW << 2);
    for (let ci0 = 0, ib = 0; ci0 < Cin; ci0 += ib < fives ? 5 : 4, ib++) {
      // The first Cin % 4 groups take a fifth channel (as the weight gradient's blocks), so that
      // Cin = 4·a + 5·b has no partial group.
      const five = ib < fives, rows = five ? 5 : min(4, Cin - ci0);
      // Missing rows of the last group read row ci0 again; their sums are not stored.
      const s1: usize = rows > 1 ? wCi : 0, s2: usize = rows > 2 ? 2 * wCi : 0, s3: usize = rows > 3 ? 3 * wCi : 0;
      const wg = w + (<usize>((ci0 * Cout + co) * kh) * kw << 2);
      for (let iy = 0; iy < H; iy++) {
        const ky0 = max(0, ph - iy * sh), ky1 = min(kh, OH + ph - iy * sh);
        const drow = plane + (<usize>(iy * sh - ph) * OW << 2); // dy row of ky = 0 (may lie outside; only ky0.. are read)
        let ix = 0;
        for (; ix + 1 < W; ix += 2) {
          const lo0 = max(0, pw - ix * sw), hi0 = min(kw, OW + pw - ix * sw);
          const lo1 = max(0, pw - (ix + 1) * sw), hi1 = min(kw, OW + pw - (ix + 1) * sw);
          const d0 = drow + (<usize>(ix * sw - pw) << 2);
          const out = pt + (<usize>(ci0 * HW + iy * W + ix) << 2);
          if (five) inputPair5(wg, s1, d0, d0 + (<usize>sw << 2), ky0, ky1, kw, OW, lo0, hi0, lo1, hi1, out, <usize>HW << 2);
          else inputPair4(wg, s1, s2, s3, d0, d0 + (<usize>sw << 2), ky0, ky1, kw, OW, lo0, hi0, lo1, hi1, out, <usize>HW << 2, rows);
        }
        if (ix < W) {
          // The last column of an odd width.
          const lo0 = max(0, pw - ix * sw), hi0 = min(kw, OW + pw - ix * sw);
          let c00 = f32x4.splat(0), c10 = f32x4.splat(0), c20 = f32x4.splat(0), c30 = f32x4.splat(0), c40 = f32x4.splat(0);
          const s4: usize = five ? 4 * wCi : 0;
          const d0 = drow + (<usize>(ix * sw - pw) << 2);
          for (let ky = ky0; ky < ky1; ky++) {
            const ko = <usize>ky * kw << 2, dyo = <usize>ky * OW << 2;
            for (let kx = lo0; kx < hi0; kx += 4) {
              const wp = wg + ko + (<usize>kx << 2);
              const a0 = v128.load(d0 + dyo + (<usize>kx << 2));
              c00 = madd(v128.load(wp), a0, c00); c10 = madd(v128.load(wp + s1), a0, c10);
              c20 = madd(v128.load(wp + s2), a0, c20); c30 = madd(v128.load(wp + s3), a0, c30);
              c40 = madd(v128.load(wp + s4), a0, c40);
            }
          }
          const o = pt + (<usize>(ci0 * HW + iy * W + ix) << 2), rs = <usize>HW << 2;
          store<f32>(o, hsum(c00));
          if (rows > 1) store<f32>(o + rs, hsum(c10));
          if (rows > 2) store<f32>(o + 2 * rs, hsum(c20));
          if (rows > 3) store<f32>(o + 3 * rs, hsum(c30));
          if (five) store<f32>(o + 4 * rs, hsum(c40));
        }
      }
    }
  }
}

/**
 * The backward-input's 4 ci × (ix, ix + 1) block (tconvDirectInput): w rows at wg (+ s1, s2, s3 for
 * the other channels), dy of ky = 0 at d0 (ix) and d1 (ix + 1), taps ky0..ky1 and kx ranges
 * [lo0, hi0) and [lo1, hi1); stores the `rows` × 2 sums at out (rows rs bytes apart).
 */
function inputPair4(
  wg: usize, s1: usize, s2: usize, s3: usize, d0: usize, d1: usize, ky0: i32, ky1: i32, kw: i32, OW: i32,
  lo0: i32, hi0: i32, lo1: i32, hi1: i32, out: usize, rs: usize, rows: i32,
): void {
  inputPair(wg, s1, s2, s3, 0, d0, d1, ky0, ky1, kw, OW, lo0, hi0, lo1, hi1, out, rs, rows, false);
}
function inputPair5(
  wg: usize, s1: usize, d0: usize, d1: usize, ky0: i32, ky1: i32, kw: i32, OW: i32,
  lo0: i32, hi0: i32, lo1: i32, hi1: i32, out: usize, rs: usize,
): void {
  inputPair(wg, s1, 2 * s1, 3 * s1, 4 * s1, d0, d1, ky0, ky1, kw, OW, lo0, hi0, lo1, hi1, out, rs, 5, true);
}

// @ts-ignore: decorator
@inline function inputPair(
  wg: usize, s1: usize, s2: usize, s3: usize, s4: usize, d0: usize, d1: usize, ky0: i32, ky1: i32, kw: i32, OW: i32,
  lo0: i32, hi0: i32, lo1: i32, hi1: i32, out: usize, rs: usize, rows: i32, five: bool,
): void {
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (lo0 == lo1 && hi0 == hi1) {
    // Both columns see the same taps (away from the ends): one loop nest, no single-column loops.
    const n4 = (hi0 - lo0) >> 2, dStep = <usize>OW << 2, wStep = <usize>kw << 2;
    let wr = wg + (<usize>(ky0 * kw + lo0) << 2), e0 = d0 + (<usize>(ky0 * OW + lo0) << 2), e1 = d1 + (<usize>(ky0 * OW + lo0) << 2);
    for (let ky = ky0; ky < ky1; ky++, wr += wStep, e0 += dStep, e1 += dStep) {
      for (let j = 0, q: usize = 0; j < n4; j++, q += 16) {
        const a0 = v128.load(e0 + q), a1 = v128.load(e1 + q);
        const wp = wr + q;
        let wv = v128.load(wp);
        c00 = madd(wv, a0, c00); c01 = madd(wv, a1, c01);
        wv = v128.load(wp + s1);
        c10 = madd(wv, a0, c10); c11 = madd(wv, a1, c11);
        wv = v128.load(wp + s2);
        c20 = madd(wv, a0, c20); c21 = madd(wv, a1, c21);
        wv = v128.load(wp + s3);
        c30 = madd(wv, a0, c30); c31 = madd(wv, a1, c31);
        if (five) {
          wv = v128.load(wp + s4);
          c40 = madd(wv, a0, c40); c41 = madd(wv, a1, c41);
        }
      }
    }
    ky1 = ky0; // done: skip the general loop
  }
  for (let ky = ky0; ky < ky1; ky++) {
    const ko = <usize>ky * kw << 2, dyo = <usize>ky * OW << 2;
    // Both columns: taps [lo0, hi1).
    for (let kx = lo0; kx < hi1; kx += 4) {
      const wp = wg + ko + (<usize>kx << 2);
      const a0 = v128.load(d0 + dyo + (<usize>kx << 2)), a1 = v128.load(d1 + dyo + (<usize>kx << 2));
      let wv = v128.load(wp);
      c00 = madd(wv, a0, c00); c01 = madd(wv, a1, c01);
      wv = v128.load(wp + s1);
      c10 = madd(wv, a0, c10); c11 = madd(wv, a1, c11);
      wv = v128.load(wp + s2);
      c20 = madd(wv, a0, c20); c21 = madd(wv, a1, c21);
      wv = v128.load(wp + s3);
      c30 = madd(wv, a0, c30); c31 = madd(wv, a1, c31);
      if (five) {
        wv = v128.load(wp + s4);
        c40 = madd(wv, a0, c40); c41 = madd(wv, a1, c41);
      }
    }
    // ix alone: [hi1, hi0); ix + 1 alone: [lo1, lo0).
    for (let kx = max(hi1, lo0); kx < hi0; kx += 4) {
      const wp = wg + ko + (<usize>kx << 2);
      const a0 = v128.load(d0 + dyo + (<usize>kx << 2));
      c00 = madd(v128.load(wp), a0, c00); c10 = madd(v128.load(wp + s1), a0, c10);
      c20 = madd(v128.load(wp + s2), a0, c20); c30 = madd(v128.load(wp + s3), a0, c30);
      if (five) c40 = madd(v128.load(wp + s4), a0, c40);
    }
    for (let kx = lo1; kx < min(lo0, hi1); kx += 4) {
      const wp = wg + ko + (<usize>kx << 2);
      const a1 = v128.load(d1 + dyo + (<usize>kx << 2));
      c01 = madd(v128.load(wp), a1, c01); c11 = madd(v128.load(wp + s1), a1, c11);
      c21 = madd(v128.load(wp + s2), a1, c21); c31 = madd(v128.load(wp + s3), a1, c31);
      if (five) c41 = madd(v128.load(wp + s4), a1, c41);
    }
  }
  store<f32>(out, hsum(c00)); store<f32>(out, hsum(c01), 4);
  if (rows > 1) { store<f32>(out + rs, hsum(c10)); store<f32>(out + rs, hsum(c11), 4); }
  if (rows > 2) { store<f32>(out + 2 * rs, hsum(c20)); store<f32>(out + 2 * rs, hsum(c21), 4); }
  if (rows > 3) { store<f32>(out + 3 * rs, hsum(c30)); store<f32>(out + 3 * rs, hsum(c31), 4); }
  if (five) { store<f32>(out + 4 * rs, hsum(c40)); store<f32>(out + 4 * rs, hsum(c41), 4); }
}

/**
 * dx(n, ·) [+]= Σ_co part(n, co, ·): the backward-input's sum over output channels.
 * args: part, dx, N, Cout, size (Cin·H·W), accumulate. Tiles: (n, 1024-float chunk) (counter 0).
 */
export function tconvDirectReduce(ctl: usize): void {
  const part = argU(ctl, 0), dx = argU(ctl, 1), N = argI(ctl, 2), Cout = argI(ctl, 3), size = argI(ctl, 4);
  const accumulate = argI(ctl, 5) != 0;
  const CH = 1024, chunks = (size + CH - 1) / CH, tiles = N * chunks;
  const cs = <usize>size << 2;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / chunks, i0 = t % chunks * CH, i1 = min(size, i0 + CH);
    const src = part + (<usize>n * Cout * size << 2), dst = dx + (<usize>n * size << 2);
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      let p = src + (<usize>i << 2);
      let s = accumulate ? v128.load(dst + (<usize>i << 2)) : f32x4.splat(0);
      for (let co = 0; co < Cout; co++, p += cs) s = f32x4.add(s, v128.load(p));
      v128.store(dst + (<usize>i << 2), s);
    }
    for (; i < i1; i++) {
      let p = src + (<usize>i << 2);
      let s: f32 = accumulate ? load<f32>(dst + (<usize>i << 2)) : 0;
      for (let co = 0; co < Cout; co++, p += cs) s += load<f32>(p);
      store<f32>(dst + (<usize>i << 2), s);
    }
  }
}

/** Tiles of the weight gradient with at most this many rows walk a list (tconvDirectWeight). */
const LIST_ROWS = 12;

/**
 * Weight gradient: dw(ci, co, ky, kx) += Σ_{n, iy, ix} x(n, ci, iy, ix) · dy(n, co, iy·sh − ph + ky, ix·sw − pw + kx).
 * Each thread first copies x channels-last into its scratch, xT(n, iy, ix, ci) with ci padded to CP
 * (a multiple of 4) by zeros, so that a block's channels are splats at constant offsets of one
 * address and consecutive ix are CP floats apart. A tile (co, ky) walks the rows (n, iy) whose dy
 * row oy is inside, in groups of rows whose x and dy fit in L1 together (the dy rows of a tile are
 * sh·OW floats apart, a multiple of 4 KiB on the FCN heads, so they share L1 sets: a group holds
 * fewer rows than L1 has ways), and for each group every ci × kx block: along a row, xT steps by CP
 * floats and dy by sw, with no offset list. A tile of at most LIST_ROWS rows instead lists the byte
 * offsets of xT(n, iy, ix, 0) and dy(n, co, oy, ix·sw − pw) of each (n, iy, ix), ix-major, and
 * walks a group of columns' entries in one run (listBlock*). A block is 4 ci × 8 kx (kw % 8 == 0) or × 4 kx, and
 * the first Cin % 4 blocks take 5 ci (10 accumulators, 13 live v128) so that Cin = 4·a + 5·b has
 * no partial block (FCN's 21 classes: 5 + 4·4 rather than 6 blocks with a quarter of the last one
 * used): per (n, iy, ix), 4 or 5 splats of x and 2 vectors of dy, 8 or 10 multiply-adds. Columns
 * whose dy vectors lie partly outside [0, OW) read the 16 zero bytes at `zero` for those.
 * args: x, dy, dw, zero, N, Cin, Cout, H, W, kh, kw, sh, sw, ph, pw, OH, OW, scratch, scratchBytes
 * (per thread ≥ 4·N·H·W·CP + 8·N·H·W: see planTransposeWeightDirect in conv2d.ts).
 * Tiles: (co, ky) (counter 0): distinct rows of dw.
 */
export function tconvDirectWeight(ctl: usize): void {
  const tid = threadSlot(ctl);
  const x = argU(ctl, 0), dy = argU(ctl, 1), dw = argU(ctl, 2), zero = argU(ctl, 3);
  const N = argI(ctl, 4), Cin = argI(ctl, 5), Cout = argI(ctl, 6), H = argI(ctl, 7), W = argI(ctl, 8);
  const kh = argI(ctl, 9), kw = argI(ctl, 10), sh = argI(ctl, 11), sw = argI(ctl, 12), ph = argI(ctl, 13), pw = argI(ctl, 14);
  const OH = argI(ctl, 15), OW = argI(ctl, 16);
  const xT = argU(ctl, 17) + <usize>tid * argU(ctl, 18);
  const HW = H * W, CP = (Cin + 3) & ~3;
  const rowsT = xT + (<usize>N * HW * CP << 2); // the tile's rows: xT and dy byte addresses
  const wCi = <usize>Cout * kh * kw << 2;
  const wide = kw % 8 == 0, KB = wide ? 8 : 4;
  const fives = Cin >= 5 * (Cin & 3) ? Cin & 3 : 0;
  for (let n = 0; n < N; n++) {
    const xn = x + (<usize>n * Cin * HW << 2), tn = xT + (<usize>n * HW * CP << 2);
    for (let ci = 0; ci < CP; ci++) {
      let dst = tn + (<usize>ci << 2);
      if (ci >= Cin) {
        for (let i = 0; i < HW; i++, dst += <usize>CP << 2) store<f32>(dst, 0);
        continue;
      }
      let src = xn + (<usize>ci * HW << 2);
      for (let i = 0; i < HW; i++, src += 4, dst += <usize>CP << 2) store<f32>(dst, load<f32>(src));
    }
  }
  // Rows per group of the row walk: about 24 KiB of xT and dy rows, and at most 8 (x64 L1 data
  // caches have 8 or 12 ways).
  const RG = max(1, min(8, 24576 / ((W * CP + OW) << 2)));
  const tiles = Cout * kh;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const co = t / kh, ky = t % kh;
    // iy with a dy row inside: 0 ≤ iy·sh − ph + ky < OH.
    const iy0 = ky >= ph ? 0 : (ph - ky + sh - 1) / sh;
    const top = OH - 1 + ph - ky, iy1 = top < 0 ? 0 : min(H, top / sh + 1);
    const R = N * max(0, iy1 - iy0);
    if (R == 0) continue;
    if (R <= LIST_ROWS) {
      // Few rows (FCN-32s: 2 × 5): they do not crowd an L1 set, and one walk over every (n, iy, ix)
      // of a column group, listed ix-major, is longer than the row walk's runs along ix.
      let e = rowsT;
      for (let ix = 0; ix < W; ix++) {
        for (let n = 0; n < N; n++) {
          for (let iy = iy0; iy < iy1; iy++, e += 8) {
            store<i32>(e, ((n * H + iy) * W + ix) * CP << 2);
            store<i32>(e, ((n * Cout + co) * OH * OW + (iy * sh - ph + ky) * OW + ix * sw - pw) << 2, 4);
          }
        }
      }
      // Columns in groups of about 256 list entries, so that the x and dy bytes one group's blocks
      // read stay in L1 across its ci × kx blocks (each block adds its sums to dw).
      const G = max(1, 256 / R);
      for (let g0 = 0; g0 < W; g0 += G) {
        const g1 = min(W, g0 + G);
        for (let ci0 = 0, ib = 0; ci0 < Cin; ib++) {
          const five = ib < fives, rows = five ? 5 : min(4, Cin - ci0);
          const x0 = xT + (<usize>ci0 << 2);
          for (let kx = 0; kx < kw; kx += KB) {
            // ix whose two dy vectors are both inside: ix·sw − pw + kx ≥ 0 and ix·sw − pw + kx + KB ≤ OW.
            const room = OW + pw - kx - KB;
            const ixA = min(W, max(0, (pw - kx + sw - 1) / sw)), ixB = room < 0 ? ixA : max(ixA, min(W, room / sw + 1));
            const a = min(g1, max(g0, ixA)), b = max(a, min(g1, ixB));
            const o = dw + (<usize>((ci0 * Cout + co) * kh + ky) * kw + kx << 2), dk = dy + (<usize>kx << 2);
            if (five) {
              if (wide) listBlock8x5(x0, dk, zero, rowsT, R, g0, g1, sw, pw, kx, OW, a, b, o, wCi);
              else listBlock4x5(x0, dk, zero, rowsT, R, g0, g1, sw, pw, kx, OW, a, b, o, wCi);
            } else if (wide) listBlock8(x0, dk, zero, rowsT, R, g0, g1, sw, pw, kx, OW, a, b, o, wCi, rows);
            else listBlock4(x0, dk, zero, rowsT, R, g0, g1, sw, pw, kx, OW, a, b, o, wCi, rows);
          }
          ci0 += rows;
        }
      }
      continue;
    }
    let r = 0;
    for (let n = 0; n < N; n++) {
      for (let iy = iy0; iy < iy1; iy++, r++) {
        store<u32>(rowsT + (<usize>r << 3), <u32>(xT + (<usize>((n * H + iy) * W * CP) << 2)));
        store<u32>(rowsT + (<usize>r << 3), <u32>(dy + (<usize>(((n * Cout + co) * OH + iy * sh - ph + ky) * OW) << 2)), 4);
      }
    }
    for (let r0 = 0; r0 < R; r0 += RG) {
      const r1 = min(R, r0 + RG);
      for (let ci0 = 0, ib = 0; ci0 < Cin; ib++) {
        const five = ib < fives, rows = five ? 5 : min(4, Cin - ci0);
        for (let kx = 0; kx < kw; kx += KB) {
          // ix whose dy vectors are all inside: ix·sw − pw + kx ≥ 0 and ix·sw − pw + kx + KB ≤ OW.
          const room = OW + pw - kx - KB;
          const ixA = min(W, max(0, (pw - kx + sw - 1) / sw)), ixB = room < 0 ? ixA : max(ixA, min(W, room / sw + 1));
          const o = dw + (<usize>((ci0 * Cout + co) * kh + ky) * kw + kx << 2);
          // dy of (row, ix) at row + (ix·sw − pw + kx)·4
          const dk = (<isize>kx - <isize>pw) << 2;
          if (five) {
            if (wide) weightBlock8x5(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi);
            else weightBlock4x5(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi);
          } else if (wide) weightBlock8(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, rows);
          else weightBlock4(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, rows);
        }
        ci0 += rows;
      }
    }
  }
}

/**
 * The weight-gradient blocks of the list walk (tconvDirectWeight): 4 ci (`rows` of them stored) or 5 ci (xT at x0,
 * channels 4 bytes apart) × 8 kx (…8) or 4 kx (…4) of one dw row, summed over the tile's list (R
 * entries per column; dk = dy + kx bytes) and added at o (rows wCi bytes apart).
 */
function listBlock8(
  x0: usize, dk: usize, zero: usize, table: usize, R: i32, g0: i32, g1: i32, sw: i32, pw: i32, kx: i32, OW: i32,
  ixA: i32, ixB: i32, o: usize, wCi: usize, rows: i32,
): void {
  listBlock(x0, dk, zero, table, R, g0, g1, sw, pw, kx, OW, ixA, ixB, o, wCi, rows, true, false);
}
function listBlock4(
  x0: usize, dk: usize, zero: usize, table: usize, R: i32, g0: i32, g1: i32, sw: i32, pw: i32, kx: i32, OW: i32,
  ixA: i32, ixB: i32, o: usize, wCi: usize, rows: i32,
): void {
  listBlock(x0, dk, zero, table, R, g0, g1, sw, pw, kx, OW, ixA, ixB, o, wCi, rows, false, false);
}
function listBlock8x5(
  x0: usize, dk: usize, zero: usize, table: usize, R: i32, g0: i32, g1: i32, sw: i32, pw: i32, kx: i32, OW: i32,
  ixA: i32, ixB: i32, o: usize, wCi: usize,
): void {
  listBlock(x0, dk, zero, table, R, g0, g1, sw, pw, kx, OW, ixA, ixB, o, wCi, 5, true, true);
}
function listBlock4x5(
  x0: usize, dk: usize, zero: usize, table: usize, R: i32, g0: i32, g1: i32, sw: i32, pw: i32, kx: i32, OW: i32,
  ixA: i32, ixB: i32, o: usize, wCi: usize,
): void {
  listBlock(x0, dk, zero, table, R, g0, g1, sw, pw, kx, OW, ixA, ixB, o, wCi, 5, false, true);
}

// @ts-ignore: decorator
@inline function listBlock(
  x0: usize, dk: usize, zero: usize, table: usize, R: i32, g0: i32, g1: i32, sw: i32, pw: i32, kx: i32, OW: i32,
  ixA: i32, ixB: i32, o: usize, wCi: usize, rows: i32, wide: bool, five: bool,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  // The run of columns with both vectors inside.
  const end = table + (<usize>ixB * R << 3);
  for (let e = table + (<usize>ixA * R << 3); e < end; e += 8) {
    const xq = x0 + <usize>load<i32>(e), dq = dk + <usize>load<i32>(e, 4);
    const d0 = v128.load(dq), d1 = wide ? v128.load(dq, 16) : d0;
    let xv = v128.load32_splat(xq);
    c00 = madd(xv, d0, c00); if (wide) c01 = madd(xv, d1, c01);
    xv = v128.load32_splat(xq, 4);
    c10 = madd(xv, d0, c10); if (wide) c11 = madd(xv, d1, c11);
    xv = v128.load32_splat(xq, 8);
    c20 = madd(xv, d0, c20); if (wide) c21 = madd(xv, d1, c21);
    xv = v128.load32_splat(xq, 12);
    c30 = madd(xv, d0, c30); if (wide) c31 = madd(xv, d1, c31);
    if (five) {
      xv = v128.load32_splat(xq, 16);
      c40 = madd(xv, d0, c40); if (wide) c41 = madd(xv, d1, c41);
    }
  }
  // The columns at the ends: a vector outside [0, OW) reads zeros.
  for (let ix = g0; ix < g1; ix++) {
    if (ix == ixA) ix = ixB;
    if (ix >= g1) break;
    const col = ix * sw - pw + kx;
    const in0 = col >= 0 && col < OW, in1 = wide && col + 4 >= 0 && col + 4 < OW;
    if (!in0 && !in1) continue;
    const ee = table + (<usize>(ix + 1) * R << 3);
    for (let e = table + (<usize>ix * R << 3); e < ee; e += 8) {
      const xq = x0 + <usize>load<i32>(e), dq = dk + <usize>load<i32>(e, 4);
      const d0 = v128.load(in0 ? dq : zero), d1 = wide ? v128.load(in1 ? dq + 16 : zero) : d0;
      let xv = v128.load32_splat(xq);
      c00 = madd(xv, d0, c00); if (wide) c01 = madd(xv, d1, c01);
      xv = v128.load32_splat(xq, 4);
      c10 = madd(xv, d0, c10); if (wide) c11 = madd(xv, d1, c11);
      xv = v128.load32_splat(xq, 8);
      c20 = madd(xv, d0, c20); if (wide) c21 = madd(xv, d1, c21);
      xv = v128.load32_splat(xq, 12);
      c30 = madd(xv, d0, c30); if (wide) c31 = madd(xv, d1, c31);
      if (five) {
        xv = v128.load32_splat(xq, 16);
        c40 = madd(xv, d0, c40); if (wide) c41 = madd(xv, d1, c41);
      }
    }
  }
  addRow(o, c00, c01, wide);
  if (rows > 1) addRow(o + wCi, c10, c11, wide);
  if (rows > 2) addRow(o + 2 * wCi, c20, c21, wide);
  if (rows > 3) addRow(o + 3 * wCi, c30, c31, wide);
  if (five) addRow(o + 4 * wCi, c40, c41, wide);
}

/**
 * The weight-gradient blocks (tconvDirectWeight): 4 ci (`rows` of them stored) or 5 ci × 8 kx (…8)
 * or 4 kx (…4) of one dw row, summed over the tile's rows r0 .. r1 (xT and dy addresses at rowsT)
 * and all columns, added at o (dw rows wCi bytes apart).
 */
function weightBlock8(
  rowsT: usize, r0: i32, r1: i32, ci0: i32, dk: isize, zero: usize, W: i32, CP: i32, sw: i32, pw: i32, kx: i32, OW: i32, ixA: i32, ixB: i32, o: usize, wCi: usize, rows: i32,
): void {
  weightBlock(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, rows, true, false);
}
function weightBlock4(
  rowsT: usize, r0: i32, r1: i32, ci0: i32, dk: isize, zero: usize, W: i32, CP: i32, sw: i32, pw: i32, kx: i32, OW: i32, ixA: i32, ixB: i32, o: usize, wCi: usize, rows: i32,
): void {
  weightBlock(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, rows, false, false);
}
function weightBlock8x5(
  rowsT: usize, r0: i32, r1: i32, ci0: i32, dk: isize, zero: usize, W: i32, CP: i32, sw: i32, pw: i32, kx: i32, OW: i32, ixA: i32, ixB: i32, o: usize, wCi: usize,
): void {
  weightBlock(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, 5, true, true);
}
function weightBlock4x5(
  rowsT: usize, r0: i32, r1: i32, ci0: i32, dk: isize, zero: usize, W: i32, CP: i32, sw: i32, pw: i32, kx: i32, OW: i32, ixA: i32, ixB: i32, o: usize, wCi: usize,
): void {
  weightBlock(rowsT, r0, r1, ci0, dk, zero, W, CP, sw, pw, kx, OW, ixA, ixB, o, wCi, 5, false, true);
}

// @ts-ignore: decorator
@inline function weightBlock(
  rowsT: usize, r0: i32, r1: i32, ci0: i32, dk: isize, zero: usize, W: i32, CP: i32, sw: i32, pw: i32, kx: i32, OW: i32, ixA: i32, ixB: i32,
  o: usize, wCi: usize, rows: i32, wide: bool, five: bool,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  const xStep = <usize>CP << 2, dStep = <usize>sw << 2;
  for (let r = r0; r < r1; r++) {
    const xr = <usize>load<u32>(rowsT + (<usize>r << 3)) + (<usize>ci0 << 2);
    const dr = <usize>(<isize>load<u32>(rowsT + (<usize>r << 3), 4) + dk);
    // The run of columns with every vector inside.
    let xq = xr + <usize>ixA * xStep, dq = dr + <usize>ixA * dStep;
    const end = xr + <usize>ixB * xStep;
    for (; xq < end; xq += xStep, dq += dStep) {
      const d0 = v128.load(dq), d1 = wide ? v128.load(dq, 16) : d0;
      let xv = v128.load32_splat(xq);
      c00 = madd(xv, d0, c00); if (wide) c01 = madd(xv, d1, c01);
      xv = v128.load32_splat(xq, 4);
      c10 = madd(xv, d0, c10); if (wide) c11 = madd(xv, d1, c11);
      xv = v128.load32_splat(xq, 8);
      c20 = madd(xv, d0, c20); if (wide) c21 = madd(xv, d1, c21);
      xv = v128.load32_splat(xq, 12);
      c30 = madd(xv, d0, c30); if (wide) c31 = madd(xv, d1, c31);
      if (five) {
        xv = v128.load32_splat(xq, 16);
        c40 = madd(xv, d0, c40); if (wide) c41 = madd(xv, d1, c41);
      }
    }
    // The columns at the ends: a vector outside [0, OW) reads zeros.
    for (let ix = 0; ix < W; ix++) {
      if (ix == ixA) ix = ixB;
      if (ix >= W) break;
      const col = ix * sw - pw + kx;
      const in0 = col >= 0 && col < OW, in1 = wide && col + 4 >= 0 && col + 4 < OW;
      if (!in0 && !in1) continue;
      const xe = xr + <usize>ix * xStep, de = dr + <usize>ix * dStep;
      const d0 = v128.load(in0 ? de : zero), d1 = wide ? v128.load(in1 ? de + 16 : zero) : d0;
      let xv = v128.load32_splat(xe);
      c00 = madd(xv, d0, c00); if (wide) c01 = madd(xv, d1, c01);
      xv = v128.load32_splat(xe, 4);
      c10 = madd(xv, d0, c10); if (wide) c11 = madd(xv, d1, c11);
      xv = v128.load32_splat(xe, 8);
      c20 = madd(xv, d0, c20); if (wide) c21 = madd(xv, d1, c21);
      xv = v128.load32_splat(xe, 12);
      c30 = madd(xv, d0, c30); if (wide) c31 = madd(xv, d1, c31);
      if (five) {
        xv = v128.load32_splat(xe, 16);
        c40 = madd(xv, d0, c40); if (wide) c41 = madd(xv, d1, c41);
      }
    }
  }
  addRow(o, c00, c01, wide);
  if (rows > 1) addRow(o + wCi, c10, c11, wide);
  if (rows > 2) addRow(o + 2 * wCi, c20, c21, wide);
  if (rows > 3) addRow(o + 3 * wCi, c30, c31, wide);
  if (five) addRow(o + 4 * wCi, c40, c41, wide);
}

// @ts-ignore: decorator
@inline function addRow(p: usize, v0: v128, v1: v128, wide: bool): void {
  v128.store(p, f32x4.add(v128.load(p), v0));
  if (wide) v128.store(p, f32x4.add(v128.load(p, 16), v1), 16);
}

/**
 * A small transposed convolution with k = T·stride (FCN's k4/s2 upsamplers: 1-5 MFLOP) in one
 * dispatch, SIMD across output channels: each thread first copies w into its own scratch as
 * wT((ry, rx), (ci, a, b), co) (co padded to a multiple of 8 with zeros), x zero-padded (Th − 1
 * rows, Tw − 1 columns on each side, 3 more columns on the right) and the taps' offsets into it;
 * then a block is 8 output channels × 4 output columns of one phase rx (Qx .. Qx + 3): per tap 2
 * vectors of wT and 4 splats of x, 8 multiply-adds, and its up to 32 sums are stored one by one.
 * args: x, w, bias (0: none), y, N, Cin, Cout, H, W, kh, kw, sh, sw, ph, pw, OH, OW, scratch,
 * scratchBytes (per thread: see channelsScratch in conv2d.ts). Tiles: (n, oy, 8-channel block).
 */
export function tconvChannelsForward(ctl: usize): void {
  const tid = threadSlot(ctl);
  const x = argU(ctl, 0), w = argU(ctl, 1), bias = argU(ctl, 2), y = argU(ctl, 3);
  const N = argI(ctl, 4), Cin = argI(ctl, 5), Cout = argI(ctl, 6), H = argI(ctl, 7), W = argI(ctl, 8);
  const kh = argI(ctl, 9), kw = argI(ctl, 10), sh = argI(ctl, 11), sw = argI(ctl, 12), ph = argI(ctl, 13), pw = argI(ctl, 14);
  const OH = argI(ctl, 15), OW = argI(ctl, 16);
  const Th = kh / sh, Tw = kw / sw, K = Cin * Th * Tw, CP = (Cout + 7) & ~7, CB = CP >> 3;
  const Hp = H + 2 * (Th - 1), Wp = W + 2 * (Tw - 1) + 3;
  const wT = argU(ctl, 17) + <usize>tid * argU(ctl, 18);
  const xp = wT + (<usize>sh * sw * K * CP << 2);
  const offs = xp + (<usize>N * Cin * Hp * Wp << 2);
  // wT, zero-padded channels.
  for (let ry = 0, o = wT; ry < sh; ry++) {
    for (let rx = 0; rx < sw; rx++) {
      for (let ci = 0; ci < Cin; ci++) {
        for (let a = 0; a < Th; a++) {
          for (let b = 0; b < Tw; b++) {
            const src = w + (<usize>((ci * Cout * kh + a * sh + ry) * kw + b * sw + rx) << 2), cs = <usize>kh * kw << 2;
            for (let co = 0; co < CP; co++, o += 4) store<f32>(o, co < Cout ? load<f32>(src + <usize>co * cs) : 0);
          }
        }
      }
    }
  }
  // x padded: xp(n, ci, Y, X) = x(n, ci, Y − (Th − 1), X − (Tw − 1)).
  for (let pl = 0; pl < N * Cin; pl++) {
    const src = x + (<usize>pl * H * W << 2);
    let dst = xp + (<usize>pl * Hp * Wp << 2);
    for (let r = 0; r < Hp; r++, dst += <usize>Wp << 2) {
      const iy = r - (Th - 1);
      memory.fill(dst, 0, <usize>Wp << 2);
      if (iy >= 0 && iy < H) memory.copy(dst + (<usize>(Tw - 1) << 2), src + (<usize>iy * W << 2), <usize>W << 2);
    }
  }
  for (let ci = 0, k = 0; ci < Cin; ci++) {
    for (let a = 0; a < Th; a++) {
      for (let b = 0; b < Tw; b++, k++) store<i32>(offs + (<usize>k << 2), (ci * Hp * Wp - a * Wp - b) << 2);
    }
  }
  const tiles = N * OH * CB;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const cb = t % CB, r = t / CB, oy = r % OH, n = r / OH;
    const qy = oy + ph, Qy = qy / sh, ry = qy % sh;
    // xp(n, 0, Qy + Th − 1, Tw − 1): tap (0, 0, 0) of Qx = 0.
    const xr = xp + (<usize>((n * Cin * Hp + Qy + Th - 1) * Wp + Tw - 1) << 2);
    const co0 = cb << 3, nco = min(8, Cout - co0);
    const yr = y + (<usize>((n * Cout + co0) * OH + oy) * OW << 2), cs = <usize>OH * OW << 2;
    const b0 = loadLanes(bias, co0, min(4, nco)), b1 = loadLanes(bias, co0 + 4, nco - 4);
    for (let rx = 0; rx < sw; rx++) {
      // Qx with ox = Qx·sw + rx − pw inside [0, OW).
      const top = OW - 1 + pw - rx, lo = (pw - rx + sw - 1) / sw, hi = top < 0 ? -1 : top / sw;
      const wp0 = wT + (<usize>((ry * sw + rx) * K) * CP + co0 << 2);
      for (let Qx0 = lo; Qx0 <= hi; Qx0 += 4) {
        channelsBlock(xr + (<usize>Qx0 << 2), wp0, offs, K, CP, yr, cs, Qx0 * sw + rx - pw, sw, min(4, hi - Qx0 + 1), nco, b0, b1);
      }
    }
  }
}

/** One block of tconvChannelsForward: 8 channels × `nq` (≤ 4) output columns ox0 + j·sw of rows yr + c·cs. */
function channelsBlock(
  xb: usize, wp: usize, op: usize, K: i32, CP: i32, yr: usize, cs: usize, ox0: i32, sw: i32, nq: i32, nco: i32, b0: v128, b1: v128,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const wStep = <usize>CP << 2;
  for (let k = 0; k < K; k++, wp += wStep, op += 4) {
    const xq = xb + <usize>load<i32>(op);
    const w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let xv = v128.load32_splat(xq);
    c00 = madd(xv, w0, c00); c01 = madd(xv, w1, c01);
    xv = v128.load32_splat(xq, 4);
    c10 = madd(xv, w0, c10); c11 = madd(xv, w1, c11);
    xv = v128.load32_splat(xq, 8);
    c20 = madd(xv, w0, c20); c21 = madd(xv, w1, c21);
    xv = v128.load32_splat(xq, 12);
    c30 = madd(xv, w0, c30); c31 = madd(xv, w1, c31);
  }
  storeChannels(yr + (<usize>ox0 << 2), cs, f32x4.add(c00, b0), f32x4.add(c01, b1), nco);
  if (nq > 1) storeChannels(yr + (<usize>(ox0 + sw) << 2), cs, f32x4.add(c10, b0), f32x4.add(c11, b1), nco);
  if (nq > 2) storeChannels(yr + (<usize>(ox0 + 2 * sw) << 2), cs, f32x4.add(c20, b0), f32x4.add(c21, b1), nco);
  if (nq > 3) storeChannels(yr + (<usize>(ox0 + 3 * sw) << 2), cs, f32x4.add(c30, b0), f32x4.add(c31, b1), nco);
}

/** Stores lanes 0..nco of (v0, v1) at p + c·cs. */
// @ts-ignore: decorator
@inline function storeChannels(p: usize, cs: usize, v0: v128, v1: v128, nco: i32): void {
  store<f32>(p, f32x4.extract_lane(v0, 0));
  if (nco > 1) store<f32>(p + cs, f32x4.extract_lane(v0, 1));
  if (nco > 2) store<f32>(p + 2 * cs, f32x4.extract_lane(v0, 2));
  if (nco > 3) store<f32>(p + 3 * cs, f32x4.extract_lane(v0, 3));
  if (nco > 4) store<f32>(p + 4 * cs, f32x4.extract_lane(v1, 0));
  if (nco > 5) store<f32>(p + 5 * cs, f32x4.extract_lane(v1, 1));
  if (nco > 6) store<f32>(p + 6 * cs, f32x4.extract_lane(v1, 2));
  if (nco > 7) store<f32>(p + 7 * cs, f32x4.extract_lane(v1, 3));
}

/** bias[c0 .. c0 + n) (n ≤ 4) as a vector, zeros past n or without a bias. */
function loadLanes(bias: usize, c0: i32, n: i32): v128 {
  let v = f32x4.splat(0);
  if (bias == 0) return v;
  const p = bias + (<usize>c0 << 2);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  if (n > 3) v = f32x4.replace_lane(v, 3, load<f32>(p, 12));
  return v;
}

/**
 * The backward-input of the transposed convolutions tconvChannelsForward serves, in one dispatch
 * across input channels: dx(n, ci, iy, ix) [+]= Σ_{co, ky, kx} w(ci, co, ky, kx) · dy(n, co,
 * iy·sh − ph + ky, ix·sw − pw + kx). Each thread copies w as wT((co, ky, kx), ci) (ci padded to a
 * multiple of 8), dy zero-padded (ph rows above and below, pw columns on the left, and on the right
 * up to the last 4-column block's reach) and the taps' offsets into it; a block is 8 input
 * channels × 4 input columns: per tap 2 vectors of wT and 4 splats of dy, 8 multiply-adds.
 * args: dy, w, dx, N, Cin, Cout, H, W, kh, kw, sh, sw, ph, pw, OH, OW, accumulate, scratch,
 * scratchBytes (per thread: see channelsInputScratch in conv2d.ts). Tiles: (n, iy, 8-channel block).
 */
export function tconvChannelsInput(ctl: usize): void {
  const tid = threadSlot(ctl);
  const dy = argU(ctl, 0), w = argU(ctl, 1), dx = argU(ctl, 2);
  const N = argI(ctl, 3), Cin = argI(ctl, 4), Cout = argI(ctl, 5), H = argI(ctl, 6), W = argI(ctl, 7);
  const kh = argI(ctl, 8), kw = argI(ctl, 9), sh = argI(ctl, 10), sw = argI(ctl, 11), ph = argI(ctl, 12), pw = argI(ctl, 13);
  const OH = argI(ctl, 14), OW = argI(ctl, 15), accumulate = argI(ctl, 16) != 0;
  const K = Cout * kh * kw, CP = (Cin + 7) & ~7, CB = CP >> 3;
  const W4 = (W + 3) & ~3, Hq = OH + 2 * ph, Wq = (W4 - 1) * sw + kw;
  const wT = argU(ctl, 17) + <usize>tid * argU(ctl, 18);
  const dq = wT + (<usize>K * CP << 2);
  const offs = dq + (<usize>N * Cout * Hq * Wq << 2);
  for (let k = 0, o = wT; k < K; k++) {
    // k = (co, ky, kx): w(ci, co, ky, kx) at ci·K + k.
    for (let ci = 0; ci < CP; ci++, o += 4) store<f32>(o, ci < Cin ? load<f32>(w + (<usize>(ci * K + k) << 2)) : 0);
  }
  for (let pl = 0; pl < N * Cout; pl++) {
    const src = dy + (<usize>pl * OH * OW << 2);
    let dst = dq + (<usize>pl * Hq * Wq << 2);
    for (let r = 0; r < Hq; r++, dst += <usize>Wq << 2) {
      const oy = r - ph;
      memory.fill(dst, 0, <usize>Wq << 2);
      if (oy >= 0 && oy < OH) memory.copy(dst + (<usize>pw << 2), src + (<usize>oy * OW << 2), <usize>min(OW, Wq - pw) << 2);
    }
  }
  for (let co = 0, k = 0; co < Cout; co++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, k++) store<i32>(offs + (<usize>k << 2), ((co * Hq + ky) * Wq + kx) << 2);
    }
  }
  const tiles = N * H * CB, s4 = <usize>sw << 2, cs = <usize>H * W << 2;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const cb = t % CB, r = t / CB, iy = r % H, n = r / H;
    const ci0 = cb << 3, nci = min(8, Cin - ci0);
    // Padded dy of (n, co = 0, iy·sh + ky, ix·sw + kx) is dq + ((n·Cout·Hq + iy·sh + ky)·Wq + ix·sw + kx).
    const drow = dq + (<usize>(n * Cout * Hq + iy * sh) * Wq << 2);
    const out = dx + (<usize>((n * Cin + ci0) * H + iy) * W << 2);
    for (let ix0 = 0; ix0 < W; ix0 += 4) {
      channelsInputBlock(drow + <usize>ix0 * s4, s4, wT + (<usize>ci0 << 2), offs, K, CP, out + (<usize>ix0 << 2), cs, min(4, W - ix0), nci, accumulate);
    }
  }
}

/** One block of tconvChannelsInput: 8 channels (rows cs bytes apart) × `nx` (≤ 4) columns at out. */
function channelsInputBlock(
  db: usize, s4: usize, wp: usize, op: usize, K: i32, CP: i32, out: usize, cs: usize, nx: i32, nci: i32, accumulate: bool,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const wStep = <usize>CP << 2;
  for (let k = 0; k < K; k++, wp += wStep, op += 4) {
    const q = db + <usize>load<i32>(op);
    const w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let v = v128.load32_splat(q);
    c00 = madd(v, w0, c00); c01 = madd(v, w1, c01);
    v = v128.load32_splat(q + s4);
    c10 = madd(v, w0, c10); c11 = madd(v, w1, c11);
    v = v128.load32_splat(q + 2 * s4);
    c20 = madd(v, w0, c20); c21 = madd(v, w1, c21);
    v = v128.load32_splat(q + 3 * s4);
    c30 = madd(v, w0, c30); c31 = madd(v, w1, c31);
  }
  storeColumn(out, cs, c00, c01, nci, accumulate);
  if (nx > 1) storeColumn(out + 4, cs, c10, c11, nci, accumulate);
  if (nx > 2) storeColumn(out + 8, cs, c20, c21, nci, accumulate);
  if (nx > 3) storeColumn(out + 12, cs, c30, c31, nci, accumulate);
}

/** p + c·cs [+]= lane c of (v0, v1) for c < n. */
function storeColumn(p: usize, cs: usize, v0: v128, v1: v128, n: i32, accumulate: bool): void {
  for (let c = 0; c < n; c++, p += cs) {
    const v = c < 4 ? v0 : v1, l = c & 3;
    const s = l == 0 ? f32x4.extract_lane(v, 0) : l == 1 ? f32x4.extract_lane(v, 1) : l == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
    store<f32>(p, accumulate ? load<f32>(p) + s : s);
  }
}

/**
 * The weight gradient of the transposed convolutions tconvChannelsForward serves, in one dispatch
 * across output channels: dw(ci, co, ky, kx) += Σ_{n, iy, ix} x(n, ci, iy, ix) · dy(n, co,
 * iy·sh − ph + ky, ix·sw − pw + kx). Each thread copies dy channels-last and zero-padded, dyT(n,
 * oy + ph, ox + pw, co) (co padded to a multiple of 8), and lists the (n, iy, ix) offsets into x and
 * dyT; a block is 4 input × 8 output channels of one tap (ky, kx): per (n, iy, ix) 4 splats of x
 * and 2 vectors of dyT, 8 multiply-adds.
 * args: x, dy, dw, N, Cin, Cout, H, W, kh, kw, sh, sw, ph, pw, OH, OW, scratch, scratchBytes
 * (per thread: see channelsWeightScratch in conv2d.ts). Tiles: (ky, kx, 4-channel block of ci, 8-channel block of co).
 */
export function tconvChannelsWeight(ctl: usize): void {
  const tid = threadSlot(ctl);
  const x = argU(ctl, 0), dy = argU(ctl, 1), dw = argU(ctl, 2);
  const N = argI(ctl, 3), Cin = argI(ctl, 4), Cout = argI(ctl, 5), H = argI(ctl, 6), W = argI(ctl, 7);
  const kh = argI(ctl, 8), kw = argI(ctl, 9), sh = argI(ctl, 10), sw = argI(ctl, 11), ph = argI(ctl, 12), pw = argI(ctl, 13);
  const OH = argI(ctl, 14), OW = argI(ctl, 15);
  const CP = (Cout + 7) & ~7, OB = CP >> 3, IB = (Cin + 3) >> 2;
  const Hq = OH + 2 * ph, Wq = OW + 2 * pw, HW = H * W, NP = N * HW;
  const dT = argU(ctl, 16) + <usize>tid * argU(ctl, 17);
  const list = dT + (<usize>N * Hq * Wq * CP << 2);
  memory.fill(dT, 0, <usize>N * Hq * Wq * CP << 2);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      let src = dy + (<usize>(n * Cout + co) * OH * OW << 2);
      for (let oy = 0; oy < OH; oy++) {
        let dst = dT + (<usize>(((n * Hq + oy + ph) * Wq + pw) * CP + co) << 2);
        for (let ox = 0; ox < OW; ox++, src += 4, dst += <usize>CP << 2) store<f32>(dst, load<f32>(src));
      }
    }
  }
  for (let n = 0, e = list; n < N; n++) {
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++, e += 8) {
        store<i32>(e, (n * Cin * HW + iy * W + ix) << 2);
        store<i32>(e, (((n * Hq + iy * sh) * Wq + ix * sw) * CP) << 2, 4);
      }
    }
  }
  const tiles = kh * kw * IB * OB, cs = <usize>kh * kw << 2, xs = <usize>HW << 2;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const ob = t % OB, r0 = t / OB, ib = r0 % IB, tap = r0 / IB, ky = tap / kw, kx = tap % kw;
    const ci0 = ib << 2, nci = min(4, Cin - ci0), co0 = ob << 3, nco = min(8, Cout - co0);
    const x0 = x + (<usize>ci0 * xs);
    const s1: usize = nci > 1 ? xs : 0, s2: usize = nci > 2 ? 2 * xs : 0, s3: usize = nci > 3 ? 3 * xs : 0;
    const d0 = dT + (<usize>((ky * Wq + kx) * CP + co0) << 2);
    // dw(ci, co, ky, kx) at ((ci·Cout + co)·kh + ky)·kw + kx
    const o = dw + (<usize>((ci0 * Cout + co0) * kh + ky) * kw + kx << 2);
    channelsWeightBlock(x0, s1, s2, s3, d0, list, NP, o, cs, <usize>Cout * cs, nci, nco);
  }
}

/** One block of tconvChannelsWeight: 4 ci (dw rows ci apart by `rs` bytes) × 8 co (`cs` apart). */
function channelsWeightBlock(
  x0: usize, s1: usize, s2: usize, s3: usize, d0: usize, e: usize, NP: i32, o: usize, cs: usize, rs: usize, nci: i32, nco: i32,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = e + (<usize>NP << 3);
  for (; e < end; e += 8) {
    const xq = x0 + <usize>load<i32>(e), dq = d0 + <usize>load<i32>(e, 4);
    const v0 = v128.load(dq), v1 = v128.load(dq, 16);
    let xv = v128.load32_splat(xq);
    c00 = madd(xv, v0, c00); c01 = madd(xv, v1, c01);
    xv = v128.load32_splat(xq + s1);
    c10 = madd(xv, v0, c10); c11 = madd(xv, v1, c11);
    xv = v128.load32_splat(xq + s2);
    c20 = madd(xv, v0, c20); c21 = madd(xv, v1, c21);
    xv = v128.load32_splat(xq + s3);
    c30 = madd(xv, v0, c30); c31 = madd(xv, v1, c31);
  }
  storeColumn(o, cs, c00, c01, nco, true);
  if (nci > 1) storeColumn(o + rs, cs, c10, c11, nco, true);
  if (nci > 2) storeColumn(o + 2 * rs, cs, c20, c21, nco, true);
  if (nci > 3) storeColumn(o + 3 * rs, cs, c30, c31, nco, true);
}
