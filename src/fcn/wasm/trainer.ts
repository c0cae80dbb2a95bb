// One SGD step on the WebAssembly backend, the same step as ../trainer.ts: zero the gradients,
// then per micro-batch copy its images and labels into the plan, forward, loss, backward
// (gradients accumulate across micro-batches), argmax and the confusion matrix; then SGD over the
// parameter arenas. Kernel calls block until done, so each step's losses are known when it
// returns; they are still handed out one step late, as the WebGPU trainer does, so fit() runs one
// protocol for both backends.
import { fill } from '../../backends/wasm/gemm.js';
import { WASM32_MAX_BYTES } from '../../backends/wasm/memory.js';
import * as ops from '../../backends/wasm/ops.js';
import { GpuError } from '../../gpu/device.js';
import { perImageFootprint } from '../graph.js';
import { splitBatch, type HostBatch, type OptimizerOptions, type StepResult } from '../trainer.js';
import type { WasmGraphPlan } from './graph.js';
import type { WasmFcnModel } from './model.js';

interface StepPlan {
  B: number;
  H: number;
  W: number;
  micro: number;
  generation: number;
  graph: WasmGraphPlan;
  labels: number;
  losses: number;
  pred: number;
  conf: number;
  ceScratch: number;
}

/** Bytes a conv pass may take for scratch (backends/wasm/conv2d.ts wasmConvOptions.scratchBudget), plus room. */
const SCRATCH_ALLOWANCE = 320 * 2 ** 20;

export class WasmTrainer {
  private plan: StepPlan | null = null;
  private conf: Uint32Array;
  private pendingLosses: Float32Array | null = null;
  steps = 0;

  constructor(
    readonly model: WasmFcnModel,
    readonly opt: OptimizerOptions,
    /** Bytes of activations a plan may use (micro-batching splits batches to fit). */
    readonly memoryBudget = 1.5 * 2 ** 30,
  ) {
    const K = model.config.classes;
    this.conf = new Uint32Array(K * K);
    if (opt.momentum > 0) model.store.ensureMomentum();
  }

  /** Images per micro-batch for B images of H x W: what the memory budget and wasm32's 4 GiB allow. */
  chooseMicroBatch(B: number, H: number, W: number): number {
    const { rt } = this.model;
    const { bytes } = perImageFootprint(this.model.config, H, W);
    const room = Math.min(this.memoryBudget, rt.arena.limit - rt.arena.top - SCRATCH_ALLOWANCE);
    return splitBatch(B, H, W, Math.floor(room / bytes),
      `one ${H}x${W} image needs ${(bytes / 2 ** 20).toFixed(0)} MiB of activations on the wasm backend, over what is left ` +
        `(${(Math.max(0, room) / 2 ** 20).toFixed(0)} MiB of the memory budget and of WebAssembly's ${WASM32_MAX_BYTES / 2 ** 30} GiB ` +
        'after parameters and scratch): use a smaller crop');
  }

  private planStep(B: number, H: number, W: number): StepPlan {
    const { model } = this;
    const p = this.plan;
    if (p && p.B === B && p.H === H && p.W === W && p.generation === model.generation) return p;
    this.plan = null; // its confusion counts were folded into the host total after its last step
    const K = model.config.classes;
    const micro = this.chooseMicroBatch(B, H, W);
    const graph = model.plan(micro, H, W, 'train');
    const [labels, losses, pred, conf, ceScratch] = model.reserve([
      { label: 'labels', bytes: micro * H * W * 4 },
      { label: 'losses', bytes: micro * 4 },
      { label: 'pred', bytes: micro * H * W * 4 },
      { label: 'train.confusion', bytes: K * K * 4 },
      { label: 'cross-entropy partial sums', bytes: ops.crossEntropyScratchBytes({ N: micro, H, W }) },
    ]) as [number, number, number, number, number];
    fill(model.rt, conf, K * K);
    this.plan = { B, H, W, micro, generation: model.generation, graph, labels, losses, pred, conf, ceScratch };
    return this.plan;
  }

  /** Sets the learning rate for the next steps (read by every SGD call). */
  setLearningRate(lr: number): void {
    this.opt.lr = lr;
  }

  /** Runs one SGD step on a host batch of B images (B, 3, H, W). */
  async step(batch: HostBatch, B: number, H: number, W: number): Promise<StepResult> {
    if (batch.images.length !== B * 3 * H * W) throw new GpuError(`images have ${batch.images.length} values, expected ${B}x3x${H}x${W}`, 'train.step');
    if (batch.labels.length !== B * H * W) throw new GpuError(`labels have ${batch.labels.length} values, expected ${B}x${H}x${W}`, 'train.step');
    // Kernel calls block this thread: let pending messages (a cancel, a progress reply) in first.
    await yieldToEventLoop();
    const p = this.planStep(B, H, W);
    const { model, opt } = this;
    const { rt } = model;
    const K = model.config.classes;
    const { micro, graph } = p;
    const arenas = model.store.trainedArenas();
    for (const a of arenas) fill(rt, a.grads, a.elements);
    const losses = new Float32Array(B);
    const px = micro * H * W;
    for (let m = 0; m < B / micro; m++) {
      rt.write(graph.images.ptr, batch.images.subarray(m * micro * 3 * H * W, (m + 1) * micro * 3 * H * W));
      new Uint32Array(rt.memory.buffer, p.labels, px).set(batch.labels.subarray(m * px, (m + 1) * px));
      for (const s of graph.forward) s.run();
      const stats = ops.crossEntropy(rt, p.losses, graph.dlogits!.ptr, graph.logits.ptr, p.labels, {
        N: micro, K, H, W, reduction: opt.reduction, ignoreIndex: 255, microBatches: B / micro,
      }, p.ceScratch);
      if (stats.badLabels) throw new GpuError(`labels hold ${stats.badLabels} class ids ≥ ${K} other than the ignore label 255`, 'train.step');
      for (const s of graph.backward) s.run();
      ops.argmax(rt, p.pred, graph.logits.ptr, { N: micro, K, H, W });
      ops.confusion(rt, p.conf, p.pred, p.labels, px, K);
      losses.set(rt.f32(p.losses, micro), m * micro);
    }
    for (const a of arenas) {
      ops.sgdStep(rt, a.values, a.grads, a.momentum, a.elements, { lr: opt.lr, weightDecay: opt.weightDecay, momentum: opt.momentum, nesterov: opt.nesterov });
    }
    model.store.numBatchesTracked += B / micro;
    this.foldConfusion();
    this.steps++;
    const previous = this.pendingLosses;
    this.pendingLosses = losses;
    return { previousLosses: previous };
  }

  /** The last step's per-image losses (and forgets them). */
  async flush(): Promise<Float32Array | null> {
    const v = this.pendingLosses;
    this.pendingLosses = null;
    return v;
  }

  /** Moves the plan's confusion counts to the host total (before a replan frees the region). */
  private foldConfusion(): void {
    const p = this.plan;
    if (!p || p.generation !== this.model.generation) return;
    const { rt } = this.model;
    const c = new Uint32Array(rt.memory.buffer, p.conf, this.conf.length);
    for (let i = 0; i < c.length; i++) this.conf[i]! += c[i]!;
    c.fill(0);
  }

  async peekConfusion(): Promise<Uint32Array> {
    this.foldConfusion();
    return this.conf.slice();
  }

  async takeConfusion(): Promise<Uint32Array> {
    this.foldConfusion();
    const c = this.conf;
    this.conf = new Uint32Array(c.length);
    return c;
  }

  async dispose(): Promise<void> {
    this.plan = null;
    this.pendingLosses = null;
    await this.model.releasePlans();
  }
}

/** Resolves after the event loop has run pending tasks (messages, timers), not just microtasks. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
