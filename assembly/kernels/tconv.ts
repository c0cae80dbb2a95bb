// Transposed convolutions whose kernel is a whole number of strides (kh = Th·sh, kw = Tw·sw: FCN's
// upsampling heads, k = 2s) split into sh·sw output phases (src/backends/wasm/conv2d.ts plans them).
// With q = o + p = Q·s + r (r < s), output pixel o sees only the inputs Q − a (a < T), through the
// taps a·s + r:
//   y(n, co, oy, ox) = Σ_{ci, a, b} x(n, ci, Qy − a, Qx − b) · w(ci, co, a·sh + ry, b·sw + rx)
// so one GEMM over all phases, Z_n ((co, ry, rx), (Qy, Qx)) = Wp ((co, ry, rx), (ci, a', b')) ·
// col_n ((ci, a', b'), (Qy, Qx)), with col the im2col of x for a Th×Tw kernel, stride 1, padding
// T − 1 (tap a' = T − 1 − a), gives every output exactly once: no col2im overlaps, and the GEMM's
// K is Cin·Th·Tw instead of Cout. The weight gradient is the same GEMM transposed:
// dWp = D · colᵀ, D_n ((co, ry, rx), (Qy, Qx)) = dy(n, co, Qy·sh + ry − ph, Qx·sw + rx − pw).
// Z and D: per image M × QH·QW, M = Cout·sh·sw, QH = H + Th − 1, QW = W + Tw − 1. Rows in
// (co, ry, rx) order keep the phases of one output row together: consecutive rows of a weight
// panel read consecutive floats of w, and an output row reads one contiguous block of Z.
import { argI, argU, nextTile } from './args';
import { MR } from './gemm';

/**
 * dir 0: packs Wp (M, Cin·Th·Tw) from w (Cin, Cout, kh, kw) as GEMM A panels (gemm.ts layout,
 * rows past M zero) at dst. dir 1: w += Wp read as a plain row-major (M, Cin·Th·Tw) matrix at
 * dst (the weight gradient's scatter). args: w, Cin, Cout, kh, kw, sh, sw, dst, dir.
 * Tiles: output channels co (counter 0), each walking its Cin planes of w in memory order (the
 * reads stream; the rows it writes, (co, ·, ·), are ~Cin·kh·kw floats, cache resident). Panels
 * that straddle two channels get their rows from two tiles: distinct bytes.
 */
export function tconvPhaseWeights(ctl: usize): void {
  const w = argU(ctl, 0), Cin = argI(ctl, 1), Cout = argI(ctl, 2), kh = argI(ctl, 3), kw = argI(ctl, 4);
  const sh = argI(ctl, 5), sw = argI(ctl, 6), dst = argU(ctl, 7), dir = argI(ctl, 8);
  const Th = kh / sh, Tw = kw / sw, M = sh * sw * Cout, K = Cin * Th * Tw;
  const panelBytes = <usize>K * MR << 2;
  for (let co = nextTile(ctl, 0); co < Cout; co = nextTile(ctl, 0)) {
    if (dir == 0 && co == Cout - 1) {
      // Rows past M in the last panel are zeros.
      const panels = (M + MR - 1) / MR;
      for (let m = M; m < panels * MR; m++) {
        for (let k = 0; k < K; k++) store<f32>(dst + <usize>(m / MR) * panelBytes + (<usize>(k * MR + m % MR) << 2), 0);
      }
    }
    for (let ci = 0; ci < Cin; ci++) {
      let src = w + (<usize>(ci * Cout + co) * kh * kw << 2);
      for (let ky = 0; ky < kh; ky++) {
        const a = ky / sh, ry = ky % sh;
        const rowM = (co * sh + ry) * sw; // m of (co, ry, rx = 0)
        for (let b = 0; b < Tw; b++) {
          // k = (ci, a', b') with a' = T − 1 − a: the im2col tap order of x.
          const k = (ci * Th + Th - 1 - a) * Tw + Tw - 1 - b;
          if (dir == 0) {
            let lane = rowM % MR;
            let o = dst + <usize>(rowM / MR) * panelBytes + (<usize>(k * MR + lane) << 2);
            for (let rx = 0; rx < sw; rx++) {
              store<f32>(o, load<f32>(src));
              src += 4;
              if (++lane == MR) { lane = 0; o += panelBytes - (<usize>(MR - 1) << 2); } else o += 4;
            }
          } else {
            let g = dst + (<usize>rowM * K + k << 2);
            for (let rx = 0; rx < sw; rx++) {
              store<f32>(src, load<f32>(src) + load<f32>(g));
              src += 4;
              g += <usize>K << 2;
            }
          }
        }
      }
    }
  }
}

/**
 * y(n, co, oy, ox) [+]= Z_n((co, ry, rx), (Qy, Qx)) (+ bias(co) when overwriting).
 * args: Z, y, batch, Cout, OH, OW, sh, sw, ph, pw, QH, QW, bias (0: none), accumulate.
 * Tiles: (image, channel) planes (counter 0).
 */
export function tconvScatter(ctl: usize): void {
  const Z = argU(ctl, 0), y = argU(ctl, 1), batch = argI(ctl, 2), Cout = argI(ctl, 3);
  const OH = argI(ctl, 4), OW = argI(ctl, 5), sh = argI(ctl, 6), sw = argI(ctl, 7), ph = argI(ctl, 8), pw = argI(ctl, 9);
  const QH = argI(ctl, 10), QW = argI(ctl, 11), bias = argU(ctl, 12), accumulate = argI(ctl, 13) != 0;
  const QP = <usize>QH * QW, M = sh * sw * Cout;
  const rxStep = QP << 2; // bytes between the rows of phases (ry, rx) and (ry, rx + 1)
  const x0 = pw % sw, X0 = pw / sw;
  const tiles = batch * Cout;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / Cout, co = t % Cout;
    const bv: f32 = bias != 0 && !accumulate ? load<f32>(bias + (<usize>co << 2)) : 0;
    const zn = Z + (<usize>n * M * QP << 2);
    let out = y + (<usize>t * OH * OW << 2);
    for (let oy = 0; oy < OH; oy++) {
      const qy = oy + ph, Qy = qy / sh, ry = qy % sh;
      // Z row (co, ry, 0) at Qy; phase rx adds rx·rxStep, Qx adds 4 bytes.
      const zrow = zn + (<usize>((co * sh + ry) * sw) * QP + <usize>Qy * QW << 2);
      let rx = x0, zp = zrow + <usize>x0 * rxStep + (<usize>X0 << 2);
      for (let ox = 0; ox < OW; ox++) {
        const v = load<f32>(zp);
        const o = out + (<usize>ox << 2);
        store<f32>(o, accumulate ? load<f32>(o) + v : v + bv);
        if (++rx == sw) { rx = 0; zp += 4 - <usize>(sw - 1) * rxStep; } else zp += rxStep;
      }
      out += <usize>OW << 2;
    }
  }
}

/**
 * D_n((co, ry, rx), (Qy, Qx)) = dy(n, co, Qy·sh + ry − ph, Qx·sw + rx − pw), 0 outside.
 * args: dy, D, batch, Cout, OH, OW, sh, sw, ph, pw, QH, QW. Tiles: (image, channel, ry) (counter 0):
 * a tile reads QH rows of one dy plane and writes the sw consecutive rows of D that share them.
 */
export function tconvGather(ctl: usize): void {
  const dy = argU(ctl, 0), D = argU(ctl, 1), batch = argI(ctl, 2), Cout = argI(ctl, 3);
  const OH = argI(ctl, 4), OW = argI(ctl, 5), sh = argI(ctl, 6), sw = argI(ctl, 7), ph = argI(ctl, 8), pw = argI(ctl, 9);
  const QH = argI(ctl, 10), QW = argI(ctl, 11);
  const QP = <usize>QH * QW, M = sh * sw * Cout;
  const tiles = batch * sh * Cout;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / (sh * Cout), r = t % (sh * Cout), co = r / sh, ry = r % sh;
    const plane = dy + (<usize>(n * Cout + co) * OH * OW << 2);
    const d0 = D + (<usize>(n * M + (co * sh + ry) * sw) * QP << 2), rowStep = QP << 2;
    for (let Qy = 0; Qy < QH; Qy++) {
      const oy = Qy * sh + ry - ph;
      const inside = oy >= 0 && oy < OH;
      const row = plane + (<usize>max(0, min(OH - 1, oy)) * OW << 2);
      for (let Qx = 0; Qx < QW; Qx++) {
        // The sw phases of one Q read sw consecutive floats of the dy row.
        let d = d0 + (<usize>(Qy * QW + Qx) << 2);
        const ox0 = Qx * sw - pw;
        for (let rx = 0; rx < sw; rx++) {
          const ox = ox0 + rx;
          store<f32>(d, inside && ox >= 0 && ox < OW ? load<f32>(row + (<usize>ox << 2)) : 0);
          d += rowStep;
        }
      }
    }
  }
}

/**
 * The backward-input by phases: dx(n, ci, iy, ix) = Σ_{a, m = (co, ry, rx), b} Wd(ci, (a, m, b)) ·
 * D_n(m, (iy + a, ix + b)), Wd(ci, (a, m, b)) = w(ci, co, a·sh + ry, b·sw + rx). Packs Wd (Cin,
 * Th·M·Tw) as GEMM A panels at dst. args: w, Cin, Cout, kh, kw, sh, sw, dst. Tiles: panels.
 */
export function tconvInputWeights(ctl: usize): void {
  const w = argU(ctl, 0), Cin = argI(ctl, 1), Cout = argI(ctl, 2), kh = argI(ctl, 3), kw = argI(ctl, 4);
  const sh = argI(ctl, 5), sw = argI(ctl, 6), dst = argU(ctl, 7);
  const Th = kh / sh, Tw = kw / sw, K = Th * Cout * sh * sw * Tw;
  const panels = (Cin + MR - 1) / MR;
  const plane = <usize>Cout * kh * kw << 2; // MR = 4: the four rows of a panel make one v128 per k
  for (let t = nextTile(ctl, 0); t < panels; t = nextTile(ctl, 0)) {
    // The panel's rows ci (missing ones read row 0 and are zeroed by the mask) are MR planes of
    // w read side by side: each k gathers one float of each and stores one vector.
    const ci0 = t * MR, rows = min(MR, Cin - ci0);
    const w0 = w + <usize>ci0 * plane;
    const p1: usize = rows > 1 ? plane : 0, p2: usize = rows > 2 ? 2 * plane : 0, p3: usize = rows > 3 ? 3 * plane : 0;
    const mask = i32x4(-1, rows > 1 ? -1 : 0, rows > 2 ? -1 : 0, rows > 3 ? -1 : 0);
    let o = dst + (<usize>t * K * MR << 2);
    for (let a = 0; a < Th; a++) {
      for (let co = 0; co < Cout; co++) {
        for (let ry = 0; ry < sh; ry++) {
          const row = w0 + (<usize>((co * kh + a * sh + ry) * kw) << 2);
          for (let rx = 0; rx < sw; rx++) {
            for (let b = 0; b < Tw; b++, o += MR << 2) {
              const q = row + (<usize>(b * sw + rx) << 2);
              let v = f32x4.splat(load<f32>(q));
              v = f32x4.replace_lane(v, 1, load<f32>(q + p1));
              v = f32x4.replace_lane(v, 2, load<f32>(q + p2));
              v = f32x4.replace_lane(v, 3, load<f32>(q + p3));
              v128.store(o, v128.and(v, mask));
            }
          }
        }
      }
    }
  }
}

/**
 * dst(r, iy, ix) [+]= src(r, iy·QW + ix) for ix < W: drops the columns past W of a product computed
 * on a QW-wide grid. args: src, dst, rows, H, QW, W, accumulate. Tiles: rows (counter 0).
 */
export function cropColumns(ctl: usize): void {
  const src = argU(ctl, 0), dst = argU(ctl, 1), rows = argI(ctl, 2), H = argI(ctl, 3), QW = argI(ctl, 4), W = argI(ctl, 5);
  const accumulate = argI(ctl, 6) != 0;
  for (let t = nextTile(ctl, 0); t < rows; t = nextTile(ctl, 0)) {
    let s = src + (<usize>t * H * QW << 2), d = dst + (<usize>t * H * W << 2);
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        const o = d + (<usize>ix << 2), v = load<f32>(s + (<usize>ix << 2));
        store<f32>(o, accumulate ? load<f32>(o) + v : v);
      }
      s += <usize>QW << 2;
      d += <usize>W << 2;
    }
  }
}
