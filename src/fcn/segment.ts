// One image through the eval-mode network with the outputs a page asks for: u8 class ids (argmax
// on the GPU), per-class confidence maps (softmax on the GPU) and, for an overlay, the RGBA pixels
// as uploaded. The image goes up as RGBA bytes, or straight from an ImageBitmap / VideoFrame /
// OffscreenCanvas by copyExternalImageToTexture where the device has it (no CPU copy of the pixels).
// It reuses predictFrames' plan (frame upload, normalisation, packed argmax) for batch 1.
import { disposeDispatch, submit, type Dispatch } from '../gpu/kernel.js';
import { GpuError, type Gpu } from '../gpu/device.js';
import { softmaxChannels } from '../gpu/ops/softmax.js';
import { readBytes, Tensor } from '../gpu/tensor.js';
import { IMAGENET, type Normalisation } from '../io/normalisation.js';
import type { GraphPlan } from './graph.js';
import type { FcnModel } from './model.js';
import type { Model } from './backend.js';
import { wasmEvalFrames } from './wasm/infer.js';
import { planFrames } from './predict.js';
import { OUTPUT_STRIDE } from './spec.js';

/** The image: RGBA bytes (H, W, 4), or a source the GPU copies from directly. */
export type SegmentSource = { data: Uint8Array } | { external: GPUCopyExternalImageSource };

export interface SegmentWant {
  /** u8 class id per pixel. */
  category?: boolean;
  /** Softmax probabilities (K, H, W). */
  confidence?: boolean;
  /** The RGBA pixels as the network saw them (H, W, 4), e.g. for an overlay. */
  pixels?: boolean;
}

export interface SegmentOutput {
  category?: Uint8Array;
  confidence?: Float32Array;
  pixels?: Uint8Array;
}

const softmaxOf = new WeakMap<GraphPlan, Map<string, Promise<{ probs: Tensor; dispatch: Dispatch }>>>();

/** The softmax dispatch over `plan`'s logits cropped to H × W, made once per plan and size. */
function planSoftmax(model: FcnModel, plan: GraphPlan, H: number, W: number) {
  let byKey = softmaxOf.get(plan);
  if (!byKey) softmaxOf.set(plan, (byKey = new Map()));
  const key = `${H}x${W}`;
  let made = byKey.get(key);
  if (!made) {
    made = (async () => {
      const [N, K] = plan.logits.shape as [number, number];
      const probs = Tensor.zeros(model.gpu, [N, K, H, W], 'segment.probs');
      plan.adopt(probs);
      const dispatch = await softmaxChannels(model.gpu, probs, plan.logits, H, W, 'segment');
      plan.adopt({ dispose: () => disposeDispatch(model.gpu, dispatch) });
      return { probs, dispatch };
    })();
    byKey.set(key, made);
  }
  return made;
}

/** Whether the device can copy ImageBitmaps, VideoFrames and canvases straight into a texture (browsers). */
export function canCopyExternal(gpu: Gpu): boolean {
  return typeof gpu.device.queue.copyExternalImageToTexture === 'function' && typeof GPUTextureUsage !== 'undefined';
}

/**
 * Encodes `source` (H × W) into `dst` as packed RGBA u32 (R in the low byte), all on the GPU:
 * copyExternalImageToTexture into an rgba8unorm texture, texture → buffer with rows padded to
 * 256 bytes (WebGPU's rule), then one buffer copy per row into the unpadded frame.
 */
function uploadExternal(gpu: Gpu, source: GPUCopyExternalImageSource, dst: Tensor, H: number, W: number): void {
  const { device } = gpu;
  const texture = device.createTexture({
    label: 'segment.source', size: [W, H], format: 'rgba8unorm',
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
  });
  const pitch = Math.ceil((W * 4) / 256) * 256;
  const padded = gpu.createBuffer('segment.source.rows', pitch * H, GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
  try {
    device.queue.copyExternalImageToTexture({ source }, { texture, premultipliedAlpha: false }, [W, H]);
    const enc = device.createCommandEncoder({ label: 'segment.source' });
    enc.copyTextureToBuffer({ texture }, { buffer: padded, bytesPerRow: pitch, rowsPerImage: H }, [W, H]);
    if (pitch === W * 4) enc.copyBufferToBuffer(padded, 0, dst.buffer, dst.offset, W * H * 4);
    else for (let y = 0; y < H; y++) enc.copyBufferToBuffer(padded, y * pitch, dst.buffer, dst.offset + y * W * 4, W * 4);
    device.queue.submit([enc.finish()]);
  } finally {
    // Destroying after submit is allowed: the queued copies complete first.
    texture.destroy();
    gpu.destroyBuffer(padded);
  }
}

/** Runs one H × W image through the eval-mode network and reads back what `want` names. */
export async function segmentImage(
  model: Model, source: SegmentSource, H: number, W: number, want: SegmentWant, norm: Normalisation = IMAGENET,
): Promise<SegmentOutput> {
  if (![H, W].every((v) => Number.isInteger(v) && v >= 1)) throw new GpuError(`bad image size ${H}x${W}`, 'segment');
  if (model.config.classes > 256) throw new GpuError(`${model.config.classes} classes do not fit u8 ids`, 'segment');
  if ('data' in source && source.data.length !== H * W * 4) {
    throw new GpuError(`image has ${source.data.length} bytes, expected ${H}x${W}x4 (RGBA)`, 'segment');
  }
  if (model.backend === 'wasm') {
    if (!('data' in source)) throw new GpuError('the wasm backend takes images as RGBA bytes (no GPU copy of external images)', 'segment');
    return segmentWasm(model, source.data, H, W, want, norm);
  }
  const up = (n: number) => Math.ceil(n / OUTPUT_STRIDE) * OUTPUT_STRIDE;
  const plan = await model.plan(1, up(H), up(W), 'eval');
  const fp = await planFrames(model, plan, H, W, norm);
  const sm = want.confidence ? await planSoftmax(model, plan, H, W) : null;
  if ('data' in source) {
    const d = source.data;
    model.gpu.device.queue.writeBuffer(fp.rgba.buffer, fp.rgba.offset, d.buffer, d.byteOffset, d.byteLength);
  } else {
    if (!canCopyExternal(model.gpu)) throw new GpuError('this device cannot copy external images (pass RGBA bytes)', 'segment');
    uploadExternal(model.gpu, source.external, fp.rgba, H, W);
  }
  const network = fp.dispatches.slice(0, -1); // normalise + forward
  const argmax = fp.dispatches[fp.dispatches.length - 1]!;
  submit(model.gpu, [...network, ...(want.category ? [argmax] : []), ...(sm ? [sm.dispatch] : [])], 'segment');
  const out: SegmentOutput = {};
  if (want.category) out.category = new Uint8Array(await readBytes(model.gpu, fp.ids.buffer, fp.ids.offset, fp.ids.bytes), 0, H * W);
  if (sm) out.confidence = new Float32Array(await readBytes(model.gpu, sm.probs.buffer, sm.probs.offset, sm.probs.bytes));
  if (want.pixels) out.pixels = new Uint8Array(await readBytes(model.gpu, fp.rgba.buffer, fp.rgba.offset, H * W * 4));
  return out;
}

/** segmentImage on the wasm backend: the frame pipeline, and the channel softmax on the host. */
function segmentWasm(model: Extract<Model, { backend: 'wasm' }>, data: Uint8Array, H: number, W: number, want: SegmentWant, norm: Normalisation): SegmentOutput {
  const r = wasmEvalFrames(model, data, 1, H, W, norm);
  const out: SegmentOutput = {};
  if (want.category) out.category = r.classes;
  if (want.confidence) out.confidence = softmaxChannelsHost(r.logits(), model.config.classes, r.TH, r.TW, H, W);
  if (want.pixels) out.pixels = data.slice();
  return out;
}

/**
 * Softmax over K of logits (K, TH, TW) cropped to (K, H, W), as shaders/softmax/channels.wgsl:
 * exp(x − max) / Σ exp(x − max), accumulated in float64.
 */
export function softmaxChannelsHost(logits: Float32Array, K: number, TH: number, TW: number, H: number, W: number): Float32Array {
  const out = new Float32Array(K * H * W);
  const e = new Float64Array(K);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) max = Math.max(max, logits[(k * TH + y) * TW + x]!);
      let sum = 0;
      for (let k = 0; k < K; k++) sum += e[k] = Math.exp(logits[(k * TH + y) * TW + x]! - max);
      for (let k = 0; k < K; k++) out[(k * H + y) * W + x] = e[k]! / sum;
    }
  }
  return out;
}
