// The wasm twin of ParamStore (../params.ts): parameters, their gradients, momentum and running
// statistics in arenas of the runtime's memory, every tensor at a 64-byte-aligned offset, so SGD
// and zeroing are one kernel call per arena and checkpoints copy whole arenas. Same names, same
// arena split and the same methods as the WebGPU store, so checkpoints move between backends.
import { fill } from '../../backends/wasm/gemm.js';
import type { WasmRuntime } from '../../backends/wasm/runtime.js';
import { GpuError } from '../../gpu/device.js';
import { numel } from '../../gpu/tensor.js';
import { ParamLayout, type ArenaName, type ParamSpec, type Slot } from '../params.js';

/** A tensor in the runtime's memory: byte offset and shape. */
export interface WasmTensor {
  ptr: number;
  shape: readonly number[];
  label: string;
}

export interface WasmParamArena {
  name: ArenaName;
  /** Elements (padding included): what SGD and zeroing cover. */
  elements: number;
  values: number;
  grads: number;
  /** 0 until momentum is first needed. */
  momentum: number;
}

/** Elements per alignment step (64 bytes: a cache line, and v128-aligned). */
const ALIGN = 16;

export class WasmParamStore {
  readonly layout: ParamLayout;
  readonly arenas = new Map<ArenaName, WasmParamArena>();
  numBatchesTracked = 0;
  /** First arena byte past the store's own regions: where plans start. */
  top: number;
  /**
   * Called before the store takes more memory (momentum): the owner frees everything above `top`
   * (plans), so the store's regions stay contiguous below every plan.
   */
  beforeGrow: () => void = () => undefined;

  constructor(
    readonly rt: WasmRuntime,
    readonly specs: readonly ParamSpec[],
  ) {
    this.layout = new ParamLayout(specs, ALIGN);
    const next = this.layout.sizes;
    const regions: Array<{ label: string; bytes: number }> = [];
    for (const [name, elements] of next) {
      regions.push({ label: `params.${name}`, bytes: elements * 4 });
      if (name === 'weight' || name === 'bias') regions.push({ label: `grads.${name}`, bytes: elements * 4 });
    }
    const ptrs = rt.arena.plan(regions);
    let i = 0;
    for (const [name, elements] of next) {
      const trained = name === 'weight' || name === 'bias';
      const values = ptrs[i++]!;
      const grads = trained ? ptrs[i++]! : 0;
      fill(rt, values, elements);
      if (grads) fill(rt, grads, elements);
      this.arenas.set(name, { name, elements, values, grads, momentum: 0 });
    }
    this.top = rt.arena.mark();
  }

  trainedArenas(): WasmParamArena[] {
    return [...this.arenas.values()].filter((a) => a.grads);
  }

  /** Momentum buffers, created on first use (plain SGD needs none); plans are freed first. */
  ensureMomentum(): void {
    if (this.hasMomentum()) return;
    this.beforeGrow();
    this.rt.arena.release(this.top);
    for (const a of this.trainedArenas()) {
      a.momentum = this.rt.arena.alloc(a.elements * 4, `momentum.${a.name}`);
      fill(this.rt, a.momentum, a.elements);
    }
    this.top = this.rt.arena.mark();
  }

  hasMomentum(): boolean {
    return this.trainedArenas().some((a) => a.momentum);
  }

  get parameterCount(): number {
    return this.layout.parameterCount;
  }

  private slot(name: string): Slot {
    return this.layout.slot(name);
  }

  get(name: string): WasmTensor {
    const { spec, arena, offset } = this.slot(name);
    return { ptr: this.arenas.get(arena)!.values + offset * 4, shape: spec.shape, label: name };
  }

  grad(name: string): WasmTensor {
    const { spec, arena, offset } = this.slot(name);
    const grads = this.arenas.get(arena)!.grads;
    if (!grads) throw new GpuError(`'${name}' is a statistic and has no gradient`, 'ParamStore');
    return { ptr: grads + offset * 4, shape: spec.shape, label: `d${name}` };
  }

  load(values: Map<string, Float32Array>): void {
    for (const [name, v] of values) {
      const { spec } = this.slot(name);
      if (v.length !== numel(spec.shape)) {
        throw new GpuError(`'${name}' has ${v.length} values, expected [${spec.shape}] = ${numel(spec.shape)}`, 'ParamStore.load');
      }
    }
    for (const [name, v] of values) this.rt.write(this.get(name).ptr, v);
  }

  /** Reads parameters and statistics ('values'), gradients or momentum, by name. */
  async readAll(which: 'values' | 'grads' | 'momentum' = 'values'): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const { spec, arena, offset } of this.layout.slots.values()) {
      const base = this.arenas.get(arena)![which];
      if (base) out.set(spec.name, this.rt.read(base + offset * 4, numel(spec.shape)));
    }
    return out;
  }

  loadMomentum(values: Map<string, Float32Array>): void {
    this.ensureMomentum();
    for (const [name, v] of values) {
      const { arena, offset } = this.slot(name);
      this.rt.write(this.arenas.get(arena)!.momentum + offset * 4, v);
    }
  }
}
