// The non-convolution ops of the FCN, PyTorch semantics (as the WebGPU kernels in shaders/):
//   relu:        y = max(x, 0);  backward from the output: dx = dy · [y > 0]
//   add:         out = a + b;  addInto: acc += a
//   max-pool:    −inf padding, first maximum wins, indices iy·W + ix within the plane;
//                backward scatters dy through the indices (dx overwritten)
//   batch norm:  per channel over (N, H, W); biased variance normalises, unbiased variance goes
//                into running_var; f64 sums (mean first, then Σ(x − mean)²: no cancellation)
//   argmax:      over channels, ties to the lowest index, the first NaN wins (u32 or packed u8 out)
//   confusion:   conf[label·K + pred] += 1 for label < K and pred < K (u32 atomics)
//   sgd:         torch.optim.SGD (dampening 0): d = g + wd·p; buf = m·buf + d; d = nesterov ? d + m·buf : buf; p −= lr·d
// Elementwise ops take tiles of CHUNK elements; per-plane ops take (image, channel) planes;
// per-channel ops take channels.
import { argD, argF, argI, argU, nextTile } from './args';

const CHUNK: i32 = 16384;

// @ts-ignore: decorator
@inline function chunks(n: usize): i32 {
  return <i32>((n + <usize>CHUNK - 1) / <usize>CHUNK);
}

/** y = max(x, 0). args: x, y, n. */
export function reluForward(ctl: usize): void {
  const x = argU(ctl, 0), y = argU(ctl, 1), n = argU(ctl, 2);
  const tiles = chunks(n), z = f32x4.splat(0);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    let i = <usize>t * CHUNK;
    const end = min(n, i + CHUNK);
    for (; i + 4 <= end; i += 4) v128.store(y + (i << 2), f32x4.max(v128.load(x + (i << 2)), z));
    for (; i < end; i++) store<f32>(y + (i << 2), max(load<f32>(x + (i << 2)), 0));
  }
}

/** dx = dy · [y > 0]. args: y, dy, dx, n. */
export function reluBackward(ctl: usize): void {
  const y = argU(ctl, 0), dy = argU(ctl, 1), dx = argU(ctl, 2), n = argU(ctl, 3);
  const tiles = chunks(n), z = f32x4.splat(0);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    let i = <usize>t * CHUNK;
    const end = min(n, i + CHUNK);
    for (; i + 4 <= end; i += 4) v128.store(dx + (i << 2), v128.and(v128.load(dy + (i << 2)), f32x4.gt(v128.load(y + (i << 2)), z)));
    for (; i < end; i++) store<f32>(dx + (i << 2), load<f32>(y + (i << 2)) > 0 ? load<f32>(dy + (i << 2)) : 0);
  }
}

/** out = a + b (out may alias a or b). args: a, b, out, n. */
export function add(ctl: usize): void {
  const a = argU(ctl, 0), b = argU(ctl, 1), out = argU(ctl, 2), n = argU(ctl, 3);
  const tiles = chunks(n);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    let i = <usize>t * CHUNK;
    const end = min(n, i + CHUNK);
    for (; i + 4 <= end; i += 4) v128.store(out + (i << 2), f32x4.add(v128.load(a + (i << 2)), v128.load(b + (i << 2))));
    for (; i < end; i++) store<f32>(out + (i << 2), load<f32>(a + (i << 2)) + load<f32>(b + (i << 2)));
  }
}

/** max_pool2d with indices. args: x, y, indices, N·C, H, W, k, stride, pad, OH, OW. Tiles: planes. */
export function maxPoolForward(ctl: usize): void {
  const x = argU(ctl, 0), y = argU(ctl, 1), idx = argU(ctl, 2), planes = argI(ctl, 3);
  const H = argI(ctl, 4), W = argI(ctl, 5), k = argI(ctl, 6), S = argI(ctl, 7), P = argI(ctl, 8);
  const OH = argI(ctl, 9), OW = argI(ctl, 10);
  for (let t = nextTile(ctl, 0); t < planes; t = nextTile(ctl, 0)) {
    const src = x + (<usize>t * H * W << 2);
    const o = <usize>t * OH * OW << 2;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = max(0, oy * S - P), y1 = min(H, oy * S - P + k);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = max(0, ox * S - P), x1 = min(W, ox * S - P + k);
        let best: f32 = -Infinity;
        let arg = -1;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = load<f32>(src + (<usize>(iy * W + ix) << 2));
            // As PyTorch's CPU kernel: a NaN is taken (and a later NaN replaces it).
            if (arg < 0 || v > best || isNaN(v)) { best = v; arg = iy * W + ix; }
          }
        }
        const q = o + (<usize>(oy * OW + ox) << 2);
        store<f32>(y + q, best);
        store<i32>(idx + q, arg);
      }
    }
  }
}

/** dx = scatter of dy through the indices (dx overwritten). args: dy, indices, dx, N·C, H·W, OH·OW. Tiles: planes. */
export function maxPoolBackward(ctl: usize): void {
  const dy = argU(ctl, 0), idx = argU(ctl, 1), dx = argU(ctl, 2), planes = argI(ctl, 3);
  const HW = argI(ctl, 4), OHW = argI(ctl, 5);
  for (let t = nextTile(ctl, 0); t < planes; t = nextTile(ctl, 0)) {
    const d = dx + (<usize>t * HW << 2);
    memory.fill(d, 0, <usize>HW << 2);
    const o = <usize>t * OHW << 2;
    for (let i = 0; i < OHW; i++) {
      const j = load<i32>(idx + o + (<usize>i << 2));
      const p = d + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(dy + o + (<usize>i << 2)));
    }
  }
}

/**
 * Training batch norm forward: saves mean and invstd, updates the running statistics, writes y.
 * args: x, y, weight, bias, runMean, runVar, saveMean, saveInvstd, N, C, HW, eps, momentum. Tiles: channels.
 */
export function batchNormTrain(ctl: usize): void {
  const x = argU(ctl, 0), y = argU(ctl, 1), w = argU(ctl, 2), b = argU(ctl, 3);
  const rm = argU(ctl, 4), rv = argU(ctl, 5), sm = argU(ctl, 6), si = argU(ctl, 7);
  const N = argI(ctl, 8), C = argI(ctl, 9), HW = argI(ctl, 10);
  const eps = argD(ctl, 11), mom = argD(ctl, 12);
  const M = <f64>N * <f64>HW;
  for (let c = nextTile(ctl, 0); c < C; c = nextTile(ctl, 0)) {
    let s: f64 = 0;
    for (let n = 0; n < N; n++) {
      const row = x + ((<usize>n * C + c) * HW << 2);
      for (let i = 0; i < HW; i++) s += <f64>load<f32>(row + (<usize>i << 2));
    }
    const mean = s / M;
    let q: f64 = 0;
    for (let n = 0; n < N; n++) {
      const row = x + ((<usize>n * C + c) * HW << 2);
      for (let i = 0; i < HW; i++) {
        const d = <f64>load<f32>(row + (<usize>i << 2)) - mean;
        q += d * d;
      }
    }
    const invstd = 1 / Math.sqrt(q / M + eps);
    const cb = <usize>c << 2;
    store<f32>(sm + cb, <f32>mean);
    store<f32>(si + cb, <f32>invstd);
    const unbiased = q / (M - 1); // M = 1 gives inf, as PyTorch
    store<f32>(rm + cb, <f32>((1 - mom) * <f64>load<f32>(rm + cb) + mom * mean));
    store<f32>(rv + cb, <f32>((1 - mom) * <f64>load<f32>(rv + cb) + mom * unbiased));
    // y = (x − mean)·scale + b, scale = w·invstd: subtracting first keeps x ≈ mean exact (no cancellation)
    normalizeChannel(x, y, N, C, HW, c, <f32>mean, <f32>(<f64>load<f32>(w + cb) * invstd), load<f32>(b + cb));
  }
}

/** Eval batch norm with the running statistics. args: x, y, weight, bias, runMean, runVar, N, C, HW, eps. Tiles: channels. */
export function batchNormEval(ctl: usize): void {
  const x = argU(ctl, 0), y = argU(ctl, 1), w = argU(ctl, 2), b = argU(ctl, 3);
  const rm = argU(ctl, 4), rv = argU(ctl, 5);
  const N = argI(ctl, 6), C = argI(ctl, 7), HW = argI(ctl, 8), eps = argD(ctl, 9);
  for (let c = nextTile(ctl, 0); c < C; c = nextTile(ctl, 0)) {
    const cb = <usize>c << 2;
    const invstd = 1 / Math.sqrt(<f64>load<f32>(rv + cb) + eps);
    normalizeChannel(x, y, N, C, HW, c, load<f32>(rm + cb), <f32>(<f64>load<f32>(w + cb) * invstd), load<f32>(b + cb));
  }
}

/** y = (x − mean)·scale + shift over channel c. */
function normalizeChannel(x: usize, y: usize, N: i32, C: i32, HW: i32, c: i32, mean: f32, scale: f32, shift: f32): void {
  const mv = f32x4.splat(mean), sv = f32x4.splat(scale), hv = f32x4.splat(shift);
  for (let n = 0; n < N; n++) {
    const off = (<usize>n * C + c) * HW << 2;
    const xr = x + off, yr = y + off;
    let i = 0;
    for (; i + 4 <= HW; i += 4) v128.store(yr + (<usize>i << 2), f32x4.add(f32x4.mul(f32x4.sub(v128.load(xr + (<usize>i << 2)), mv), sv), hv));
    for (; i < HW; i++) store<f32>(yr + (<usize>i << 2), (load<f32>(xr + (<usize>i << 2)) - mean) * scale + shift);
  }
}

/**
 * Training batch norm backward from the saved mean/invstd: dweight += Σ dy·x̂, dbias += Σ dy,
 * dx = w·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M) (overwritten).
 * args: x, dy, dx, weight, saveMean, saveInvstd, dweight, dbias, N, C, HW. Tiles: channels.
 */
export function batchNormBackward(ctl: usize): void {
  const x = argU(ctl, 0), dy = argU(ctl, 1), dx = argU(ctl, 2), w = argU(ctl, 3);
  const sm = argU(ctl, 4), si = argU(ctl, 5), dw = argU(ctl, 6), db = argU(ctl, 7);
  const N = argI(ctl, 8), C = argI(ctl, 9), HW = argI(ctl, 10);
  const M = <f64>N * <f64>HW;
  for (let c = nextTile(ctl, 0); c < C; c = nextTile(ctl, 0)) {
    const cb = <usize>c << 2;
    const mean = <f64>load<f32>(sm + cb), invstd = <f64>load<f32>(si + cb);
    let sdy: f64 = 0, sdyx: f64 = 0;
    for (let n = 0; n < N; n++) {
      const off = (<usize>n * C + c) * HW << 2;
      for (let i = 0; i < HW; i++) {
        const g = <f64>load<f32>(dy + off + (<usize>i << 2));
        sdy += g;
        sdyx += g * (<f64>load<f32>(x + off + (<usize>i << 2)) - mean);
      }
    }
    sdyx *= invstd;
    store<f32>(dw + cb, <f32>(<f64>load<f32>(dw + cb) + sdyx));
    store<f32>(db + cb, <f32>(<f64>load<f32>(db + cb) + sdy));
    // dx = k·dy + a·(x − mean) + e with k = w·invstd, a = −k·invstd·Σdy·x̂/M, e = −k·Σdy/M
    // (x − mean first: x ≈ mean would cancel catastrophically in a·x − a·mean)
    const k = <f64>load<f32>(w + cb) * invstd;
    const a = -k * invstd * sdyx / M;
    const e = -k * sdy / M;
    const kf = <f32>k, af = <f32>a, ef = <f32>e, mf = <f32>mean;
    const kv = f32x4.splat(kf), av = f32x4.splat(af), ev = f32x4.splat(ef), mv = f32x4.splat(mf);
    for (let n = 0; n < N; n++) {
      const off = (<usize>n * C + c) * HW << 2;
      let i = 0;
      for (; i + 4 <= HW; i += 4) {
        const o = off + (<usize>i << 2);
        v128.store(dx + o, f32x4.add(f32x4.add(f32x4.mul(v128.load(dy + o), kv), f32x4.mul(f32x4.sub(v128.load(x + o), mv), av)), ev));
      }
      for (; i < HW; i++) {
        const o = off + (<usize>i << 2);
        store<f32>(dx + o, load<f32>(dy + o) * kf + (load<f32>(x + o) - mf) * af + ef);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function argmaxOne(src: usize, plane: usize, K: i32): u32 {
  let best = load<f32>(src), arg: u32 = 0, q = src;
  for (let k = 1; k < K; k++) {
    q += plane;
    const v = load<f32>(q);
    // Replace when best is a number and v is not ≤ it: v > best, or v is NaN.
    if (best == best && !(v <= best)) { best = v; arg = <u32>k; }
  }
  return arg;
}

/**
 * ids(n, y, x) = argmax_k logits(n, k, y, x) over the top-left H × W of logits (N, K, TH, TW): ties
 * to the lowest k and the first NaN wins (torch.argmax on CPU, shaders/argmax/forward.wgsl). Out:
 * (N, H, W) flattened, u32 ids, or with u8 ≠ 0 one byte per id (K ≤ 256, checked by the host), the
 * bytes after the last id zeroed up to a multiple of 4 (shaders/argmax/packed_u8.wgsl's layout).
 * Eight pixels per step: two f32x4 maxima and two i32x4 ids, the replace mask
 * [best = best] ∧ ¬[v ≤ best] (the scalar rule) selecting with v128.bitselect.
 * args: logits, out, N, K, H, W, TH, TW, u8. Tiles: (image, row, chunk of the row); when W = TW the
 * H rows are one contiguous run.
 */
export function argmax(ctl: usize): void {
  const lg = argU(ctl, 0), out = argU(ctl, 1), N = argI(ctl, 2), K = argI(ctl, 3), H = argI(ctl, 4), W = argI(ctl, 5);
  const TH = argI(ctl, 6), TW = argI(ctl, 7), u8 = argI(ctl, 8) != 0;
  const rows = W == TW ? 1 : H, len = W == TW ? H * W : W;
  const per = (len + CHUNK - 1) / CHUNK;
  const tiles = N * rows * per;
  const plane = <usize>TH * TW << 2;
  const one = i32x4.splat(1);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / (rows * per), r = (t / per) % rows, x0 = (t % per) * CHUNK, x1 = min(len, x0 + CHUNK);
    const src = lg + ((<usize>n * K * TH * TW + <usize>r * TW + x0) << 2);
    const dst = <usize>(n * H + r) * W + x0;
    let x = 0;
    const m = x1 - x0;
    for (; x + 8 <= m; x += 8) {
      let q = src + (<usize>x << 2);
      let b0 = v128.load(q), b1 = v128.load(q, 16);
      let a0 = i32x4.splat(0), a1 = a0, kv = a0;
      for (let k = 1; k < K; k++) {
        q += plane;
        kv = i32x4.add(kv, one);
        const v0 = v128.load(q), v1 = v128.load(q, 16);
        const m0 = v128.andnot(f32x4.eq(b0, b0), f32x4.le(v0, b0));
        const m1 = v128.andnot(f32x4.eq(b1, b1), f32x4.le(v1, b1));
        b0 = v128.bitselect(v0, b0, m0);
        b1 = v128.bitselect(v1, b1, m1);
        a0 = v128.bitselect(kv, a0, m0);
        a1 = v128.bitselect(kv, a1, m1);
      }
      if (u8) {
        const w = i16x8.narrow_i32x4_u(a0, a1);
        store<u64>(out + dst + x, i64x2.extract_lane(i8x16.narrow_i16x8_u(w, w), 0));
      } else {
        const o = out + ((dst + x) << 2);
        v128.store(o, a0);
        v128.store(o, a1, 16);
      }
    }
    for (; x < m; x++) {
      const id = argmaxOne(src + (<usize>x << 2), plane, K);
      if (u8) store<u8>(out + dst + x, <u8>id);
      else store<u32>(out + ((dst + x) << 2), id);
    }
    if (u8 && t == tiles - 1) {
      const total = <usize>N * H * W;
      for (let j = total; (j & 3) != 0; j++) store<u8>(out + j, 0);
    }
  }
}

/** conf[label·K + pred] += 1 where label < K and pred < K. args: pred, labels, n, K, conf. */
export function confusion(ctl: usize): void {
  const pred = argU(ctl, 0), labels = argU(ctl, 1), n = argU(ctl, 2), K = argU(ctl, 3), conf = argU(ctl, 4);
  const tiles = chunks(n);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const i0 = <usize>t * CHUNK, i1 = min(n, i0 + CHUNK);
    for (let i = i0; i < i1; i++) {
      const l = <usize>load<u32>(labels + (i << 2)), p = <usize>load<u32>(pred + (i << 2));
      if (l < K && p < K) atomic.add<u32>(conf + ((l * K + p) << 2), 1);
    }
  }
}

/** One SGD step over a flat arena. args: params, grads, buf (0: no momentum), n, lr, weightDecay, momentum, nesterov. */
export function sgd(ctl: usize): void {
  const pp = argU(ctl, 0), gp = argU(ctl, 1), bp = argU(ctl, 2), n = argU(ctl, 3);
  const lr = argF(ctl, 4), wd = argF(ctl, 5), m = argF(ctl, 6), nesterov = argI(ctl, 7) != 0;
  const tiles = chunks(n);
  const vlr = f32x4.splat(lr), vwd = f32x4.splat(wd), vm = f32x4.splat(m);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const i0 = <usize>t * CHUNK, i1 = min(n, i0 + CHUNK);
    let i = i0;
    // Four at a time with the scalar loop's operations in its order (separate mul and add, no
    // FMA): the same f32 results. The momentum and Nesterov choices are made once per loop.
    if (bp == 0) {
      for (; i + 4 <= i1; i += 4) {
        const o = i << 2, p = v128.load(pp + o);
        const d = f32x4.add(v128.load(gp + o), f32x4.mul(vwd, p));
        v128.store(pp + o, f32x4.sub(p, f32x4.mul(vlr, d)));
      }
    } else if (!nesterov) {
      for (; i + 4 <= i1; i += 4) {
        const o = i << 2, p = v128.load(pp + o);
        const d = f32x4.add(v128.load(gp + o), f32x4.mul(vwd, p));
        const b = f32x4.add(f32x4.mul(vm, v128.load(bp + o)), d);
        v128.store(bp + o, b);
        v128.store(pp + o, f32x4.sub(p, f32x4.mul(vlr, b)));
      }
    } else {
      for (; i + 4 <= i1; i += 4) {
        const o = i << 2, p = v128.load(pp + o);
        const d = f32x4.add(v128.load(gp + o), f32x4.mul(vwd, p));
        const b = f32x4.add(f32x4.mul(vm, v128.load(bp + o)), d);
        v128.store(bp + o, b);
        v128.store(pp + o, f32x4.sub(p, f32x4.mul(vlr, f32x4.add(d, f32x4.mul(vm, b)))));
      }
    }
    for (; i < i1; i++) {
      const o = i << 2;
      const p = load<f32>(pp + o);
      let d = load<f32>(gp + o) + wd * p;
      if (bp != 0) {
        const b = m * load<f32>(bp + o) + d;
        store<f32>(bp + o, b);
        d = nesterov ? d + m * b : b;
      }
      store<f32>(pp + o, p - lr * d);
    }
  }
}

/**
 * Softmax cross-entropy, per pixel, over logits (N, K, HW) with u32 labels (N, HW); a label ≥ K
 * is ignored (255, or a bad label, counted apart). Writes dlogits = (softmax − onehot)·gscale
 * (0 at ignored pixels; skipped when dlogits is 0) and per-tile partials (f64 ×3: Σ loss, valid
 * pixels, bad labels) for the host to finish. args: logits, labels, dlogits, partials, N, K, HW,
 * ignoreIndex, gscale. Tiles: (image, chunk of CE_CHUNK pixels).
 */
export const CE_CHUNK: i32 = 4096;
export function crossEntropy(ctl: usize): void {
  const lg = argU(ctl, 0), labels = argU(ctl, 1), dl = argU(ctl, 2), part = argU(ctl, 3);
  const N = argI(ctl, 4), K = argI(ctl, 5), HW = argI(ctl, 6), ignore = argU(ctl, 7), gs = argF(ctl, 8);
  const per = (HW + CE_CHUNK - 1) / CE_CHUNK;
  const tiles = N * per;
  const plane = <usize>HW << 2;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / per, p0 = (t % per) * CE_CHUNK, p1 = min(HW, p0 + CE_CHUNK);
    const base = lg + <usize>n * K * plane, dbase = dl + <usize>n * K * plane;
    let lossSum: f64 = 0, valid: f64 = 0, bad: f64 = 0;
    for (let p = p0; p < p1; p++) {
      const l = <usize>load<u32>(labels + ((<usize>n * HW + p) << 2));
      const at = base + (<usize>p << 2);
      if (l >= <usize>K) {
        if (l != ignore) bad += 1;
        if (dl != 0) for (let k = 0; k < K; k++) store<f32>(dbase + (<usize>p << 2) + <usize>k * plane, 0);
        continue;
      }
      let m = load<f32>(at);
      for (let k = 1; k < K; k++) m = max(m, load<f32>(at + <usize>k * plane));
      let e: f32 = 0;
      for (let k = 0; k < K; k++) e += Mathf.exp(load<f32>(at + <usize>k * plane) - m);
      const lse = m + Mathf.log(e);
      lossSum += <f64>(lse - load<f32>(at + l * plane));
      valid += 1;
      if (dl != 0) {
        const d = dbase + (<usize>p << 2);
        for (let k = 0; k < K; k++) {
          const sm = Mathf.exp(load<f32>(at + <usize>k * plane) - lse) - (<usize>k == l ? <f32>1 : <f32>0);
          store<f32>(d + <usize>k * plane, sm * gs);
        }
      }
    }
    const o = part + (<usize>t * 24);
    store<f64>(o, lossSum);
    store<f64>(o, valid, 8);
    store<f64>(o, bad, 16);
  }
}

/** x *= s over n elements. args: x, n, s. */
export function scale(ctl: usize): void {
  const x = argU(ctl, 0), n = argU(ctl, 1), s = argF(ctl, 2);
  const tiles = chunks(n), sv = f32x4.splat(s);
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    let i = <usize>t * CHUNK;
    const end = min(n, i + CHUNK);
    for (; i + 4 <= end; i += 4) v128.store(x + (i << 2), f32x4.mul(v128.load(x + (i << 2)), sv));
    for (; i < end; i++) store<f32>(x + (i << 2), load<f32>(x + (i << 2)) * s);
  }
}

/**
 * out (N, 3, TH, TW) f32 = f32(v_c · scale_c) + bias_c of packed RGBA u32 frames (N, H, W)
 * (R in the low byte, alpha ignored); 0 where y ≥ H or x ≥ W.
 * args: rgba, out, N, H, W, TH, TW, scaleR, scaleG, scaleB, biasR, biasG, biasB. Tiles: (image, row).
 */
export function normalizeRgba(ctl: usize): void {
  const src = argU(ctl, 0), out = argU(ctl, 1), N = argI(ctl, 2), H = argI(ctl, 3), W = argI(ctl, 4);
  const TH = argI(ctl, 5), TW = argI(ctl, 6);
  const sR = argF(ctl, 7), sG = argF(ctl, 8), sB = argF(ctl, 9), bR = argF(ctl, 10), bG = argF(ctl, 11), bB = argF(ctl, 12);
  const plane = <usize>TH * TW << 2;
  const tiles = N * TH;
  for (let t = nextTile(ctl, 0); t < tiles; t = nextTile(ctl, 0)) {
    const n = t / TH, y = t % TH;
    const oR = out + <usize>n * 3 * plane + (<usize>y * TW << 2), oG = oR + plane, oB = oG + plane;
    if (y >= H) {
      memory.fill(oR, 0, <usize>TW << 2); memory.fill(oG, 0, <usize>TW << 2); memory.fill(oB, 0, <usize>TW << 2);
      continue;
    }
    const row = src + ((<usize>n * H + y) * W << 2);
    for (let x = 0; x < TW; x++) {
      const o = <usize>x << 2;
      if (x >= W) { store<f32>(oR + o, 0); store<f32>(oG + o, 0); store<f32>(oB + o, 0); continue; }
      const v = load<u32>(row + o);
      store<f32>(oR + o, <f32>(v & 255) * sR + bR);
      store<f32>(oG + o, <f32>((v >> 8) & 255) * sG + bG);
      store<f32>(oB + o, <f32>((v >> 16) & 255) * sB + bB);
    }
  }
}
