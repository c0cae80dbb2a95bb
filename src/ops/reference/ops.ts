// Plain float64 references of the non-convolution ops (NCHW, PyTorch semantics), written from
// the definitions: the oracle for the GPU kernels on random shapes (test/ops/registry.test.ts), each
// checked itself against PyTorch goldens and by finite differences.

type Arr = ArrayLike<number>;

export interface Nchw {
  N: number;
  C: number;
  H: number;
  W: number;
}

/** Training-mode batch norm: y, batch mean, invstd (biased var) and the unbiased variance per channel. */
export function batchNormTrainRef(x: Arr, w: Arr, b: Arr, s: Nchw, eps = 1e-5) {
  const { N, C, H, W } = s;
  const HW = H * W;
  const M = N * HW;
  const mean = new Float64Array(C);
  const invstd = new Float64Array(C);
  const varUnbiased = new Float64Array(C);
  const y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) sum += x[(n * C + c) * HW + i]!;
    const mu = sum / M;
    let q = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) q += (x[(n * C + c) * HW + i]! - mu) ** 2;
    mean[c] = mu;
    invstd[c] = 1 / Math.sqrt(q / M + eps);
    varUnbiased[c] = q / (M - 1);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        y[j] = (x[j]! - mu) * invstd[c]! * w[c]! + b[c]!;
      }
    }
  }
  return { y, mean, invstd, varUnbiased };
}

/** Eval-mode batch norm with running statistics. */
export function batchNormEvalRef(x: Arr, w: Arr, b: Arr, rm: Arr, rv: Arr, s: Nchw, eps = 1e-5): Float64Array {
  const HW = s.H * s.W;
  const y = new Float64Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const c = Math.floor(j / HW) % s.C;
    y[j] = ((x[j]! - rm[c]!) / Math.sqrt(rv[c]! + eps)) * w[c]! + b[c]!;
  }
  return y;
}

/** Training-mode batch norm gradients of L = Σ y·dy. */
export function batchNormBackwardRef(dy: Arr, x: Arr, w: Arr, s: Nchw, eps = 1e-5) {
  const { N, C, H, W } = s;
  const HW = H * W;
  const M = N * HW;
  const { mean, invstd } = batchNormTrainRef(x, w, new Float64Array(C), s, eps);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sdy = 0;
    let sdyx = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        sdy += dy[j]!;
        sdyx += dy[j]! * (x[j]! - mean[c]!) * invstd[c]!;
      }
    }
    db[c] = sdy;
    dw[c] = sdyx;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        const xhat = (x[j]! - mean[c]!) * invstd[c]!;
        dx[j] = w[c]! * invstd[c]! * (dy[j]! - sdy / M - (xhat * sdyx) / M);
      }
    }
  }
  return { dx, dw, db };
}

export interface PoolGeom extends Nchw {
  k: number;
  stride: number;
  pad: number;
}

export function poolOut(p: PoolGeom): [number, number] {
  return [Math.floor((p.H + 2 * p.pad - p.k) / p.stride) + 1, Math.floor((p.W + 2 * p.pad - p.k) / p.stride) + 1];
}

/** max_pool2d with indices (iy·W + ix), −inf padding, first maximum wins. */
export function maxPoolRef(x: Arr, p: PoolGeom) {
  const [OH, OW] = poolOut(p);
  const y = new Float64Array(p.N * p.C * OH * OW);
  const indices = new Uint32Array(y.length);
  for (let pl = 0; pl < p.N * p.C; pl++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let best = -Infinity;
        let arg = -1;
        for (let ky = 0; ky < p.k; ky++) {
          for (let kx = 0; kx < p.k; kx++) {
            const iy = oy * p.stride - p.pad + ky;
            const ix = ox * p.stride - p.pad + kx;
            if (iy < 0 || ix < 0 || iy >= p.H || ix >= p.W) continue;
            const v = x[pl * p.H * p.W + iy * p.W + ix]!;
            if (arg < 0 || v > best) {
              best = v;
              arg = iy * p.W + ix;
            }
          }
        }
        const o = (pl * OH + oy) * OW + ox;
        y[o] = best;
        indices[o] = arg;
      }
    }
  }
  return { y, indices };
}

/** Scatter of dy into dx through the saved indices. */
export function maxPoolBackwardRef(dy: Arr, indices: Arr, p: PoolGeom): Float64Array {
  const [OH, OW] = poolOut(p);
  const dx = new Float64Array(p.N * p.C * p.H * p.W);
  for (let pl = 0; pl < p.N * p.C; pl++) {
    for (let o = 0; o < OH * OW; o++) dx[pl * p.H * p.W + indices[pl * OH * OW + o]!] += dy[pl * OH * OW + o]!;
  }
  return dx;
}

export interface CeGeom {
  N: number;
  K: number;
  H: number;
  W: number;
}

/**
 * Cross-entropy with ignore label: per-image loss = Σ pixel losses / (H·W), the mean over valid
 * pixels, and the gradients of Σ losses ('sum') and of the mean ('mean'). Labels >= K are ignored.
 */
export function crossEntropyRef(logits: Arr, labels: Arr, g: CeGeom) {
  const { N, K, H, W } = g;
  const HW = H * W;
  const losses = new Float64Array(N);
  const dSum = new Float64Array(logits.length);
  const soft = new Float64Array(logits.length);
  let total = 0;
  let valid = 0;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < HW; s++) {
      const l = labels[n * HW + s]!;
      if (l >= K) continue;
      const at = (k: number) => (n * K + k) * HW + s;
      let m = -Infinity;
      for (let k = 0; k < K; k++) m = Math.max(m, logits[at(k)]!);
      let e = 0;
      for (let k = 0; k < K; k++) e += Math.exp(logits[at(k)]! - m);
      const lse = m + Math.log(e);
      const loss = lse - logits[at(l)]!;
      losses[n] += loss / HW;
      total += loss;
      valid++;
      for (let k = 0; k < K; k++) soft[at(k)] = Math.exp(logits[at(k)]! - lse) - (k === l ? 1 : 0);
    }
  }
  const dMean = new Float64Array(logits.length);
  for (let i = 0; i < soft.length; i++) {
    dSum[i] = soft[i]! / HW;
    dMean[i] = valid ? soft[i]! / valid : 0;
  }
  return { losses, meanLoss: total / valid, valid, dSum, dMean, sumLoss: losses.reduce((a, b) => a + b, 0) };
}

/** argmax over channels, ties to the lowest index, the first NaN wins (torch.argmax on CPU). */
export function argmaxRef(logits: Arr, g: CeGeom): Uint32Array {
  const HW = g.H * g.W;
  const out = new Uint32Array(g.N * HW);
  for (let n = 0; n < g.N; n++) {
    for (let s = 0; s < HW; s++) {
      let best = logits[n * g.K * HW + s]!;
      let arg = 0;
      for (let k = 1; k < g.K; k++) {
        const v = logits[(n * g.K + k) * HW + s]!;
        if (best === best && !(v <= best)) {
          best = v;
          arg = k;
        }
      }
      out[n * HW + s] = arg;
    }
  }
  return out;
}

/** Host bincount: conf[label·K + pred] for labels < K. */
export function confusionRef(pred: Arr, labels: Arr, K: number): Uint32Array {
  const conf = new Uint32Array(K * K);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    const p = pred[i]!;
    if (l < K && p < K) conf[l * K + p]++;
  }
  return conf;
}

export interface SgdConfig {
  lr: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
}

/** One torch.optim.SGD step in float64, updating params and buf in place. */
export function sgdRef(params: Float64Array, grads: Arr, buf: Float64Array, c: SgdConfig): void {
  for (let i = 0; i < params.length; i++) {
    let d = grads[i]! + c.weightDecay * params[i]!;
    if (c.momentum !== 0) {
      buf[i] = c.momentum * buf[i]! + d;
      d = c.nesterov ? d + c.momentum * buf[i]! : buf[i]!;
    }
    params[i] = params[i]! - c.lr * d;
  }
}

/** relu and its gradient from the output: y = max(x, 0), dx = dy·[y > 0]. */
export function reluRef(x: Arr): Float64Array {
  return Float64Array.from(x, (v) => Math.max(v, 0));
}

export function reluBackwardRef(dy: Arr, y: Arr): Float64Array {
  return Float64Array.from(dy, (v, i) => (y[i]! > 0 ? v : 0));
}

/** out = a + b. */
export function addRef(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]!);
}

/**
 * Normalised RGBA frames: rgba (N, H, W) packed u32 (R in the low byte) → (N, 3, TH, TW) with
 * (v/255 − mean)/std in the top-left H × W and 0 in the padding.
 */
export function normalizeRgbaRef(
  rgba: Arr, g: { N: number; H: number; W: number; TH: number; TW: number }, mean: readonly number[], std: readonly number[],
): Float64Array {
  const { N, H, W, TH, TW } = g;
  const out = new Float64Array(N * 3 * TH * TW);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const p = rgba[(n * H + y) * W + x]!;
        for (let c = 0; c < 3; c++) out[((n * 3 + c) * TH + y) * TW + x] = (((p >>> (8 * c)) & 0xff) / 255 - mean[c]!) / std[c]!;
      }
  return out;
}

/** argmax ids (as argmaxRef) of the top-left H × W of logits (N, K, TH, TW), four u8 per u32 (little-endian), zero-padded. */
export function argmaxPackedRef(logits: Arr, g: { N: number; K: number; H: number; W: number; TH: number; TW: number }): Uint32Array {
  const { N, K, H, W, TH, TW } = g;
  const bytes = new Uint8Array(Math.ceil((N * H * W) / 4) * 4);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let best = logits[(n * K * TH + y) * TW + x]!, arg = 0;
        for (let k = 1; k < K; k++) {
          const v = logits[((n * K + k) * TH + y) * TW + x]!;
          if (best === best && !(v <= best)) {
            best = v;
            arg = k;
          }
        }
        bytes[(n * H + y) * W + x] = arg;
      }
  return new Uint32Array(bytes.buffer);
}
