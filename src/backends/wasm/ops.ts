// Host side of the non-convolution kernels (assembly/kernels/ops.ts): shape checks, then one
// pool run each. Tensors are byte offsets in the runtime's memory; shapes are NCHW.
import type { WasmRuntime } from './runtime.js';

export interface Nchw { N: number; C: number; H: number; W: number }
export interface PoolParams extends Nchw { k: number; stride: number; pad: number }
export interface SgdOptions { lr: number; weightDecay: number; momentum: number; nesterov: boolean }

/** PyTorch's BatchNorm2d defaults. */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: element count must be a non-negative integer, got ${n}`);
}

function checkNchw(what: string, s: Nchw): void {
  for (const k of ['N', 'C', 'H', 'W'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${what}: ${k} must be a positive integer, got ${s[k]}`);
  }
}

/** y = max(x, 0) over n elements (y may alias x). */
export function reluForward(rt: WasmRuntime, y: number, x: number, n: number): void {
  checkCount('relu.forward', n);
  rt.run('reluForward', [x, y, n]);
}

/** dx = dy · [y > 0], y being relu's output (dx may alias dy). */
export function reluBackward(rt: WasmRuntime, dx: number, dy: number, y: number, n: number): void {
  checkCount('relu.backward', n);
  rt.run('reluBackward', [y, dy, dx, n]);
}

/** out = a + b over n elements (out may alias a or b; addInto is add(acc, acc, a)). */
export function add(rt: WasmRuntime, out: number, a: number, b: number, n: number): void {
  checkCount('add', n);
  rt.run('add', [a, b, out, n]);
}

export function poolOutSize(p: PoolParams): { OH: number; OW: number } {
  return { OH: Math.floor((p.H + 2 * p.pad - p.k) / p.stride) + 1, OW: Math.floor((p.W + 2 * p.pad - p.k) / p.stride) + 1 };
}

function checkPool(p: PoolParams): { OH: number; OW: number } {
  checkNchw('max_pool2d', p);
  if (!(p.k >= 1 && p.stride >= 1 && p.pad >= 0 && 2 * p.pad <= p.k)) {
    throw new Error(`max_pool2d: need k ≥ 1, stride ≥ 1 and 0 ≤ pad ≤ k/2 (PyTorch's rule), got k ${p.k}, stride ${p.stride}, pad ${p.pad}`);
  }
  const o = poolOutSize(p);
  if (o.OH < 1 || o.OW < 1) throw new Error(`max_pool2d: window ${p.k} does not fit the padded input ${p.H}×${p.W}`);
  return o;
}

/** y (N,C,OH,OW) and indices (u32, iy·W + ix within the plane) = max_pool2d(x (N,C,H,W)). */
export function maxPoolForward(rt: WasmRuntime, y: number, indices: number, x: number, p: PoolParams): void {
  const { OH, OW } = checkPool(p);
  rt.run('maxPoolForward', [x, y, indices, p.N * p.C, p.H, p.W, p.k, p.stride, p.pad, OH, OW]);
}

/** dx (N,C,H,W) = scatter of dy through the indices; overwrites dx. */
export function maxPoolBackward(rt: WasmRuntime, dx: number, dy: number, indices: number, p: PoolParams): void {
  const { OH, OW } = checkPool(p);
  rt.run('maxPoolBackward', [dy, indices, dx, p.N * p.C, p.H * p.W, OH * OW]);
}

export interface BatchNormState {
  weight: number; bias: number; runningMean: number; runningVar: number;
  /** Saved by the training forward for the backward: per-channel mean and 1/√(var + eps). */
  saveMean: number; saveInvstd: number;
}

/** Training batch norm: y, saved statistics, running statistics updated with `momentum`. */
export function batchNormTrain(rt: WasmRuntime, y: number, x: number, st: BatchNormState, s: Nchw, eps = BN_EPS, momentum = BN_MOMENTUM): void {
  checkNchw('batch_norm', s);
  rt.run('batchNormTrain', [x, y, st.weight, st.bias, st.runningMean, st.runningVar, st.saveMean, st.saveInvstd, s.N, s.C, s.H * s.W, eps, momentum]);
}

/** Eval batch norm with the running statistics. */
export function batchNormEval(rt: WasmRuntime, y: number, x: number, st: Pick<BatchNormState, 'weight' | 'bias' | 'runningMean' | 'runningVar'>, s: Nchw, eps = BN_EPS): void {
  checkNchw('batch_norm', s);
  rt.run('batchNormEval', [x, y, st.weight, st.bias, st.runningMean, st.runningVar, s.N, s.C, s.H * s.W, eps]);
}

/** Training batch norm backward: dx overwritten, dweight and dbias accumulated. */
export function batchNormBackward(
  rt: WasmRuntime, dx: number, dweight: number, dbias: number, dy: number, x: number, st: Pick<BatchNormState, 'weight' | 'saveMean' | 'saveInvstd'>, s: Nchw,
): void {
  checkNchw('batch_norm', s);
  rt.run('batchNormBackward', [x, dy, dx, st.weight, st.saveMean, st.saveInvstd, dweight, dbias, s.N, s.C, s.H * s.W]);
}

/** Argmax geometry: logits (N, K, TH, TW), ids of the top-left H × W (TH = H, TW = W when absent). */
export interface ArgmaxGeom { N: number; K: number; H: number; W: number; TH?: number; TW?: number }

function argmaxArgs(what: string, g: ArgmaxGeom): number[] {
  const TH = g.TH ?? g.H, TW = g.TW ?? g.W;
  checkNchw(what, { N: g.N, C: g.K, H: g.H, W: g.W });
  if (!(Number.isInteger(TH) && Number.isInteger(TW) && TH >= g.H && TW >= g.W)) {
    throw new Error(`${what}: the logits' plane ${TH}×${TW} must hold the ${g.H}×${g.W} map`);
  }
  return [g.N, g.K, g.H, g.W, TH, TW];
}

/** out (N,H,W) u32 = argmax over K of logits (N,K,TH,TW), ties to the lowest class, the first NaN wins (torch.argmax). */
export function argmax(rt: WasmRuntime, out: number, logits: number, g: ArgmaxGeom): void {
  rt.run('argmax', [logits, out, ...argmaxArgs('argmax', g), 0]);
}

/**
 * As argmax, one byte per id: four ids per u32 word, lowest byte first, the last word's unused
 * bytes zero (the WebGPU backend's packed argmax layout). ceil(N·H·W / 4) words at out; K ≤ 256.
 */
export function argmaxU8(rt: WasmRuntime, out: number, logits: number, g: ArgmaxGeom): void {
  const a = argmaxArgs('argmax (u8 ids)', g);
  if (g.K > 256) throw new Error(`argmax (u8 ids): K = ${g.K} classes do not fit a byte (at most 256); use the u32 argmax`);
  rt.run('argmax', [logits, out, ...a, 1]);
}

/** conf (K·K u32) += bincount(label·K + pred) over n pixels, labels ≥ K (255) ignored. */
export function confusion(rt: WasmRuntime, conf: number, pred: number, labels: number, n: number, K: number): void {
  checkCount('confusion', n);
  if (!(K >= 1 && K * K < 2 ** 28)) throw new Error(`confusion: K must be in 1..16383, got ${K}`);
  rt.run('confusion', [pred, labels, n, K, conf]);
}

/** One torch.optim.SGD step (dampening 0) over n parameters; `buf` is the momentum buffer (0 when momentum is 0). */
export function sgdStep(rt: WasmRuntime, params: number, grads: number, buf: number, n: number, o: SgdOptions): void {
  checkCount('sgd', n);
  if (o.momentum !== 0 && !buf) throw new Error('sgd: momentum needs a momentum buffer');
  if (o.nesterov && o.momentum <= 0) throw new Error('sgd: Nesterov momentum requires a momentum > 0 (as torch.optim.SGD)');
  rt.run('sgd', [params, grads, o.momentum !== 0 ? buf : 0, n, o.lr, o.weightDecay, o.momentum, o.nesterov ? 1 : 0]);
}

/** Pixels per cross-entropy tile (CE_CHUNK in assembly/kernels/ops.ts). */
const CE_CHUNK = 4096;

export interface CrossEntropyParams {
  N: number; K: number; H: number; W: number;
  /** 'sum': gradient of Σ_n losses(n) (the chapter's loss.sum()); 'mean': of the mean over valid pixels. */
  reduction: 'sum' | 'mean';
  ignoreIndex?: number;
  /** For 'mean' over a batch split into this many equal micro-batches whose gradients are summed. */
  microBatches?: number;
}

export interface CrossEntropyStats {
  /** Mean loss over valid pixels (NaN when none is valid, as PyTorch). */
  meanLoss: number;
  validPixels: number;
  /** Labels ≥ K other than the ignore label (treated as ignored; the caller should raise). */
  badLabels: number;
  /** Σ_n losses(n). */
  sumLoss: number;
}

/** Scratch bytes crossEntropy needs for its per-tile partial sums. */
export function crossEntropyScratchBytes(p: Pick<CrossEntropyParams, 'N' | 'H' | 'W'>): number {
  return p.N * Math.ceil((p.H * p.W) / CE_CHUNK) * 24;
}

/**
 * Softmax cross-entropy over logits (N, K, H, W) with u32 labels (N, H, W): per-image losses
 * (N) = Σ pixel losses / (H·W) with ignored pixels contributing 0 (the chapter's
 * reduction='none' then mean over pixels), and, when `dlogits` is not 0, the gradient of the
 * chosen reduction (overwritten). Returns the batch statistics.
 */
export function crossEntropy(
  rt: WasmRuntime, losses: number, dlogits: number, logits: number, labels: number, p: CrossEntropyParams, scratch: number,
): CrossEntropyStats {
  checkNchw('cross_entropy', { N: p.N, C: p.K, H: p.H, W: p.W });
  const HW = p.H * p.W, per = Math.ceil(HW / CE_CHUNK);
  const micro = p.microBatches ?? 1;
  if (!(Number.isInteger(micro) && micro >= 1)) throw new Error(`cross_entropy: microBatches must be a positive integer, got ${micro}`);
  rt.run('crossEntropy', [logits, labels, dlogits, scratch, p.N, p.K, HW, p.ignoreIndex ?? 255, p.reduction === 'sum' ? 1 / HW : 1]);
  const part = new Float64Array(rt.memory.buffer, scratch, p.N * per * 3);
  const out = rt.f32(losses, p.N);
  let total = 0, valid = 0, bad = 0, sumLoss = 0;
  for (let n = 0; n < p.N; n++) {
    let s = 0;
    for (let t = n * per; t < (n + 1) * per; t++) {
      s += part[3 * t]!;
      valid += part[3 * t + 1]!;
      bad += part[3 * t + 2]!;
    }
    total += s;
    out[n] = s / HW;
    sumLoss += out[n]!;
  }
  if (dlogits && p.reduction === 'mean') rt.run('scale', [dlogits, p.N * p.K * HW, valid ? 1 / (valid * micro) : 0]);
  return { meanLoss: valid ? total / valid : NaN, validPixels: valid, badLabels: bad, sumLoss };
}

/**
 * out (N, 3, TH, TW) f32 = f32(v_c · scale_c) + bias_c of packed RGBA u32 frames (N, H, W), R in
 * the low byte, alpha ignored, 0 in the padding (y ≥ H or x ≥ W). scale/bias: per-channel folded
 * ImageNet statistics (src/io/normalisation.ts foldNormalisation).
 */
export function normalizeRgba(
  rt: WasmRuntime, out: number, rgba: number, g: { N: number; H: number; W: number; TH: number; TW: number }, scale: readonly number[], bias: readonly number[],
): void {
  checkNchw('normalize_rgba', { N: g.N, C: 3, H: g.H, W: g.W });
  if (g.TH < g.H || g.TW < g.W) throw new Error(`normalize_rgba: the output ${g.TH}×${g.TW} is smaller than the frame ${g.H}×${g.W}`);
  if (scale.length !== 3 || bias.length !== 3) throw new Error('normalize_rgba: scale and bias need 3 values each');
  rt.run('normalizeRgba', [rgba, out, g.N, g.H, g.W, g.TH, g.TW, ...scale, ...bias]);
}
