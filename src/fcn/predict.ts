// Prediction on whole images of any size (the chapter's exercise 3): overlapping tiles whose
// sides are multiples of 32 cover the image (padded when smaller than a tile), each tile runs the
// eval-mode network, logits are averaged where tiles overlap, then argmax per pixel.
import { disposeDispatch, submit, type Dispatch } from '../gpu/kernel.js';
import { GpuError } from '../gpu/device.js';
import { readBytes, Tensor } from '../gpu/tensor.js';
import { argmax } from '../gpu/ops/argmax.js';
import { argmaxPacked, normalizeRgba } from '../gpu/ops/image.js';
import { IMAGENET, type Normalisation } from '../io/normalisation.js';
import type { GraphPlan } from './graph.js';
import { OUTPUT_STRIDE } from './spec.js';
import type { FcnModel } from './model.js';
import type { Model } from './backend.js';
import { wasmEvalClasses, wasmEvalFrames, wasmEvalLogits } from './wasm/infer.js';

export interface TileOptions {
  /** Largest tile (H, W); sides are rounded to multiples of 32. Default 320 x 480, the chapter's crop. */
  tile?: [number, number];
  /** Minimum overlap between neighbouring tiles in pixels. Default 64. */
  overlap?: number;
  /** Asked before each tile; true stops the prediction with a PredictionCancelled error. */
  shouldStop?: () => boolean;
  /** After each tile: tiles done, tiles in all. */
  onTile?: (done: number, total: number) => void;
}

/** A prediction (or evaluation) stopped between tiles or images because its caller cancelled it. */
export class PredictionCancelled extends Error {
  constructor(readonly done: number, readonly total: number | undefined, what = 'tiles') {
    super(`prediction cancelled after ${done}${total === undefined ? '' : ` of ${total}`} ${what}`);
    this.name = 'PredictionCancelled';
  }
}

/**
 * Throws PredictionCancelled when opts.shouldStop says so. The wasm backend computes a tile
 * synchronously, so first the event loop runs once: a cancel message waiting there gets in.
 */
async function checkStop(model: Model, opts: TileOptions, done: number, total: number): Promise<void> {
  if (!opts.shouldStop) return;
  if (model.backend === 'wasm') await new Promise((resolve) => setTimeout(resolve, 0));
  if (opts.shouldStop()) throw new PredictionCancelled(done, total);
}

/** Tile start offsets along one axis of length `len` for tiles of `tile` pixels. */
export function tileStarts(len: number, tile: number, overlap: number): number[] {
  if (len <= tile) return [0];
  const stride = Math.max(1, tile - overlap);
  const n = Math.ceil((len - tile) / stride) + 1;
  const starts: number[] = [];
  for (let i = 0; i < n; i++) starts.push(Math.round((i * (len - tile)) / (n - 1)));
  return starts;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * Class scores (K, H, W) for one normalised image (3, H, W), averaged over overlapping tiles.
 */
export async function predictLogits(model: Model, image: Float32Array, H: number, W: number, opts: TileOptions = {}): Promise<Float32Array> {
  if (image.length !== 3 * H * W) throw new GpuError(`image has ${image.length} values, expected 3x${H}x${W}`, 'predict');
  const K = model.config.classes;
  const [maxTh, maxTw] = opts.tile ?? [320, 480];
  const th = Math.min(roundUp(maxTh, OUTPUT_STRIDE), roundUp(H, OUTPUT_STRIDE));
  const tw = Math.min(roundUp(maxTw, OUTPUT_STRIDE), roundUp(W, OUTPUT_STRIDE));
  const overlap = opts.overlap ?? 64;
  const plan = model.backend === 'wasm' ? null : await model.plan(1, th, tw, 'eval');
  const sum = new Float32Array(K * H * W);
  const count = new Uint16Array(H * W);
  const tileData = new Float32Array(3 * th * tw);
  const ys = tileStarts(H, th, overlap);
  const xs = tileStarts(W, tw, overlap);
  const total = ys.length * xs.length;
  let done = 0;
  for (const y0 of ys) {
    for (const x0 of xs) {
      await checkStop(model, opts, done, total);
      // Pixels outside the image (small images) stay 0: the dataset mean after normalisation.
      tileData.fill(0);
      const hh = Math.min(th, H - y0);
      const ww = Math.min(tw, W - x0);
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < hh; y++) {
          const src = (c * H + y0 + y) * W + x0;
          tileData.set(image.subarray(src, src + ww), (c * th + y) * tw);
        }
      }
      let logits: Float32Array;
      if (model.backend === 'wasm') logits = wasmEvalLogits(model, tileData, 1, th, tw);
      else {
        plan!.images.write(tileData);
        submit(model.gpu, plan!.forward, 'predict.tile');
        logits = await plan!.logits.read();
      }
      for (let k = 0; k < K; k++) {
        for (let y = 0; y < hh; y++) {
          const dst = (k * H + y0 + y) * W + x0;
          const src = (k * th + y) * tw;
          for (let x = 0; x < ww; x++) sum[dst + x]! += logits[src + x]!;
        }
      }
      for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) count[(y0 + y) * W + x0 + x]!++;
      opts.onTile?.(++done, total);
    }
  }
  for (let k = 0; k < K; k++) for (let i = 0; i < H * W; i++) sum[k * H * W + i]! /= count[i]!;
  return sum;
}

/** Per-pixel argmax over K (ties -> lowest class id, as torch.argmax). */
export function argmaxClasses(logits: Float32Array, K: number, H: number, W: number): Uint8Array {
  const out = new Uint8Array(H * W);
  const plane = H * W;
  for (let i = 0; i < plane; i++) {
    let best = logits[i]!;
    let arg = 0;
    for (let k = 1; k < K; k++) {
      const v = logits[k * plane + i]!;
      if (v > best) {
        best = v;
        arg = k;
      }
    }
    out[i] = arg;
  }
  return out;
}

/** Per eval plan: an argmax dispatch and its (1, H, W) u32 output, made once. */
const argmaxOf = new WeakMap<GraphPlan, Promise<{ out: Tensor; dispatch: Dispatch }>>();

function planArgmax(model: FcnModel, plan: GraphPlan): Promise<{ out: Tensor; dispatch: Dispatch }> {
  let made = argmaxOf.get(plan);
  if (!made) {
    made = (async () => {
      const [, , th, tw] = plan.logits.shape as [number, number, number, number];
      const out = Tensor.zeros(model.gpu, [1, th, tw], 'predict.classes', 'u32');
      const dispatch = await argmax(model.gpu, out, plan.logits, 'predict');
      plan.adopt(out);
      plan.adopt({ dispose: () => disposeDispatch(model.gpu, dispatch) });
      return { out, dispatch };
    })();
    argmaxOf.set(plan, made);
  }
  return made;
}

/**
 * Class map (H, W) for one normalised image (3, H, W) of any size. When one tile covers the
 * image, argmax runs on the GPU and only the class ids come back (not K·H·W logits).
 */
export async function predictClasses(model: Model, image: Float32Array, H: number, W: number, opts: TileOptions = {}): Promise<Uint8Array> {
  const [maxTh, maxTw] = opts.tile ?? [320, 480];
  const th = Math.min(roundUp(maxTh, OUTPUT_STRIDE), roundUp(H, OUTPUT_STRIDE));
  const tw = Math.min(roundUp(maxTw, OUTPUT_STRIDE), roundUp(W, OUTPUT_STRIDE));
  if (th < H || tw < W) return argmaxClasses(await predictLogits(model, image, H, W, opts), model.config.classes, H, W);
  if (image.length !== 3 * H * W) throw new GpuError(`image has ${image.length} values, expected 3x${H}x${W}`, 'predict');
  await checkStop(model, opts, 0, 1);
  const tile = new Float32Array(3 * th * tw); // zero padding: the dataset mean after normalisation
  for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) tile.set(image.subarray((c * H + y) * W, (c * H + y + 1) * W), (c * th + y) * tw);
  if (model.backend === 'wasm') {
    const classes = wasmEvalClasses(model, tile, 1, th, tw, H, W);
    opts.onTile?.(1, 1);
    return classes;
  }
  const plan = await model.plan(1, th, tw, 'eval');
  const { out, dispatch } = await planArgmax(model, plan);
  plan.images.write(tile);
  submit(model.gpu, [...plan.forward, dispatch], 'predict.tile');
  const ids = await out.readU32();
  const classes = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) classes[y * W + x] = ids[y * tw + x]!;
  opts.onTile?.(1, 1);
  return classes;
}

/** Per eval plan and frame size: the RGBA input, the packed class ids and their dispatches, made once. */
const framesOf = new WeakMap<GraphPlan, Map<string, Promise<FramePlan>>>();

export interface FramePlan {
  /** (N, H, W) u32: one packed RGBA pixel per u32, R in the low byte. */
  rgba: Tensor;
  /** (ceil(N·H·W/4)) u32: four u8 class ids per u32. */
  ids: Tensor;
  /** normalise → network → argmax, in order. */
  dispatches: Dispatch[];
}

/** Plans (once per plan and size) the GPU-side frame pipeline for N RGBA frames of H × W on `plan`. */
export function planFrames(model: FcnModel, plan: GraphPlan, H: number, W: number, norm: Normalisation = IMAGENET): Promise<FramePlan> {
  let byKey = framesOf.get(plan);
  if (!byKey) framesOf.set(plan, (byKey = new Map()));
  const key = `${H}x${W}:${norm.mean.join(',')}:${norm.std.join(',')}`;
  let made = byKey.get(key);
  if (!made) {
    made = (async () => {
      const N = plan.images.shape[0]!;
      const rgba = Tensor.zeros(model.gpu, [N, H, W], 'predict.frames.rgba', 'u32');
      const ids = Tensor.zeros(model.gpu, [Math.ceil((N * H * W) / 4)], 'predict.frames.ids', 'u32');
      plan.adopt(rgba);
      plan.adopt(ids);
      const norm_ = await normalizeRgba(model.gpu, plan.images, rgba, H, W, norm.mean, norm.std, 'predict.frames');
      const am = await argmaxPacked(model.gpu, ids, plan.logits, H, W, 'predict.frames');
      plan.adopt({ dispose: () => [norm_, am].forEach((d) => disposeDispatch(model.gpu, d)) });
      return { rgba, ids, dispatches: [norm_, ...plan.forward, am] };
    })();
    byKey.set(key, made);
  }
  return made;
}

/**
 * Class maps (N, H, W) u8 for N RGBA frames (N, H, W, 4) u8 of one size, such as canvas or video
 * frames: the whole pass stays on the GPU — 4 bytes per pixel up, normalised there with `norm`
 * (the checkpoint's statistics), the eval-mode network on a plan padded to multiples of 32 (the
 * padding is the dataset mean, as in predictClasses), argmax there, 1 byte per pixel back. No
 * tiling: the frames are one batch of one plan. Needs at most 256 classes.
 */
export async function predictFrames(
  model: Model, frames: Uint8Array, N: number, H: number, W: number, norm: Normalisation = IMAGENET,
): Promise<Uint8Array> {
  if (![N, H, W].every((v) => Number.isInteger(v) && v >= 1)) throw new GpuError(`bad frame batch ${N}x${H}x${W}`, 'predict.frames');
  if (frames.length !== N * H * W * 4) {
    throw new GpuError(`frames have ${frames.length} bytes, expected ${N}x${H}x${W}x4 (RGBA)`, 'predict.frames');
  }
  if (model.config.classes > 256) throw new GpuError(`${model.config.classes} classes do not fit u8 ids`, 'predict.frames');
  if (model.backend === 'wasm') return wasmEvalFrames(model, frames, N, H, W, norm).classes;
  const plan = await model.plan(N, roundUp(H, OUTPUT_STRIDE), roundUp(W, OUTPUT_STRIDE), 'eval');
  const fp = await planFrames(model, plan, H, W, norm);
  model.gpu.device.queue.writeBuffer(fp.rgba.buffer, fp.rgba.offset, frames.buffer, frames.byteOffset, frames.byteLength);
  submit(model.gpu, fp.dispatches, 'predict.frames');
  return new Uint8Array(await readBytes(model.gpu, fp.ids.buffer, fp.ids.offset, fp.ids.bytes), 0, N * H * W);
}
