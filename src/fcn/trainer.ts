// One SGD training step of FCN-ResNet18 = ONE command encoder: zero the gradients, then per
// micro-batch copy its images/labels from the staging buffer into the plan's inputs, run
// forward, loss, backward (gradients accumulate across micro-batches), argmax and the confusion
// matrix; then one SGD dispatch over the parameter arena. Nothing is read back inside a step:
// per-image losses are copied to a mappable buffer that is read one step later.
import type { Gpu } from '../gpu/device.js';
import { GpuError } from '../gpu/device.js';
import { disposeDispatch, encode, setUniforms, type Dispatch } from '../gpu/kernel.js';
import { Tensor } from '../gpu/tensor.js';
import { fill } from '../gpu/ops/fill.js';
import { sgdStep } from '../gpu/ops/sgd.js';
import { crossEntropyForwardBackward } from '../gpu/ops/cross_entropy.js';
import { argmax } from '../gpu/ops/argmax.js';
import { confusionAccumulate } from '../gpu/ops/confusion.js';
import { perImageFootprint, type GraphPlan } from './graph.js';
import { OUTPUT_STRIDE } from './spec.js';
import type { FcnModel } from './model.js';
import type { LossReduction } from './run-types.js';

export type { LossReduction } from './run-types.js';

export interface OptimizerOptions {
  /** Learning rate (the chapter: 0.001). */
  lr: number;
  /** L2 weight decay added to the gradient, as torch.optim.SGD (the chapter: 1e-3). */
  weightDecay: number;
  /** 0 = plain SGD (the chapter). */
  momentum: number;
  nesterov: boolean;
  /** 'sum': the chapter's loss.sum() of per-image pixel means; 'mean': mean over non-ignored pixels of the batch. */
  reduction: LossReduction;
}

export const CHAPTER_OPTIMIZER: OptimizerOptions = { lr: 0.001, weightDecay: 1e-3, momentum: 0, nesterov: false, reduction: 'sum' };

/** Host data of one batch: normalised images and class ids (255 = ignore). */
export interface HostBatch {
  /** (B, 3, H, W) */
  images: Float32Array;
  /** (B, H, W) */
  labels: Uint32Array;
}

/** How a batch of B images is split to fit the device. */
export function chooseMicroBatch(gpu: Gpu, model: FcnModel, B: number, H: number, W: number, memoryBudget: number): number {
  const { bytes, largestTensorBytes } = perImageFootprint(model.config, H, W);
  const byBinding = Math.floor(gpu.limits.maxStorageBufferBindingSize / largestTensorBytes);
  const byMemory = Math.floor(memoryBudget / bytes);
  return splitBatch(B, H, W, Math.min(byBinding, byMemory),
    `one ${H}x${W} image needs ${(bytes / 2 ** 20).toFixed(0)} MiB of activations (largest tensor ` +
      `${(largestTensorBytes / 2 ** 20).toFixed(1)} MiB; maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}, ` +
      `memory budget ${(memoryBudget / 2 ** 20).toFixed(0)} MiB): use a smaller crop`);
}

/**
 * The micro-batch for B images when at most `fits` fit at once: the largest divisor of B not over
 * it (equal micro-batches keep one plan). `tooBig` explains why when not even one image fits.
 */
export function splitBatch(B: number, H: number, W: number, fits: number, tooBig: string): number {
  const m = Math.min(B, fits);
  if (m < 1) throw new GpuError(tooBig, 'train');
  let k = m;
  while (B % k !== 0) k--;
  // Train-mode BatchNorm needs 2+ values per channel; layer4 has k·⌈H/32⌉·⌈W/32⌉ (PyTorch
  // refuses fewer too), so a split must not go below that.
  const deepest = Math.ceil(H / OUTPUT_STRIDE) * Math.ceil(W / OUTPUT_STRIDE);
  if (k * deepest < 2) {
    throw new GpuError(
      `training BatchNorm needs at least 2 values per channel at 1/${OUTPUT_STRIDE} resolution, but micro-batches of ${k} ` +
        `${H}x${W} crops (batch ${B}${k < B ? ', split to fit the device' : ''}) give ${k * deepest}: use a larger crop, ` +
        `a larger batch${k < B ? ' or a bigger memory budget' : ''}`,
      'train',
    );
  }
  return k;
}

/**
 * A planned step, stage by stage: what step() records, in its order, and what the bench times
 * stage by stage (src/bench/webfcn.ts). The dispatch lists are the trainer's own.
 */
export interface StepStages {
  B: number;
  H: number;
  W: number;
  /** Images per micro-batch; step() runs B / micro of them. */
  micro: number;
  /** Zeroes the gradient arenas (first, once per step). */
  zero: readonly Dispatch[];
  /** Per micro-batch: the graph's forward pass. */
  forward: readonly Dispatch[];
  /** Per micro-batch: cross-entropy forward and dlogits. */
  loss: readonly Dispatch[];
  /** Per micro-batch: the graph's backward pass (gradients accumulate). */
  backward: readonly Dispatch[];
  /** Per micro-batch: argmax and the confusion matrix of the training batch. */
  metrics: readonly Dispatch[];
  /** SGD over every trained arena (last, once per step). */
  sgd: readonly Dispatch[];
  /** Per-image losses of the current micro-batch (micro) f32. */
  losses: Tensor;
  /** Host batch → the staging buffers (queue writes; the whole batch). */
  upload(batch: HostBatch): void;
  /** Records the copies of micro-batch m's images and labels from staging into the graph's inputs. */
  copyIn(enc: GPUCommandEncoder, m: number): void;
}

interface StepPlan extends StepStages {
  graph: GraphPlan;
  labels: Tensor;
  pred: Tensor;
  stagingImages: GPUBuffer;
  stagingLabels: GPUBuffer;
  perMicro: Dispatch[];
  /** Dispatches this trainer planned (the graph's own are freed with the model's plans). */
  owned: Dispatch[];
  zero: Dispatch[];
  sgd: Dispatch[];
  lossReadback: [GPUBuffer, GPUBuffer];
  flip: number;
}

export interface StepResult {
  /** Per-image losses of the PREVIOUS step (null on the first), read without stalling. */
  previousLosses: Float32Array | null;
}

/** Trains a model with SGD; see the file comment for what one step records. */
export class Trainer {
  private plan: StepPlan | null = null;
  /** (K * K) u32 confusion counts over the train batches since the last reset. */
  readonly confusion: Tensor;
  private pendingLosses: Promise<Float32Array> | null = null;
  steps = 0;

  constructor(
    readonly gpu: Gpu,
    readonly model: FcnModel,
    readonly opt: OptimizerOptions,
    /** Bytes of activations a plan may use (micro-batching splits batches to fit). */
    readonly memoryBudget = 1.5 * 2 ** 30,
  ) {
    const K = model.config.classes;
    this.confusion = Tensor.zeros(gpu, [K * K], 'train.confusion', 'u32');
  }

  private async planStep(B: number, H: number, W: number): Promise<StepPlan> {
    if (this.plan && this.plan.B === B && this.plan.H === H && this.plan.W === W) return this.plan;
    await this.releasePlan();
    const { gpu, model, opt } = this;
    const K = model.config.classes;
    const micro = chooseMicroBatch(gpu, model, B, H, W, this.memoryBudget);
    const graph = await model.plan(micro, H, W, 'train');
    const labels = Tensor.zeros(gpu, [micro, H, W], 'labels', 'u32');
    const losses = Tensor.zeros(gpu, [micro], 'losses');
    const pred = Tensor.zeros(gpu, [micro, H, W], 'pred', 'u32');
    const copyUsage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const stagingImages = gpu.createBuffer('staging.images', B * 3 * H * W * 4, copyUsage);
    const stagingLabels = gpu.createBuffer('staging.labels', B * H * W * 4, copyUsage);
    const lossStaging = () => gpu.createBuffer('losses.readback', B * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const ce = await crossEntropyForwardBackward(gpu, losses, graph.dlogits!, graph.logits, labels, {
      N: micro, K, H, W, reduction: opt.reduction, ignoreIndex: 255,
      // 'mean' over the whole batch: each micro-batch's gradient is scaled by its share of the batch.
      microBatches: B / micro,
    });
    const metrics = [
      ...flat(await argmax(gpu, pred, graph.logits, 'train')),
      ...flat(await confusionAccumulate(gpu, this.confusion, pred, labels, K, 'train')),
    ];
    const perMicro = [...graph.forward, ...flat(ce), ...graph.backward, ...metrics];
    const zero: Dispatch[] = [];
    const sgd: Dispatch[] = [];
    if (opt.momentum > 0) model.store.ensureMomentum();
    for (const a of model.store.trainedArenas()) {
      zero.push(...flat(await fill(gpu, a.grads!, 0, a.grads!.label)));
      sgd.push(
        ...flat(
          await sgdStep(gpu, a.values, a.grads!, a.momentum, {
            n: a.elements, lr: opt.lr, weightDecay: opt.weightDecay, momentum: opt.momentum, nesterov: opt.nesterov,
          }, a.name),
        ),
      );
    }
    const q = gpu.device.queue;
    const imgBytes = micro * 3 * H * W * 4;
    const lblBytes = micro * H * W * 4;
    this.plan = {
      B, micro, H, W, graph, labels, losses, pred, stagingImages, stagingLabels,
      forward: graph.forward, loss: flat(ce), backward: graph.backward, metrics,
      perMicro, owned: [...flat(ce), ...metrics, ...zero, ...sgd], zero, sgd, lossReadback: [lossStaging(), lossStaging()], flip: 0,
      upload: (batch) => {
        q.writeBuffer(stagingImages, 0, batch.images.buffer, batch.images.byteOffset, batch.images.byteLength);
        q.writeBuffer(stagingLabels, 0, batch.labels.buffer, batch.labels.byteOffset, batch.labels.byteLength);
      },
      copyIn: (enc, m) => {
        enc.copyBufferToBuffer(stagingImages, m * imgBytes, graph.images.buffer, graph.images.offset, imgBytes);
        enc.copyBufferToBuffer(stagingLabels, m * lblBytes, labels.buffer, labels.offset, lblBytes);
      },
    };
    return this.plan;
  }

  /** The step for B images of H x W, planned (once) and laid out stage by stage; see StepStages. */
  stages(B: number, H: number, W: number): Promise<StepStages> {
    return this.planStep(B, H, W);
  }

  /** Sets the learning rate for the next steps (LR schedules) without replanning. */
  setLearningRate(lr: number): void {
    this.opt.lr = lr;
    if (this.plan) for (const d of this.plan.sgd) setUniforms(this.gpu, d, { lr });
  }

  /** Runs one SGD step on a host batch of B images (B, 3, H, W). */
  async step(batch: HostBatch, B: number, H: number, W: number): Promise<StepResult> {
    if (batch.images.length !== B * 3 * H * W) throw new GpuError(`images have ${batch.images.length} values, expected ${B}x3x${H}x${W}`, 'train.step');
    if (batch.labels.length !== B * H * W) throw new GpuError(`labels have ${batch.labels.length} values, expected ${B}x${H}x${W}`, 'train.step');
    const p = await this.planStep(B, H, W);
    const { gpu } = this;
    gpu.check();
    const q = gpu.device.queue;
    p.upload(batch);
    const enc = gpu.device.createCommandEncoder({ label: 'train.step' });
    let pass = enc.beginComputePass({ label: 'train.zero_grad' });
    encode(pass, p.zero);
    pass.end();
    const readback = p.lossReadback[p.flip]!;
    for (let m = 0; m < B / p.micro; m++) {
      p.copyIn(enc, m);
      pass = enc.beginComputePass({ label: `train.micro${m}` });
      encode(pass, p.perMicro);
      pass.end();
      enc.copyBufferToBuffer(p.losses.buffer, p.losses.offset, readback, m * p.micro * 4, p.micro * 4);
    }
    pass = enc.beginComputePass({ label: 'train.sgd' });
    encode(pass, p.sgd);
    pass.end();
    q.submit([enc.finish()]);
    this.model.store.numBatchesTracked += B / p.micro;
    this.steps++;
    const previous = this.pendingLosses;
    this.pendingLosses = readback.mapAsync(GPUMapMode.READ).then(() => {
      const v = new Float32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      return v;
    });
    p.flip ^= 1;
    return { previousLosses: previous ? await previous : null };
  }

  /** Waits for the last step and returns its per-image losses. */
  async flush(): Promise<Float32Array | null> {
    const p = this.pendingLosses;
    this.pendingLosses = null;
    const v = p ? await p : null;
    this.gpu.check();
    return v;
  }

  /** Reads the confusion matrix accumulated since the last reset (waits for submitted steps). */
  peekConfusion(): Promise<Uint32Array> {
    return this.confusion.readU32();
  }

  /** Reads the confusion matrix accumulated since the last reset, and resets it. */
  async takeConfusion(): Promise<Uint32Array> {
    const c = await this.confusion.readU32();
    this.gpu.device.queue.writeBuffer(this.confusion.buffer, this.confusion.offset, new Uint32Array(this.confusion.size));
    return c;
  }

  private async releasePlan(): Promise<void> {
    const p = this.plan;
    if (!p) return;
    this.plan = null;
    await this.flush().catch(() => null);
    for (const d of p.owned) disposeDispatch(this.gpu, d);
    for (const t of [p.labels, p.losses, p.pred]) t.dispose();
    for (const b of [p.stagingImages, p.stagingLabels, ...p.lossReadback]) this.gpu.destroyBuffer(b);
    await this.model.releasePlans();
  }

  async dispose(): Promise<void> {
    await this.releasePlan();
    this.confusion.dispose();
  }
}

function flat(d: Dispatch | Dispatch[]): Dispatch[] {
  return Array.isArray(d) ? d : [d];
}
