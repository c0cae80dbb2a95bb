// Inference on the WebAssembly backend: eval-mode passes over planned batches (../predict.ts and
// ../evaluate.ts dispatch here for a WasmFcnModel), the crop evaluator's confusion matrix, and the
// RGBA frame pipeline (normalise → network → argmax) in the runtime's memory.
import { fill } from '../../backends/wasm/gemm.js';
import * as ops from '../../backends/wasm/ops.js';
import { GpuError } from '../../gpu/device.js';
import { foldNormalisation, IMAGENET, type Normalisation } from '../../io/normalisation.js';
import { segMetrics, type SegMetrics } from '../metrics.js';
import type { WasmGraphPlan } from './graph.js';
import type { WasmFcnModel } from './model.js';

/** Per plan: regions for class ids (and labels, RGBA frames), reserved once above the plan. */
const extras = new WeakMap<WasmGraphPlan, Map<string, number>>();

function region(model: WasmFcnModel, plan: WasmGraphPlan, key: string, bytes: number): number {
  let m = extras.get(plan);
  if (!m) extras.set(plan, (m = new Map()));
  let p = m.get(key);
  if (p === undefined) m.set(key, (p = model.reserve([{ label: `${key} (${plan.N}x${plan.H}x${plan.W})`, bytes }])[0]!));
  return p;
}

function runEval(model: WasmFcnModel, images: Float32Array, N: number, H: number, W: number): WasmGraphPlan {
  if (images.length !== N * 3 * H * W) throw new GpuError(`images have ${images.length} values, expected ${N}x3x${H}x${W}`, 'predict');
  const plan = model.plan(N, H, W, 'eval');
  model.rt.write(plan.images.ptr, images);
  for (const s of plan.forward) s.run();
  return plan;
}

/** Class scores (N, K, H, W) of normalised images (N, 3, H, W), H and W multiples of 32. */
export function wasmEvalLogits(model: WasmFcnModel, images: Float32Array, N: number, H: number, W: number): Float32Array {
  const plan = runEval(model, images, N, H, W);
  return model.rt.read(plan.logits.ptr, N * model.config.classes * H * W);
}

/** The u8 ids ceil(N·H·W / 4) words at `at` as a (N·H·W) byte array (a copy). */
function idBytes(model: WasmFcnModel, at: number, n: number): Uint8Array {
  return new Uint8Array(model.rt.memory.buffer, at, n).slice();
}

/**
 * Class ids (N, H, W) u8 of normalised images (N, 3, TH, TW), TH and TW multiples of 32, cropped
 * to the top-left H × W (default all of it): argmax into bytes in wasm (ties to the lowest class).
 */
export function wasmEvalClasses(model: WasmFcnModel, images: Float32Array, N: number, TH: number, TW: number, H = TH, W = TW): Uint8Array {
  const plan = runEval(model, images, N, TH, TW);
  const pred = region(model, plan, 'predict.ids', Math.ceil((N * TH * TW) / 4) * 4);
  ops.argmaxU8(model.rt, pred, plan.logits.ptr, { N, K: model.config.classes, H, W, TH, TW });
  return idBytes(model, pred, N * H * W);
}

/**
 * Class maps (N, H, W) u8 for N RGBA frames (N, H, W, 4) u8 of one size: normalised in wasm with
 * `norm`, the network on a plan padded to multiples of 32 (padding = the dataset mean), argmax of
 * the H × W corner straight into bytes (as the WebGPU frame pipeline's packed ids).
 * Also returns the plan's logits offset for callers that want confidences.
 */
export function wasmEvalFrames(
  model: WasmFcnModel, frames: Uint8Array, N: number, H: number, W: number, norm: Normalisation = IMAGENET,
): { classes: Uint8Array; logits: () => Float32Array; TH: number; TW: number } {
  const TH = Math.ceil(H / 32) * 32, TW = Math.ceil(W / 32) * 32;
  const plan = model.plan(N, TH, TW, 'eval');
  const { rt } = model;
  const rgba = region(model, plan, `frames.rgba ${H}x${W}`, N * H * W * 4);
  new Uint8Array(rt.memory.buffer, rgba, frames.length).set(frames);
  const { scale, bias } = foldNormalisation(norm.mean, norm.std);
  ops.normalizeRgba(rt, plan.images.ptr, rgba, { N, H, W, TH, TW }, scale, bias);
  for (const s of plan.forward) s.run();
  const pred = region(model, plan, 'predict.ids', Math.ceil((N * TH * TW) / 4) * 4);
  ops.argmaxU8(rt, pred, plan.logits.ptr, { N, K: model.config.classes, H, W, TH, TW });
  return { classes: idBytes(model, pred, N * H * W), logits: () => rt.read(plan.logits.ptr, N * model.config.classes * TH * TW), TH, TW };
}

/** Evaluates batches of (B, 3, H, W) crops on wasm into one confusion matrix (as CropEvaluator). */
export class WasmCropEvaluator {
  private readonly conf: Uint32Array;
  images = 0;

  constructor(readonly model: WasmFcnModel) {
    this.conf = new Uint32Array(model.config.classes ** 2);
  }

  async add(images: Float32Array, labels: Uint32Array, B: number, H: number, W: number): Promise<void> {
    const { model } = this;
    const K = model.config.classes;
    if (labels.length !== B * H * W) throw new GpuError(`labels have ${labels.length} values, expected ${B}x${H}x${W}`, 'evaluate');
    const plan = runEval(model, images, B, H, W);
    const { rt } = model;
    const pred = region(model, plan, 'predict.classes', B * H * W * 4);
    const lbl = region(model, plan, 'eval.labels', B * H * W * 4);
    const conf = region(model, plan, 'eval.confusion', K * K * 4);
    new Uint32Array(rt.memory.buffer, lbl, B * H * W).set(labels);
    ops.argmax(rt, pred, plan.logits.ptr, { N: B, K, H, W });
    fill(rt, conf, K * K);
    ops.confusion(rt, conf, pred, lbl, B * H * W, K);
    const c = new Uint32Array(rt.memory.buffer, conf, K * K);
    for (let i = 0; i < c.length; i++) this.conf[i]! += c[i]!;
    this.images += B;
  }

  async result(): Promise<SegMetrics & { images: number; pixels: number; confusion: number[] }> {
    const K = this.model.config.classes;
    const m = segMetrics(this.conf, K);
    const pixels = this.conf.reduce((a, b) => a + b, 0);
    return { ...m, images: this.images, pixels, confusion: Array.from(this.conf) };
  }

  dispose(): void {}
}
