// FCN-ResNet18 on the WebAssembly backend: the same architecture, state-dict names, initial state
// and plan cache as FcnModel (../model.ts), with parameters and plans in the runtime's memory.
// Plans sit above the parameters in the arena: freeing them is one release to the store's top,
// and `generation` tells the trainer and predictors that their planned offsets are gone.
import type { WasmRuntime } from '../../backends/wasm/runtime.js';
import { GpuError } from '../../gpu/device.js';
import { checkStateDict, initialState, type InitOptions, type StateDict } from '../model.js';
import type { Mode } from '../graph.js';
import { fcnParamSpecs, type FcnConfig } from '../spec.js';
import { planWasmGraph, type WasmGraphPlan } from './graph.js';
import { WasmParamStore } from './params.js';

/**
 * Models on one runtime, bottom to top of its arena. A disposed model's memory is returned once no
 * live model sits above it (a model replaced by a newer one is freed when that one goes).
 */
const stacks = new WeakMap<WasmRuntime, Array<{ model: WasmFcnModel; base: number; live: boolean }>>();

export class WasmFcnModel {
  readonly backend = 'wasm' as const;
  readonly store: WasmParamStore;
  private plans = new Map<string, WasmGraphPlan>();
  /** Bumped whenever plans (and everything allocated above the parameters) are freed. */
  generation = 0;

  constructor(
    readonly rt: WasmRuntime,
    readonly config: FcnConfig,
  ) {
    if (!(Number.isInteger(config.classes) && config.classes >= 1 && config.classes <= 255)) {
      throw new GpuError(`classes must be an integer in [1, 255] (255 is the ignore label), got ${config.classes}`, 'fcn');
    }
    let stack = stacks.get(rt);
    if (!stack) stacks.set(rt, (stack = []));
    // Plans of the model below (if any) would sit under this one's parameters: free them first.
    stack.at(-1)?.model.freePlans();
    const base = rt.arena.mark();
    this.store = new WasmParamStore(rt, fcnParamSpecs(config));
    this.store.beforeGrow = () => {
      this.assertTop('momentum');
      this.freePlans();
    };
    stack.push({ model: this, base, live: true });
  }

  shapes(): Map<string, number[]> {
    return new Map(this.store.specs.map((s) => [s.name, [...s.shape]]));
  }

  initialise(opts: InitOptions = {}): void {
    this.store.load(initialState(this.config, opts).tensors);
    this.store.numBatchesTracked = 0;
  }

  loadState(state: StateDict): void {
    checkStateDict(state, this.shapes(), this.config);
    this.store.load(state.tensors);
    this.store.numBatchesTracked = state.numBatchesTracked;
  }

  async readState(): Promise<StateDict> {
    return { tensors: await this.store.readAll(), numBatchesTracked: this.store.numBatchesTracked };
  }

  /** The plan for input (N, 3, H, W) in `mode`, made once and cached (see the file comment). */
  plan(N: number, H: number, W: number, mode: Mode): WasmGraphPlan {
    const key = `${N}x${H}x${W}:${mode}`;
    const p = this.plans.get(key);
    if (p) return p;
    this.assertTop('plan');
    const mark = this.rt.arena.mark();
    try {
      const made = planWasmGraph(this.rt, this.store, this.config, N, H, W, mode);
      this.plans.set(key, made);
      return made;
    } catch (e) {
      this.rt.arena.release(mark);
      throw e;
    }
  }

  /**
   * Reserves regions above the plans (a trainer's labels, an evaluator's confusion matrix); they
   * are freed with the plans. Returns their offsets and the generation they belong to.
   */
  reserve(regions: Array<{ label: string; bytes: number }>): number[] {
    this.assertTop('reserve');
    return this.rt.arena.plan(regions);
  }

  /** Plans are freed all at once (the arena is a stack): beyond `max` plans, every plan goes. */
  async trimPlans(max: number): Promise<void> {
    if (this.plans.size > max) this.freePlans();
  }

  get planCount(): number {
    return this.plans.size;
  }

  async releasePlans(): Promise<void> {
    this.freePlans();
  }

  private freePlans(): void {
    this.plans.clear();
    // Only the top model may have plans (a new model frees its predecessor's first).
    const stack = stacks.get(this.rt)!;
    if (stack.at(-1)?.model === this) this.rt.arena.release(this.store.top);
    this.generation++;
  }

  private assertTop(op: string): void {
    if (stacks.get(this.rt)?.at(-1)?.model !== this) {
      throw new GpuError(`${op}: a newer model lives on this wasm runtime; only the newest model can plan (dispose it first)`, 'fcn.wasm');
    }
  }

  async dispose(): Promise<void> {
    const stack = stacks.get(this.rt)!;
    const entry = stack.find((e) => e.model === this);
    if (!entry?.live) return;
    this.freePlans();
    entry.live = false;
    while (stack.length && !stack.at(-1)!.live) this.rt.arena.release(stack.pop()!.base);
  }
}
