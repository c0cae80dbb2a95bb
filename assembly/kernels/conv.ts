// The convolution-specific data movement around the GEMM (src/backends/wasm/conv2d.ts plans it):
//   im2col: col_n (C·kh·kw, OH·OW), col(c·kh·kw + ky·kw + kx, oy·OW + ox) = x(n, c, oy·S−P+ky, ox·S−P+kx) (0 outside)
//   col2im: dx(n, c, iy, ix) [+]= Σ col(c·kh·kw + ky·kw + kx, oy·OW + ox) over the taps that land on (iy, ix)
//   biasGrad: db(k) += Σ_{n, p} dy(n, k, p)
// Geometry args (shared): x/dx, C, H, W, kh, kw, SH, SW, PH, PW, OH, OW, col, batch.
import { argI, argU, nextTile } from './args';
import { NR, storeTransposed4x4 } from './gemm';

/** The output columns ox whose input column ox·S − P + kx lies in [0, W): [lo, hi). */
// @ts-ignore: decorator
@inline function validLo(P: i32, kx: i32, S: i32): i32 {
  const t = P - kx; // need ox·S ≥ P − kx
  return t <= 0 ? 0 : (t + S - 1) / S;
}
// @ts-ignore: decorator
@inline function validHi(W: i32, P: i32, kx: i32, S: i32, OW: i32): i32 {
  const t = W - 1 + P - kx; // need ox·S ≤ W − 1 + P − kx
  return t < 0 ? 0 : min(OW, t / S + 1);
}

/** im2col for `batch` images. Tiles: (image, channel) (counter 0). */
export function im2col(ctl: usize): void {
  const x = argU(ctl, 0), C = argI(ctl, 1), H = argI(ctl, 2), W = argI(ctl, 3);
  const KH = argI(ctl, 4), KW = argI(ctl, 5), SH = argI(ctl, 6), SW = argI(ctl, 7);
  const PH = argI(ctl, 8), PW = argI(ctl, 9), OH = argI(ctl, 10), OW = argI(ctl, 11);
  const col = argU(ctl, 12), batch = argI(ctl, 13);
  const plane = <usize>H * W << 2, rowBytes = <usize>OW << 2, P = <usize>OH * OW << 2;
  const tiles = batch * C;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const src = x + <usize>t * plane;
    let dst = col + <usize>t * KH * KW * P; // (n·C + c)·kh·kw rows of OH·OW
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        const lo = validLo(PW, kx, SW), hi = max(lo, validHi(W, PW, kx, SW, OW));
        for (let oy = 0; oy < OH; oy++) {
          const d = dst + <usize>oy * rowBytes;
          const iy = oy * SH - PH + ky;
          if (iy < 0 || iy >= H) { memory.fill(d, 0, rowBytes); continue; }
          if (lo > 0) memory.fill(d, 0, <usize>lo << 2);
          if (hi < OW) memory.fill(d + (<usize>hi << 2), 0, <usize>(OW - hi) << 2);
          const s = src + (<usize>(iy * W + lo * SW - PW + kx) << 2);
          if (SW == 1) memory.copy(d + (<usize>lo << 2), s, <usize>(hi - lo) << 2);
          else {
            let ox = lo;
            if (SW == 2) {
              // Even lanes of 8 consecutive inputs, 4 outputs at a time; the last input read,
              // 2·(ox − lo) + 7, stays inside the row while 2·(ox − lo + 3) + 1 ≤ 2·(hi − 1 − lo) + 1.
              for (; ox + 4 < hi; ox += 4) {
                const q = s + (<usize>((ox - lo) * 2) << 2);
                v128.store(d + (<usize>ox << 2), i32x4.shuffle(v128.load(q), v128.load(q, 16), 0, 2, 4, 6));
              }
            }
            for (; ox < hi; ox++) store<f32>(d + (<usize>ox << 2), load<f32>(s + (<usize>((ox - lo) * SW) << 2)));
          }
        }
        dst += P;
      }
    }
  }
}

/**
 * im2col straight into packed-B panels (gemm.ts: panels of 8 columns, (K, 8) each), for the
 * forward GEMM y_n (K, P) = W (K, C·kh·kw) · col_n: panel j of image n holds columns q = 8j..8j+7
 * of col_n, row (c, ky, kx) at 32·((c·kh + ky)·kw + kx) bytes, columns past P as zeros. One pass
 * over x, none over a separate col. args: the geometry (0..11), dst (packed B of image 0), batch,
 * dstStride (bytes between images' packed B). Tiles: (image, panel) (counter 0).
 * A panel within one output row reads its 8 inputs with vector loads (stride 1: two; stride 2:
 * four and two shuffles) where the row and the 8 columns are inside x, and with per-element bounds
 * checks elsewhere (padding, and panels that wrap to the next output row).
 */
export function im2colPack(ctl: usize): void {
  const x = argU(ctl, 0), C = argI(ctl, 1), H = argI(ctl, 2), W = argI(ctl, 3);
  const KH = argI(ctl, 4), KW = argI(ctl, 5), SH = argI(ctl, 6), SW = argI(ctl, 7);
  const PH = argI(ctl, 8), PW = argI(ctl, 9), OH = argI(ctl, 10), OW = argI(ctl, 11);
  const dst = argU(ctl, 12), batch = argI(ctl, 13), dstStride = argU(ctl, 14);
  const plane = <usize>H * W << 2, P = OH * OW, CR = C * KH * KW;
  const panels = (P + 7) >> 3, tiles = batch * panels;
  const zero = f32x4.splat(0);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const bi = t / panels, j = t % panels;
    const q0 = j << 3, nr = min(8, P - q0);
    const xi = x + <usize>bi * C * plane;
    let o = dst + <usize>bi * dstStride + (<usize>j * CR << 5);
    const oy = q0 / OW, ox0 = q0 % OW;
    if (nr == 8 && ox0 + 8 <= OW) {
      const iy0 = oy * SH - PH;
      for (let c = 0; c < C; c++) {
        const xc = xi + <usize>c * plane;
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky;
          if (iy < 0 || iy >= H) {
            for (let kx = 0; kx < KW; kx++) { v128.store(o, zero); v128.store(o, zero, 16); o += 32; }
            continue;
          }
          const row = xc + (<usize>(iy * W) << 2);
          for (let kx = 0; kx < KW; kx++) {
            const ix0 = ox0 * SW - PW + kx;
            // Vector reads cover inputs ix0 .. ix0 + 8·SW − 1 (stride 2 reads one past the last used).
            if (ix0 >= 0 && ix0 + 8 * SW <= W && SW <= 2) {
              const p = row + (<usize>ix0 << 2);
              if (SW == 1) {
                v128.store(o, v128.load(p));
                v128.store(o, v128.load(p, 16), 16);
              } else {
                v128.store(o, i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6));
                v128.store(o, i32x4.shuffle(v128.load(p, 32), v128.load(p, 48), 0, 2, 4, 6), 16);
              }
            } else {
              for (let i = 0; i < 8; i++) {
                const ix = ix0 + i * SW;
                store<f32>(o + (<usize>i << 2), ix >= 0 && ix < W ? load<f32>(row + (<usize>ix << 2)) : 0);
              }
            }
            o += 32;
          }
        }
      }
    } else {
      // Panels that wrap to the next output row, and the last short one: element by element.
      for (let c = 0; c < C; c++) {
        const xc = xi + <usize>c * plane;
        for (let ky = 0; ky < KH; ky++) {
          for (let kx = 0; kx < KW; kx++) {
            for (let i = 0; i < 8; i++) {
              let v: f32 = 0;
              if (i < nr) {
                const q = q0 + i, qy = q / OW, qx = q - qy * OW;
                const iy = qy * SH - PH + ky, ix = qx * SW - PW + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = load<f32>(xc + (<usize>(iy * W + ix) << 2));
              }
              store<f32>(o + (<usize>i << 2), v);
            }
            o += 32;
          }
        }
      }
    }
  }
}

/**
 * im2col transposed straight into packed-B panels, for the weight-gradient GEMM
 * dW (K, C·kh·kw) += dY (K, N·P) · colᵀ: B = colᵀ (N·P rows (n, q), C·kh·kw columns), panels of
 * 8 columns (c, ky, kx) with rows (n, q) at 32·(n·P + q) bytes, columns past C·kh·kw as zeros.
 * args: the geometry (0..11), dst (panel 0), batch, panelPitch (bytes between panels: N·P·32).
 * Tiles: (panel, image) (counter 0).
 * Four outputs of one row at a time: where the 8 columns' 4 inputs each are inside x (all taps'
 * rows and the run's columns), 8 vector loads (stride 2: 16 and 8 shuffles) and two 4×4
 * transposes; elsewhere element by element with bounds checks.
 */
export function im2colPackT(ctl: usize): void {
  const x = argU(ctl, 0), C = argI(ctl, 1), H = argI(ctl, 2), W = argI(ctl, 3);
  const KH = argI(ctl, 4), KW = argI(ctl, 5), SH = argI(ctl, 6), SW = argI(ctl, 7);
  const PH = argI(ctl, 8), PW = argI(ctl, 9), OH = argI(ctl, 10), OW = argI(ctl, 11);
  const dst = argU(ctl, 12), batch = argI(ctl, 13), pitch = argU(ctl, 14);
  const plane = H * W, P = OH * OW, R = KH * KW, CR = C * R;
  const panels = (CR + 7) >> 3, tiles = panels * batch;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const j = t / batch, n = t % batch;
    const xi = x + (<usize>n * C * plane << 2);
    let o = dst + <usize>j * pitch + (<usize>n * P << 5);
    const j0 = j << 3, nr = min(8, CR - j0);
    // Per column r: the element offset of tap (c, ky, kx) relative to input (oy·SH − PH, ox·SW − PW).
    const f0 = tapOffset(j0, nr, 0, R, KW, W, plane), f1 = tapOffset(j0, nr, 1, R, KW, W, plane);
    const f2 = tapOffset(j0, nr, 2, R, KW, W, plane), f3 = tapOffset(j0, nr, 3, R, KW, W, plane);
    const f4 = tapOffset(j0, nr, 4, R, KW, W, plane), f5 = tapOffset(j0, nr, 5, R, KW, W, plane);
    const f6 = tapOffset(j0, nr, 6, R, KW, W, plane), f7 = tapOffset(j0, nr, 7, R, KW, W, plane);
    const full = nr == 8 && SW <= 2;
    // The same per column as vectors (lanes 0..3, 4..7), with each tap's ky and kx for bounds
    // checks (columns past nr get a ky no row passes).
    const fLo = i32x4(f0, f1, f2, f3), fHi = i32x4(f4, f5, f6, f7);
    const kyLo = i32x4(tapKy(j0, nr, 0, R, KW), tapKy(j0, nr, 1, R, KW), tapKy(j0, nr, 2, R, KW), tapKy(j0, nr, 3, R, KW));
    const kyHi = i32x4(tapKy(j0, nr, 4, R, KW), tapKy(j0, nr, 5, R, KW), tapKy(j0, nr, 6, R, KW), tapKy(j0, nr, 7, R, KW));
    const kxLo = i32x4(tapKx(j0, nr, 0, R, KW), tapKx(j0, nr, 1, R, KW), tapKx(j0, nr, 2, R, KW), tapKx(j0, nr, 3, R, KW));
    const kxHi = i32x4(tapKx(j0, nr, 4, R, KW), tapKx(j0, nr, 5, R, KW), tapKx(j0, nr, 6, R, KW), tapKx(j0, nr, 7, R, KW));
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PH;
      const rowsIn = iy0 >= 0 && iy0 + KH <= H;
      let ox = 0;
      if (full && rowsIn) {
        // Columns of a 4-run: ox·SW − PW .. (ox + 3)·SW − PW + KW − 1 (+1: stride 2 reads 8 per load pair).
        for (; ox + 4 <= OW; ox += 4) {
          const ix0 = ox * SW - PW;
          if (ix0 < 0 || ix0 + 4 * SW + KW - 1 > W) {
            for (let i = 0; i < 4; i++) o = maskedRow(xi, o, iy0, ix0 + i * SW, fLo, fHi, kyLo, kyHi, kxLo, kxHi, H, W);
            continue;
          }
          const b = xi + (<usize>(iy0 * W + ix0) << 2);
          const r0 = run4(b, f0, SW), r1 = run4(b, f1, SW), r2 = run4(b, f2, SW), r3 = run4(b, f3, SW);
          const r4 = run4(b, f4, SW), r5 = run4(b, f5, SW), r6 = run4(b, f6, SW), r7 = run4(b, f7, SW);
          storeTransposed4x4(o, NR << 2, r0, r1, r2, r3);
          storeTransposed4x4(o + 16, NR << 2, r4, r5, r6, r7);
          o += 128;
        }
      }
      for (; ox < OW; ox++) o = maskedRow(xi, o, iy0, ox * SW - PW, fLo, fHi, kyLo, kyHi, kxLo, kxHi, H, W);
    }
  }
}

/** Element offset of column r of the panel starting at j0 (tap (c, ky, kx) ↦ c·plane + ky·W + kx; 0 past nr). */
// @ts-ignore: decorator
@inline function tapOffset(j0: i32, nr: i32, r: i32, R: i32, KW: i32, W: i32, plane: i32): i32 {
  if (r >= nr) return 0;
  const crs = j0 + r, c = crs / R, rr = crs - c * R, ky = rr / KW, kx = rr - ky * KW;
  return c * plane + ky * W + kx;
}

/** Inputs b + f, b + f + SW, b + f + 2·SW, b + f + 3·SW (elements) as one vector (SW 1 or 2). */
// @ts-ignore: decorator
@inline function run4(b: usize, f: i32, SW: i32): v128 {
  const p = b + (<usize>f << 2);
  if (SW == 1) return v128.load(p);
  return i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
}

/** ky of column r's tap (a value no row passes past nr). */
// @ts-ignore: decorator
@inline function tapKy(j0: i32, nr: i32, r: i32, R: i32, KW: i32): i32 {
  if (r >= nr) return 0x40000000;
  const crs = j0 + r, rr = crs - (crs / R) * R;
  return rr / KW;
}
/** kx of column r's tap. */
// @ts-ignore: decorator
@inline function tapKx(j0: i32, nr: i32, r: i32, R: i32, KW: i32): i32 {
  if (r >= nr) return 0;
  const crs = j0 + r, rr = crs - (crs / R) * R;
  return rr - (rr / KW) * KW;
}

/**
 * One packed row (8 columns) for output (iy0, ix0) = (oy·SH − PH, ox·SW − PW): the 8 taps' indices
 * and bounds as two vectors, lanes outside the image read element 0 and are zeroed.
 */
function maskedRow(xi: usize, o: usize, iy0: i32, ix0: i32, fLo: v128, fHi: v128, kyLo: v128, kyHi: v128, kxLo: v128, kxHi: v128, H: i32, W: i32): usize {
  const y = i32x4.splat(iy0), xx = i32x4.splat(ix0), hv = i32x4.splat(H), wv = i32x4.splat(W), at = i32x4.splat(iy0 * W + ix0);
  const mLo = v128.and(i32x4.lt_u(i32x4.add(y, kyLo), hv), i32x4.lt_u(i32x4.add(xx, kxLo), wv));
  const mHi = v128.and(i32x4.lt_u(i32x4.add(y, kyHi), hv), i32x4.lt_u(i32x4.add(xx, kxHi), wv));
  const iLo = v128.and(i32x4.add(at, fLo), mLo), iHi = v128.and(i32x4.add(at, fHi), mHi);
  v128.store(o, v128.and(gather4(xi, iLo), mLo));
  v128.store(o, v128.and(gather4(xi, iHi), mHi), 16);
  return o + 32;
}

/** x[i0], x[i1], x[i2], x[i3] for the lanes of `idx` (element indices). */
// @ts-ignore: decorator
@inline function gather4(x: usize, idx: v128): v128 {
  let v = f32x4.splat(load<f32>(x + (<usize>i32x4.extract_lane(idx, 0) << 2)));
  v = f32x4.replace_lane(v, 1, load<f32>(x + (<usize>i32x4.extract_lane(idx, 1) << 2)));
  v = f32x4.replace_lane(v, 2, load<f32>(x + (<usize>i32x4.extract_lane(idx, 2) << 2)));
  return f32x4.replace_lane(v, 3, load<f32>(x + (<usize>i32x4.extract_lane(idx, 3) << 2)));
}

/** col2im for `batch` images; arg 14: accumulate (0: overwrite dx). Tiles: (image, channel) (counter 0). */
export function col2im(ctl: usize): void {
  const dx = argU(ctl, 0), C = argI(ctl, 1), H = argI(ctl, 2), W = argI(ctl, 3);
  const KH = argI(ctl, 4), KW = argI(ctl, 5), SH = argI(ctl, 6), SW = argI(ctl, 7);
  const PH = argI(ctl, 8), PW = argI(ctl, 9), OH = argI(ctl, 10), OW = argI(ctl, 11);
  const col = argU(ctl, 12), batch = argI(ctl, 13), accumulate = argI(ctl, 14) != 0;
  const plane = <usize>H * W << 2, rowBytes = <usize>OW << 2, P = <usize>OH * OW << 2;
  const tiles = batch * C;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const out = dx + <usize>t * plane;
    if (!accumulate) memory.fill(out, 0, plane);
    let src = col + <usize>t * KH * KW * P;
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        const lo = validLo(PW, kx, SW), hi = max(lo, validHi(W, PW, kx, SW, OW));
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * SH - PH + ky;
          if (iy < 0 || iy >= H) continue;
          const s = src + <usize>oy * rowBytes;
          const d = out + (<usize>(iy * W + lo * SW - PW + kx) << 2);
          let ox = lo;
          if (SW == 1) {
            for (; ox + 4 <= hi; ox += 4) {
              const o = <usize>(ox - lo) << 2;
              v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + (<usize>ox << 2))));
            }
          }
          for (; ox < hi; ox++) {
            const p = d + (<usize>((ox - lo) * SW) << 2);
            store<f32>(p, load<f32>(p) + load<f32>(s + (<usize>ox << 2)));
          }
        }
        src += P;
      }
    }
  }
}

/** db(k) += Σ_{n,p} dy(n, k, p). args: dy, N, K, P (= OH·OW), db. Tiles: channels (counter 0). */
export function biasGrad(ctl: usize): void {
  const dy = argU(ctl, 0), N = argI(ctl, 1), K = argI(ctl, 2), P = argI(ctl, 3), db = argU(ctl, 4);
  for (let k = nextTile(ctl, 0); k < K; k = nextTile(ctl, 0)) {
    let s: f64 = 0; // f64: sums of up to N·OH·OW terms, then one rounding
    for (let n = 0; n < N; n++) {
      const row = dy + ((<usize>n * K + k) * P << 2);
      let v = f32x4.splat(0);
      let p = 0;
      for (; p + 4 <= P; p += 4) v = f32x4.add(v, v128.load(row + (<usize>p << 2)));
      s += <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1) + <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
      for (; p < P; p++) s += <f64>load<f32>(row + (<usize>p << 2));
    }
    store<f32>(db + (<usize>k << 2), <f32>(<f64>load<f32>(db + (<usize>k << 2)) + s));
  }
}

/** y(n, c, p) += b(c). args: y, N, C, P, b. Tiles: (image, channel) (counter 0). */
export function addBias(ctl: usize): void {
  const y = argU(ctl, 0), N = argI(ctl, 1), C = argI(ctl, 2), P = argI(ctl, 3), b = argU(ctl, 4);
  const tiles = N * C;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const row = y + (<usize>t * P << 2);
    const bs = load<f32>(b + (<usize>(t % C) << 2));
    const bv = f32x4.splat(bs);
    let p = 0;
    for (; p + 4 <= P; p += 4) v128.store(row + (<usize>p << 2), f32x4.add(v128.load(row + (<usize>p << 2)), bv));
    for (; p < P; p++) store<f32>(row + (<usize>p << 2), load<f32>(row + (<usize>p << 2)) + bs);
  }
}
