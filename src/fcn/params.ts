// Parameters, their gradients and optimiser state live in arena buffers with every tensor at an
// aligned offset (llm.c's malloc_and_point_parameters): SGD is one dispatch per arena, zeroing
// gradients one fill per arena, and checkpoints copy whole buffers.
//
// Why two arenas of each kind and not one: WebGPU validates buffer usage per buffer, not per
// range, so a dispatch that writes two tensors of one buffer (BatchNorm's backward writes dweight
// and dbias; its forward updates running_mean and running_var) is invalid. Weights and biases
// therefore live in separate arenas ('weight' and 'bias'), and so do running means and variances.
import type { Gpu } from '../gpu/device.js';
import { GpuError } from '../gpu/device.js';
import { numel, readBytes, Tensor } from '../gpu/tensor.js';

/** One state-dict entry: a trained parameter or a running statistic. */
export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'param' | 'stat';
}

/** Which arena a tensor lives in. */
export type ArenaName = 'weight' | 'bias' | 'running_mean' | 'running_var';

/** Parameter arenas with their gradient (and momentum) twins of the same layout. */
export interface ParamArena {
  name: ArenaName;
  /** Elements (padding included): what SGD and zeroing cover. */
  elements: number;
  values: Tensor;
  grads: Tensor | null;
  momentum: Tensor | null;
}

export interface Slot {
  spec: ParamSpec;
  arena: ArenaName;
  /** Element offset in its arena. */
  offset: number;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Which arena a state-dict entry lives in (the same split on both backends). */
export function arenaOf(spec: ParamSpec): ArenaName {
  if (spec.kind === 'stat') return spec.name.endsWith('running_var') ? 'running_var' : 'running_mean';
  return spec.name.endsWith('.bias') ? 'bias' : 'weight';
}

/**
 * Where every state-dict entry sits: its arena and element offset, each offset a multiple of
 * `align` elements; and each arena's size. Shared by the WebGPU and the wasm parameter stores.
 */
export class ParamLayout {
  readonly slots = new Map<string, Slot>();
  /** Elements per arena, padding included, in first-use order. */
  readonly sizes = new Map<ArenaName, number>();

  constructor(
    readonly specs: readonly ParamSpec[],
    align: number,
  ) {
    for (const spec of specs) {
      const arena = arenaOf(spec);
      const offset = this.sizes.get(arena) ?? 0;
      this.slots.set(spec.name, { spec, arena, offset });
      this.sizes.set(arena, Math.ceil((offset + numel(spec.shape)) / align) * align);
    }
  }

  /** Trained parameter count (no padding). */
  get parameterCount(): number {
    return this.specs.filter((s) => s.kind === 'param').reduce((a, s) => a + numel(s.shape), 0);
  }

  slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new GpuError(`no parameter '${name}'`, 'ParamStore');
    return s;
  }
}

/** Arenas for parameters (+ grads, momentum) and statistics, with tensor views by name. */
export class ParamStore {
  readonly layout: ParamLayout;
  readonly arenas = new Map<ArenaName, ParamArena>();
  /** BatchNorm's num_batches_tracked (the same for every BN layer). */
  numBatchesTracked = 0;

  constructor(
    readonly gpu: Gpu,
    readonly specs: readonly ParamSpec[],
  ) {
    this.layout = new ParamLayout(specs, gpu.limits.minStorageBufferOffsetAlignment / 4);
    for (const [name, elements] of this.layout.sizes) {
      const trained = name === 'weight' || name === 'bias';
      this.arenas.set(name, {
        name,
        elements,
        values: arena(gpu, elements, `params.${name}`),
        grads: trained ? arena(gpu, elements, `grads.${name}`) : null,
        momentum: null,
      });
    }
  }

  /** The arenas holding trained parameters (what SGD and zeroing cover). */
  trainedArenas(): ParamArena[] {
    return [...this.arenas.values()].filter((a) => a.grads);
  }

  /** Momentum buffers, created on first use (plain SGD needs none). */
  ensureMomentum(): void {
    for (const a of this.trainedArenas()) a.momentum ??= arena(this.gpu, a.elements, `momentum.${a.name}`);
  }

  hasMomentum(): boolean {
    return this.trainedArenas().some((a) => a.momentum);
  }

  /** Trained parameter count (no padding). */
  get parameterCount(): number {
    return this.layout.parameterCount;
  }

  private slot(name: string): Slot {
    return this.layout.slot(name);
  }

  /** The tensor of a parameter or statistic. */
  get(name: string): Tensor {
    const { spec, arena, offset } = this.slot(name);
    return this.arenas.get(arena)!.values.view(spec.shape, offset, name);
  }

  /** The gradient of a parameter. */
  grad(name: string): Tensor {
    const { spec, arena, offset } = this.slot(name);
    const grads = this.arenas.get(arena)!.grads;
    if (!grads) throw new GpuError(`'${name}' is a statistic and has no gradient`, 'ParamStore');
    return grads.view(spec.shape, offset, `d${name}`);
  }

  /** Uploads values by name; shapes must match the spec (checked before any upload). */
  load(values: Map<string, Float32Array>): void {
    for (const [name, v] of values) {
      const { spec } = this.slot(name);
      if (v.length !== numel(spec.shape)) {
        throw new GpuError(`'${name}' has ${v.length} values, expected [${spec.shape}] = ${numel(spec.shape)}`, 'ParamStore.load');
      }
    }
    for (const [name, v] of values) this.get(name).write(v);
  }

  private async readArenas(which: 'values' | 'grads' | 'momentum'): Promise<Map<ArenaName, Float32Array>> {
    const out = new Map<ArenaName, Float32Array>();
    for (const a of this.arenas.values()) {
      const t = a[which];
      if (t) out.set(a.name, new Float32Array(await readBytes(this.gpu, t.buffer, 0, a.elements * 4)));
    }
    return out;
  }

  /** Reads parameters and statistics ('values'), gradients or momentum, by name (one readback per arena). */
  async readAll(which: 'values' | 'grads' | 'momentum' = 'values'): Promise<Map<string, Float32Array>> {
    const arenas = await this.readArenas(which);
    const out = new Map<string, Float32Array>();
    for (const { spec, arena, offset } of this.layout.slots.values()) {
      const src = arenas.get(arena);
      if (src) out.set(spec.name, src.slice(offset, offset + numel(spec.shape)));
    }
    return out;
  }

  /** Restores momentum buffers by parameter name. */
  loadMomentum(values: Map<string, Float32Array>): void {
    this.ensureMomentum();
    for (const [name, v] of values) {
      const { spec, arena, offset } = this.slot(name);
      this.arenas.get(arena)!.momentum!.view(spec.shape, offset).write(v);
    }
  }

  dispose(): void {
    for (const a of this.arenas.values()) for (const t of [a.values, a.grads, a.momentum]) t?.dispose();
  }
}

function arena(gpu: Gpu, elements: number, label: string): Tensor {
  return new Tensor(gpu, gpu.createBuffer(label, elements * 4, STORAGE()), [elements], 'f32');
}
