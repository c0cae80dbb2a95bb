// FCN-ResNet18 (Long, Shelhamer & Darrell; the d2l.ai chapter): a ResNet-18 backbone without
// avgpool/fc, a 1x1 conv to K classes (`final_conv`) and a transposed conv (k64, s32, p16)
// initialised as bilinear upsampling (`transpose_conv`); FCN-16s/8s add skip connections.
import type { Gpu } from '../gpu/device.js';
import { GpuError } from '../gpu/device.js';
import { numel } from '../gpu/tensor.js';
import { bilinearKernel, defaultBias, kaimingNormalFanOut, xavierUniform } from './init.js';
import { ParamStore } from './params.js';
import { Rng } from './random.js';
import { batchNorms, fcnParamSpecs, headSpec, resnet18Blocks, STEM, type FcnConfig } from './spec.js';
import { planGraph, type GraphPlan, type Mode } from './graph.js';

export interface InitOptions {
  seed?: number;
  /** How `transpose_conv` (and the 2x skip deconvs) start: the chapter's bilinear kernel, or Xavier (its exercise 1). */
  transposeInit?: 'bilinear' | 'xavier';
}

/** Host copy of every state-dict entry, plus BatchNorm's batch counter. */
export interface StateDict {
  tensors: Map<string, Float32Array>;
  numBatchesTracked: number;
}

/** The network's parameters on the GPU and the plans made for it, by input shape and mode. */
export class FcnModel {
  readonly backend = 'webgpu' as const;
  readonly store: ParamStore;
  private plans = new Map<string, Promise<GraphPlan>>();

  constructor(
    readonly gpu: Gpu,
    readonly config: FcnConfig,
  ) {
    if (!(Number.isInteger(config.classes) && config.classes >= 1 && config.classes <= 255)) {
      throw new GpuError(`classes must be an integer in [1, 255] (255 is the ignore label), got ${config.classes}`, 'fcn');
    }
    this.store = new ParamStore(gpu, fcnParamSpecs(config));
  }

  /** Expected shape of every state-dict entry. */
  shapes(): Map<string, number[]> {
    return new Map(this.store.specs.map((s) => [s.name, s.shape]));
  }

  /** Initialises every parameter on the host and uploads it (torchvision + the chapter's head). */
  initialise(opts: InitOptions = {}): void {
    this.store.load(initialState(this.config, opts).tensors);
    this.store.numBatchesTracked = 0;
  }

  /** Uploads a state dict (all entries must be present with the right shapes; see io/state_dict). */
  loadState(state: StateDict): void {
    checkStateDict(state, this.shapes(), this.config);
    this.store.load(state.tensors);
    this.store.numBatchesTracked = state.numBatchesTracked;
  }

  /** Reads every parameter and statistic back to the host. */
  async readState(): Promise<StateDict> {
    return { tensors: await this.store.readAll(), numBatchesTracked: this.store.numBatchesTracked };
  }

  /** The plan for input (N, 3, H, W) in `mode`, made once and cached. */
  plan(N: number, H: number, W: number, mode: Mode): Promise<GraphPlan> {
    const key = `${N}x${H}x${W}:${mode}`;
    let p = this.plans.get(key);
    // Most recently used last (a Map keeps insertion order), for trimPlans.
    if (p) {
      this.plans.delete(key);
      this.plans.set(key, p);
    }
    if (!p) {
      p = planGraph(this.gpu, this.store, this.config, N, H, W, mode);
      this.plans.set(key, p);
      p.catch(() => this.plans.delete(key));
    }
    return p;
  }

  /** Frees the least recently used plans beyond `max` (the engine calls this between calls, never during one). */
  async trimPlans(max: number): Promise<void> {
    const drop: Promise<GraphPlan>[] = [];
    for (const key of [...this.plans.keys()].slice(0, Math.max(0, this.plans.size - max))) {
      drop.push(this.plans.get(key)!);
      this.plans.delete(key);
    }
    for (const p of drop) (await p.catch(() => null))?.dispose();
  }

  /** How many input shapes have a plan (activations held on the device). */
  get planCount(): number {
    return this.plans.size;
  }

  /** Frees all plans (activations) but keeps parameters. */
  async releasePlans(): Promise<void> {
    const plans = [...this.plans.values()];
    this.plans.clear();
    for (const p of plans) (await p.catch(() => null))?.dispose();
  }

  async dispose(): Promise<void> {
    await this.releasePlans();
    this.store.dispose();
  }
}

/** Throws, listing every problem, unless `state` has exactly the entries and shapes of `shapes`. */
export function checkStateDict(state: StateDict, shapes: ReadonlyMap<string, readonly number[]>, cfg: FcnConfig): void {
  const problems: string[] = [];
  for (const [name, shape] of shapes) {
    const v = state.tensors.get(name);
    if (!v) problems.push(`missing '${name}' [${shape}]`);
    else if (v.length !== numel(shape)) problems.push(`'${name}' has ${v.length} values, expected [${shape}]`);
  }
  for (const name of state.tensors.keys()) if (!shapes.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length) throw new GpuError(`state dict does not fit ${cfg.head} with ${cfg.classes} classes: ${problems.join('; ')}`, 'fcn.load');
}

/** The initial state dict of a fresh model, computed on the host from the seed. */
export function initialState(cfg: FcnConfig, opts: InitOptions = {}): StateDict {
  const rng = new Rng(opts.seed ?? 0);
  const t = new Map<string, Float32Array>();
  const convs = [STEM, ...resnet18Blocks().flatMap((b) => [b.conv1, b.conv2, ...(b.downsample ? [b.downsample.conv] : [])])];
  for (const c of convs) t.set(`${c.name}.weight`, kaimingNormalFanOut([c.outC, c.inC, c.k, c.k], rng));
  for (const { name: bn, channels: c } of batchNorms()) {
    t.set(`${bn}.weight`, new Float32Array(c).fill(1));
    t.set(`${bn}.bias`, new Float32Array(c));
    t.set(`${bn}.running_mean`, new Float32Array(c));
    t.set(`${bn}.running_var`, new Float32Array(c).fill(1));
  }
  const head = headSpec(cfg);
  for (const s of head.scores) {
    const shape = [s.outC, s.inC, s.k, s.k];
    t.set(`${s.name}.weight`, xavierUniform(shape, rng));
    t.set(`${s.name}.bias`, defaultBias(shape, s.outC, rng));
  }
  for (const d of head.deconvs) {
    const shape = [d.channels, d.channels, d.k, d.k];
    t.set(`${d.name}.weight`, opts.transposeInit === 'xavier' ? xavierUniform(shape, rng) : bilinearKernel(d.channels, d.channels, d.k));
    // PyTorch's ConvTranspose2d bias default: U(±1/sqrt(fan_in)), fan_in = weight.size(1)·k·k.
    t.set(`${d.name}.bias`, defaultBias(shape, d.channels, rng));
  }
  return { tensors: t, numBatchesTracked: 0 };
}
