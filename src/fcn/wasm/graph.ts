// The network planned on the WebAssembly backend: the same layer-by-layer forward and taped
// backward as ../graph.ts (read that first), with tensors as byte offsets in the runtime's memory
// and steps as kernel calls split over its thread pool. Every activation, gradient and scratch
// region is reserved once at planning (one arena plan, refused before growing when it does not
// fit wasm32's 4 GiB); a step is replayed by calling its `run()`.
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutSize, convTranspose2dBackwardInput, convTranspose2dBackwardWeight, convTranspose2dForward, convTranspose2dOutSize, type Conv2dParams, type ConvTranspose2dParams, type Step } from '../../backends/wasm/conv2d.js';
import { SharedScratch } from '../../backends/wasm/memory.js';
import * as ops from '../../backends/wasm/ops.js';
import type { WasmRuntime } from '../../backends/wasm/runtime.js';
import { GpuError } from '../../gpu/device.js';
import { numel } from '../../gpu/tensor.js';
import { checkInputShape, type Mode } from '../graph.js';
import { headSpec, resnet18Blocks, STEM, type ConvSpec, type DeconvSpec, type FcnConfig } from '../spec.js';
import type { WasmParamStore, WasmTensor } from './params.js';

export type { Step };

/** A planned network pass for input (N, 3, H, W) on wasm. */
export interface WasmGraphPlan {
  readonly N: number;
  readonly H: number;
  readonly W: number;
  readonly mode: Mode;
  /** (N, 3, H, W) normalised images; written by the caller before each run. */
  readonly images: WasmTensor;
  /** (N, K, H, W) class scores. */
  readonly logits: WasmTensor;
  readonly forward: readonly Step[];
  /** Empty in eval mode. Run after the loss has written `dlogits`. */
  readonly backward: readonly Step[];
  readonly dlogits: WasmTensor | null;
  /** Bytes of activations, gradients and scratch this plan holds. */
  readonly bytes: number;
  /** Every activation and gradient, by label (for listings and debugging). */
  readonly tensors: readonly WasmTensor[];
}

/**
 * Activations are reserved lazily as planning names them and the whole list is laid out at the
 * end (one `arena.plan`, all or nothing); steps read their tensors' offsets when they run.
 */
class LazyTensor implements WasmTensor {
  ptr = -1;
  constructor(readonly shape: readonly number[], readonly label: string, readonly bytes: number) {}
}

class Planner {
  readonly tensors: LazyTensor[] = [];
  readonly fwd: Step[] = [];
  readonly bwd: Step[] = [];
  readonly scratch = new SharedScratch();
  private readonly tape: Array<() => void> = [];
  private readonly grads = new Map<WasmTensor, WasmTensor>();

  constructor(
    readonly rt: WasmRuntime,
    readonly store: WasmParamStore,
    readonly mode: Mode,
    readonly input: WasmTensor,
  ) {}

  alloc(shape: number[], label: string): LazyTensor {
    const t = new LazyTensor(shape, label, numel(shape) * 4);
    this.tensors.push(t);
    return t;
  }

  /**
   * A conv pass's steps need their tensors' offsets, known only after layout: it is planned by
   * `materialise` (which also records its scratch in the shared region) and runs what that planned.
   */
  deferred(label: string, make: () => Step[]): Step {
    let steps: Step[] | null = null;
    const d: Step & { plan(): void } = {
      label,
      plan: () => void (steps = make()),
      run: () => {
        if (!steps) throw new GpuError(`step ${label} ran before it was planned`, 'fcn.wasm');
        for (const s of steps) s.run();
      },
    };
    return d;
  }

  onBackward(fn: () => void): void {
    if (this.mode === 'train') this.tape.push(fn);
  }

  planBackward(): void {
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]!();
  }

  gradOf(t: WasmTensor): WasmTensor {
    const g = this.grads.get(t);
    if (!g) throw new GpuError(`no gradient planned for '${t.label}'`, 'fcn.backward');
    return g;
  }

  gradTarget(t: WasmTensor): { dx: WasmTensor; accumulate: boolean } {
    const g = this.grads.get(t);
    if (g) return { dx: g, accumulate: true };
    const dx = this.alloc([...t.shape], `d${t.label}`);
    this.grads.set(t, dx);
    return { dx, accumulate: false };
  }

  overwriteTarget(t: WasmTensor, write: (dx: WasmTensor) => Step): void {
    const existing = this.grads.get(t);
    if (!existing) {
      this.bwd.push(write(this.gradTarget(t).dx));
      return;
    }
    const tmp = this.alloc([...t.shape], `d${t.label}.part`);
    this.bwd.push(write(tmp));
    const n = numel(t.shape);
    this.bwd.push({ label: `add(d${t.label})`, run: () => ops.add(this.rt, existing.ptr, existing.ptr, tmp.ptr, n) });
  }

  shareGrad(t: WasmTensor, g: WasmTensor): void {
    const existing = this.grads.get(t);
    if (!existing) this.grads.set(t, g);
    else {
      const n = numel(t.shape);
      this.bwd.push({ label: `add(d${t.label})`, run: () => ops.add(this.rt, existing.ptr, existing.ptr, g.ptr, n) });
    }
  }

  needsGrad(t: WasmTensor): boolean {
    return t !== this.input;
  }
}

function conv(pl: Planner, c: ConvSpec, x: WasmTensor): WasmTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const p: Conv2dParams = { N, C, H, W, K: c.outC, kh: c.k, kw: c.k, strideH: c.stride, strideW: c.stride, padH: c.pad, padW: c.pad };
  const { OH, OW } = conv2dOutSize(p);
  const y = pl.alloc([N, c.outC, OH, OW], c.name);
  const w = pl.store.get(`${c.name}.weight`);
  const b = c.bias ? pl.store.get(`${c.name}.bias`) : null;
  const { rt, scratch } = pl;
  pl.fwd.push(pl.deferred(`conv2d.forward(${c.name})`, () => conv2dForward(rt, y.ptr, x.ptr, w.ptr, b?.ptr ?? 0, p, c.name, scratch)));
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    const dw = pl.store.grad(`${c.name}.weight`);
    const db = c.bias ? pl.store.grad(`${c.name}.bias`) : null;
    pl.bwd.push(pl.deferred(`conv2d.backward_weight(${c.name})`, () => conv2dBackwardWeight(rt, dw.ptr, db?.ptr ?? 0, dy.ptr, x.ptr, p, c.name, scratch)));
    if (!pl.needsGrad(x)) return;
    const { dx, accumulate } = pl.gradTarget(x);
    pl.bwd.push(pl.deferred(`conv2d.backward_input(${c.name})`, () => conv2dBackwardInput(rt, dx.ptr, dy.ptr, w.ptr, p, accumulate, c.name, scratch)));
  });
  return y;
}

function deconv(pl: Planner, d: DeconvSpec, x: WasmTensor): WasmTensor {
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const p: ConvTranspose2dParams = { N, Cin, H, W, Cout: d.channels, kh: d.k, kw: d.k, strideH: d.stride, strideW: d.stride, padH: d.pad, padW: d.pad };
  const { OH, OW } = convTranspose2dOutSize(p);
  const y = pl.alloc([N, d.channels, OH, OW], d.name);
  const w = pl.store.get(`${d.name}.weight`);
  const b = pl.store.get(`${d.name}.bias`);
  const { rt, scratch } = pl;
  pl.fwd.push(pl.deferred(`conv_transpose2d.forward(${d.name})`, () => convTranspose2dForward(rt, y.ptr, x.ptr, w.ptr, b.ptr, p, d.name, scratch)));
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    const dw = pl.store.grad(`${d.name}.weight`), db = pl.store.grad(`${d.name}.bias`);
    pl.bwd.push(pl.deferred(`conv_transpose2d.backward_weight(${d.name})`, () => convTranspose2dBackwardWeight(rt, dw.ptr, db.ptr, dy.ptr, x.ptr, p, d.name, scratch)));
    const { dx, accumulate } = pl.gradTarget(x);
    pl.bwd.push(pl.deferred(`conv_transpose2d.backward_input(${d.name})`, () => convTranspose2dBackwardInput(rt, dx.ptr, dy.ptr, w.ptr, p, accumulate, d.name, scratch)));
  });
  return y;
}

function batchNorm(pl: Planner, name: string, x: WasmTensor): WasmTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const y = pl.alloc([...x.shape], name);
  const saveMean = pl.alloc([C], `${name}.saved_mean`);
  const saveInvstd = pl.alloc([C], `${name}.saved_invstd`);
  const s = { N, C, H, W };
  const st = () => ({
    weight: pl.store.get(`${name}.weight`).ptr, bias: pl.store.get(`${name}.bias`).ptr,
    runningMean: pl.store.get(`${name}.running_mean`).ptr, runningVar: pl.store.get(`${name}.running_var`).ptr,
    saveMean: saveMean.ptr, saveInvstd: saveInvstd.ptr,
  });
  const { rt } = pl;
  pl.fwd.push(pl.mode === 'train'
    ? { label: `batch_norm.train(${name})`, run: () => ops.batchNormTrain(rt, y.ptr, x.ptr, st(), s) }
    : { label: `batch_norm.eval(${name})`, run: () => ops.batchNormEval(rt, y.ptr, x.ptr, st(), s) });
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    const dw = pl.store.grad(`${name}.weight`), db = pl.store.grad(`${name}.bias`);
    pl.overwriteTarget(x, (dx) => ({ label: `batch_norm.backward(${name})`, run: () => ops.batchNormBackward(rt, dx.ptr, dw.ptr, db.ptr, dy.ptr, x.ptr, st(), s) }));
  });
  return y;
}

function relu(pl: Planner, x: WasmTensor, name: string): WasmTensor {
  const y = pl.alloc([...x.shape], name);
  const n = numel(x.shape);
  const { rt } = pl;
  pl.fwd.push({ label: `relu(${name})`, run: () => ops.reluForward(rt, y.ptr, x.ptr, n) });
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    pl.overwriteTarget(x, (dx) => ({ label: `relu.backward(${name})`, run: () => ops.reluBackward(rt, dx.ptr, dy.ptr, y.ptr, n) }));
  });
  return y;
}

function maxPool(pl: Planner, x: WasmTensor): WasmTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const p = { N, C, H, W, k: 3, stride: 2, pad: 1 };
  const { OH, OW } = ops.poolOutSize(p);
  const y = pl.alloc([N, C, OH, OW], 'maxpool');
  const indices = pl.alloc([N, C, OH, OW], 'maxpool.indices');
  const { rt } = pl;
  pl.fwd.push({ label: 'max_pool2d(maxpool)', run: () => ops.maxPoolForward(rt, y.ptr, indices.ptr, x.ptr, p) });
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    pl.overwriteTarget(x, (dx) => ({ label: 'max_pool2d.backward(maxpool)', run: () => ops.maxPoolBackward(rt, dx.ptr, dy.ptr, indices.ptr, p) }));
  });
  return y;
}

function sum(pl: Planner, a: WasmTensor, b: WasmTensor, name: string): WasmTensor {
  const y = pl.alloc([...a.shape], name);
  const n = numel(a.shape);
  const { rt } = pl;
  pl.fwd.push({ label: `add(${name})`, run: () => ops.add(rt, y.ptr, a.ptr, b.ptr, n) });
  pl.onBackward(() => {
    const dy = pl.gradOf(y);
    pl.shareGrad(a, dy);
    pl.shareGrad(b, dy);
  });
  return y;
}

/**
 * Plans the network for input (N, 3, H, W) in `mode` on top of the arena (the caller frees it
 * with arena.release to a mark taken before). Throws WasmMemoryError, naming the largest regions,
 * before any memory grows when the plan does not fit.
 */
export function planWasmGraph(rt: WasmRuntime, store: WasmParamStore, cfg: FcnConfig, N: number, H: number, W: number, mode: Mode): WasmGraphPlan {
  checkInputShape(N, H, W);
  const pl = new Planner(rt, store, mode, new LazyTensor([N, 3, H, W], 'images', N * 3 * H * W * 4));
  const images = pl.input as LazyTensor;
  pl.tensors.push(images);
  let x: WasmTensor = conv(pl, STEM, images);
  x = batchNorm(pl, 'bn1', x);
  x = relu(pl, x, 'relu');
  x = maxPool(pl, x);
  const stageOut: WasmTensor[] = [];
  for (const b of resnet18Blocks()) {
    const input = x;
    let h = conv(pl, b.conv1, input);
    h = batchNorm(pl, b.bn1, h);
    h = relu(pl, h, `${b.prefix}.relu1`);
    h = conv(pl, b.conv2, h);
    h = batchNorm(pl, b.bn2, h);
    let shortcut = input;
    if (b.downsample) {
      shortcut = conv(pl, b.downsample.conv, input);
      shortcut = batchNorm(pl, b.downsample.bn, shortcut);
    }
    x = relu(pl, sum(pl, h, shortcut, `${b.prefix}.add`), `${b.prefix}.relu2`);
    if (b.prefix.endsWith('.1')) stageOut.push(x);
  }
  const head = headSpec(cfg);
  let score = conv(pl, head.scores[0]!, stageOut[3]!);
  for (let i = 1; i < head.scores.length; i++) {
    const up = deconv(pl, head.deconvs[i - 1]!, score);
    const skip = conv(pl, head.scores[i]!, stageOut[3 - i]!);
    score = sum(pl, up, skip, `fuse${i}`);
  }
  const logits = deconv(pl, head.deconvs[head.deconvs.length - 1]!, score);
  let dlogits: WasmTensor | null = null;
  if (mode === 'train') {
    dlogits = pl.gradTarget(logits).dx;
    pl.planBackward();
  }
  // Lay out every tensor at once; then plan the steps' scratch (their sizes are known only once
  // each conv has been planned) by running each deferred planner's `make` with offsets known.
  const ptrs = rt.arena.plan(pl.tensors.map((t) => ({ label: t.label, bytes: t.bytes })));
  pl.tensors.forEach((t, i) => (t.ptr = ptrs[i]!));
  const forward = materialise(pl.fwd);
  const backward = materialise(pl.bwd);
  pl.scratch.allocate(rt.arena, `scratch (${N}x3x${H}x${W} ${mode})`);
  const bytes = pl.tensors.reduce((a, t) => a + t.bytes, 0) + pl.scratch.bytes;
  return { N, H, W, mode, images, logits, dlogits, forward, backward, bytes, tensors: pl.tensors };
}

/** Plans deferred steps now that offsets are fixed (their scratch is recorded in the shared region). */
function materialise(steps: Step[]): Step[] {
  for (const s of steps) (s as { plan?: () => void }).plan?.();
  return steps;
}
