// Plans one forward (and, in training, backward) pass of FCN-ResNet18 for a fixed input shape:
// every activation, gradient and dispatch is created once here and replayed every step. The
// backward pass is written out layer by layer (llm.c style): each forward layer pushes its
// backward onto a tape, replayed in reverse. Gradients of activations follow one rule: the
// first consumer to reach a tensor in backward overwrites its gradient, later ones accumulate.
import type { Gpu } from '../gpu/device.js';
import { GpuError } from '../gpu/device.js';
import { disposeDispatch, type Dispatch } from '../gpu/kernel.js';
import { Tensor, type DType } from '../gpu/tensor.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutSize, type Conv2dParams } from '../gpu/ops/conv2d.js';
import {
  convTranspose2dBackwardInput,
  convTranspose2dBackwardWeight,
  convTranspose2dForward,
  convTranspose2dOutSize,
  type ConvTranspose2dParams,
} from '../gpu/ops/conv_transpose2d.js';
import { batchNormBackward, batchNormForward } from '../gpu/ops/batch_norm.js';
import { reluBackward, reluForward } from '../gpu/ops/relu.js';
import { maxPool2dBackward, maxPool2dForward } from '../gpu/ops/max_pool.js';
import { add, addInto } from '../gpu/ops/add.js';
import type { ParamStore } from './params.js';
import { headSpec, OUTPUT_STRIDE, resnet18Blocks, STEM, type ConvSpec, type DeconvSpec, type FcnConfig } from './spec.js';

export type Mode = 'train' | 'eval';

type Planned = Dispatch | Dispatch[];

function flat(d: Planned): Dispatch[] {
  return Array.isArray(d) ? d : [d];
}

/** A planned network pass for input (N, 3, H, W). */
export interface GraphPlan {
  readonly N: number;
  readonly H: number;
  readonly W: number;
  readonly mode: Mode;
  /** (N, 3, H, W) normalised images; written by the caller before each run. */
  readonly images: Tensor;
  /** (N, K, H, W) class scores. */
  readonly logits: Tensor;
  readonly forward: readonly Dispatch[];
  /** Empty in eval mode. Run after the loss has written `dlogits`. */
  readonly backward: readonly Dispatch[];
  /** (N, K, H, W) gradient of the loss w.r.t. logits (train mode; null in eval mode). */
  readonly dlogits: Tensor | null;
  /** Bytes of activations and activation gradients this plan holds. */
  readonly bytes: number;
  /** Hands the plan something built on it (a tensor, a dispatch's resources) to free with it. */
  adopt(resource: { dispose(): void }): void;
  dispose(): void;
}

/** Checks that an input shape suits the network (before any GPU work). */
export function checkInputShape(N: number, H: number, W: number): void {
  if (!(Number.isInteger(N) && N >= 1)) throw new GpuError(`batch size must be a positive integer, got ${N}`, 'fcn');
  if (H % OUTPUT_STRIDE !== 0 || W % OUTPUT_STRIDE !== 0 || H <= 0 || W <= 0) {
    throw new GpuError(
      `input ${H}x${W} is not a multiple of ${OUTPUT_STRIDE} in height and width (the backbone's stride); ` +
        'crop or pad it, or use the tiled predictor for whole images',
      'fcn',
    );
  }
}

class Planner {
  readonly tensors: Tensor[] = [];
  readonly adopted: Array<{ dispose(): void }> = [];
  readonly fwd: Dispatch[] = [];
  readonly bwd: Dispatch[] = [];
  private readonly tape: Array<() => Promise<void>> = [];
  private readonly grads = new Map<Tensor, Tensor>();
  bytes = 0;

  constructor(
    readonly gpu: Gpu,
    readonly store: ParamStore,
    readonly mode: Mode,
    readonly input: Tensor,
  ) {}

  get training(): boolean {
    return this.mode === 'train';
  }

  alloc(shape: number[], label: string, dtype: DType = 'f32'): Tensor {
    const t = Tensor.zeros(this.gpu, shape, label, dtype);
    this.tensors.push(t);
    this.bytes += t.bytes;
    return t;
  }

  forward(d: Planned): void {
    this.fwd.push(...flat(d));
  }

  backward(d: Planned): void {
    this.bwd.push(...flat(d));
  }

  onBackward(fn: () => Promise<void>): void {
    if (this.training) this.tape.push(fn);
  }

  async planBackward(): Promise<void> {
    for (let i = this.tape.length - 1; i >= 0; i--) await this.tape[i]!();
  }

  /** The gradient of an activation some consumer has already written. */
  gradOf(t: Tensor): Tensor {
    const g = this.grads.get(t);
    if (!g) throw new GpuError(`no gradient planned for '${t.label}'`, 'fcn.backward');
    return g;
  }

  /** Where to write the gradient of `t`: a new tensor (overwrite) or the existing one (accumulate). */
  gradTarget(t: Tensor): { dx: Tensor; accumulate: boolean } {
    const g = this.grads.get(t);
    if (g) return { dx: g, accumulate: true };
    const dx = this.alloc([...t.shape], `d${t.label}`);
    this.grads.set(t, dx);
    return { dx, accumulate: false };
  }

  /**
   * For ops that can only overwrite: a fresh gradient of `t`, or a temporary plus an add into
   * the existing one.
   */
  async overwriteTarget(t: Tensor, write: (dx: Tensor) => Promise<Planned>): Promise<void> {
    const existing = this.grads.get(t);
    if (!existing) {
      const { dx } = this.gradTarget(t);
      this.backward(await write(dx));
      return;
    }
    const tmp = this.alloc([...t.shape], `d${t.label}.part`);
    this.backward(await write(tmp));
    this.backward(await addInto(this.gpu, existing, tmp, `d${t.label}`));
  }

  /** Declares that `g` already holds the gradient of `t` (an identity edge). */
  async shareGrad(t: Tensor, g: Tensor): Promise<void> {
    const existing = this.grads.get(t);
    if (!existing) this.grads.set(t, g);
    else this.backward(await addInto(this.gpu, existing, g, `d${t.label}`));
  }

  needsGrad(t: Tensor): boolean {
    return t !== this.input;
  }

  dispose(): void {
    for (const r of this.adopted) r.dispose();
    for (const d of [...this.fwd, ...this.bwd]) disposeDispatch(this.gpu, d);
    for (const t of this.tensors) t.dispose();
  }
}

async function conv(pl: Planner, c: ConvSpec, x: Tensor): Promise<Tensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const p: Conv2dParams = { N, C, H, W, K: c.outC, kh: c.k, kw: c.k, strideH: c.stride, strideW: c.stride, padH: c.pad, padW: c.pad };
  const { OH, OW } = conv2dOutSize(p);
  const y = pl.alloc([N, c.outC, OH, OW], c.name);
  const w = pl.store.get(`${c.name}.weight`);
  const b = c.bias ? pl.store.get(`${c.name}.bias`) : null;
  pl.forward(await conv2dForward(pl.gpu, y, x, w, b, p, c.name, pl.mode === 'eval'));
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    const db = c.bias ? pl.store.grad(`${c.name}.bias`) : null;
    pl.backward(await conv2dBackwardWeight(pl.gpu, pl.store.grad(`${c.name}.weight`), db, dy, x, p, c.name));
    if (!pl.needsGrad(x)) return;
    const { dx, accumulate } = pl.gradTarget(x);
    pl.backward(await conv2dBackwardInput(pl.gpu, dx, dy, w, p, accumulate, c.name));
  });
  return y;
}

async function deconv(pl: Planner, d: DeconvSpec, x: Tensor): Promise<Tensor> {
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const p: ConvTranspose2dParams = { N, Cin, H, W, Cout: d.channels, kh: d.k, kw: d.k, strideH: d.stride, strideW: d.stride, padH: d.pad, padW: d.pad };
  const { OH, OW } = convTranspose2dOutSize(p);
  const y = pl.alloc([N, d.channels, OH, OW], d.name);
  const w = pl.store.get(`${d.name}.weight`);
  const b = pl.store.get(`${d.name}.bias`);
  pl.forward(await convTranspose2dForward(pl.gpu, y, x, w, b, p, d.name));
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    pl.backward(await convTranspose2dBackwardWeight(pl.gpu, pl.store.grad(`${d.name}.weight`), pl.store.grad(`${d.name}.bias`), dy, x, p, d.name));
    const { dx, accumulate } = pl.gradTarget(x);
    pl.backward(await convTranspose2dBackwardInput(pl.gpu, dx, dy, w, p, accumulate, d.name));
  });
  return y;
}

async function batchNorm(pl: Planner, name: string, x: Tensor): Promise<Tensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const y = pl.alloc([...x.shape], name);
  const saved = { mean: pl.alloc([C], `${name}.saved_mean`), invstd: pl.alloc([C], `${name}.saved_invstd`) };
  const weight = pl.store.get(`${name}.weight`);
  const p = { N, C, H, W, eps: 1e-5, momentum: 0.1 };
  pl.forward(
    await batchNormForward(
      pl.gpu, y, x, weight, pl.store.get(`${name}.bias`),
      pl.store.get(`${name}.running_mean`), pl.store.get(`${name}.running_var`),
      saved, pl.mode, p, name,
    ),
  );
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    await pl.overwriteTarget(x, (dx) =>
      batchNormBackward(pl.gpu, dx, pl.store.grad(`${name}.weight`), pl.store.grad(`${name}.bias`), dy, x, weight, saved, p, name),
    );
  });
  return y;
}

async function relu(pl: Planner, x: Tensor, name: string): Promise<Tensor> {
  const y = pl.alloc([...x.shape], name);
  pl.forward(await reluForward(pl.gpu, y, x, name));
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    await pl.overwriteTarget(x, (dx) => reluBackward(pl.gpu, dx, dy, y, name));
  });
  return y;
}

async function maxPool(pl: Planner, x: Tensor): Promise<Tensor> {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const p = { N, C, H, W, k: 3, stride: 2, pad: 1 };
  const OH = Math.floor((H + 2 - 3) / 2) + 1;
  const OW = Math.floor((W + 2 - 3) / 2) + 1;
  const y = pl.alloc([N, C, OH, OW], 'maxpool');
  const indices = pl.alloc([N, C, OH, OW], 'maxpool.indices', 'u32');
  pl.forward(await maxPool2dForward(pl.gpu, y, indices, x, p, 'maxpool'));
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    await pl.overwriteTarget(x, (dx) => maxPool2dBackward(pl.gpu, dx, dy, indices, p, 'maxpool'));
  });
  return y;
}

async function sum(pl: Planner, a: Tensor, b: Tensor, name: string): Promise<Tensor> {
  const y = pl.alloc([...a.shape], name);
  pl.forward(await add(pl.gpu, y, a, b, name));
  pl.onBackward(async () => {
    const dy = pl.gradOf(y);
    await pl.shareGrad(a, dy);
    await pl.shareGrad(b, dy);
  });
  return y;
}

/** Plans the network for input (N, 3, H, W) in `mode`; see GraphPlan. */
export async function planGraph(gpu: Gpu, store: ParamStore, cfg: FcnConfig, N: number, H: number, W: number, mode: Mode): Promise<GraphPlan> {
  checkInputShape(N, H, W);
  const images = Tensor.zeros(gpu, [N, 3, H, W], 'images');
  const pl = new Planner(gpu, store, mode, images);
  pl.tensors.push(images);
  pl.bytes += images.bytes;
  try {
    let x = await conv(pl, STEM, images);
    x = await batchNorm(pl, 'bn1', x);
    x = await relu(pl, x, 'relu');
    x = await maxPool(pl, x);
    const stageOut: Tensor[] = [];
    for (const b of resnet18Blocks()) {
      const input = x;
      let h = await conv(pl, b.conv1, input);
      h = await batchNorm(pl, b.bn1, h);
      h = await relu(pl, h, `${b.prefix}.relu1`);
      h = await conv(pl, b.conv2, h);
      h = await batchNorm(pl, b.bn2, h);
      let shortcut = input;
      if (b.downsample) {
        shortcut = await conv(pl, b.downsample.conv, input);
        shortcut = await batchNorm(pl, b.downsample.bn, shortcut);
      }
      x = await relu(pl, await sum(pl, h, shortcut, `${b.prefix}.add`), `${b.prefix}.relu2`);
      if (b.prefix.endsWith('.1')) stageOut.push(x);
    }
    const head = headSpec(cfg);
    // FCN-32s: score(layer4) -> x32. 16s/8s: upsample x2, add score(layer3) [, x2, add score(layer2)], then the last deconv.
    let score = await conv(pl, head.scores[0]!, stageOut[3]!);
    for (let i = 1; i < head.scores.length; i++) {
      const up = await deconv(pl, head.deconvs[i - 1]!, score);
      const skip = await conv(pl, head.scores[i]!, stageOut[3 - i]!);
      score = await sum(pl, up, skip, `fuse${i}`);
    }
    const logits = await deconv(pl, head.deconvs[head.deconvs.length - 1]!, score);
    let dlogits: Tensor | null = null;
    if (mode === 'train') {
      dlogits = pl.gradTarget(logits).dx;
      await pl.planBackward();
    }
    return {
      N, H, W, mode, images, logits, dlogits,
      forward: pl.fwd,
      backward: pl.bwd,
      bytes: pl.bytes,
      adopt: (r) => void pl.adopted.push(r),
      dispose: () => pl.dispose(),
    };
  } catch (e) {
    pl.dispose();
    throw e;
  }
}

/**
 * Bytes one image needs in a training plan at H x W (activations and their gradients),
 * measured from the architecture, and the largest tensor per image (binding-limit bound).
 */
export function perImageFootprint(cfg: FcnConfig, H: number, W: number): { bytes: number; largestTensorBytes: number } {
  // Stem output and its BN/ReLU copies dominate: 64 x H/2 x W/2 floats each; logits are K x H x W.
  const stem = 64 * (H / 2) * (W / 2) * 4;
  const logits = cfg.classes * H * W * 4;
  const q = H / 4 * (W / 4) * 4;
  // Per stage (ratio of spatial size to H/4 x W/4, channels): ~11 activations per block pair.
  const stages = [64 * q, 128 * q / 4, 256 * q / 16, 512 * q / 64].reduce((a, b) => a + b * 11, 0);
  const forward = 3 * H * W * 4 + 3 * stem + 64 * q * 2 + stages + logits * 2;
  return { bytes: forward * 2, largestTensorBytes: Math.max(stem, logits) };
}
