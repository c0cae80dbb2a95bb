// Kernels: WGSL + the facts needed to run it. Pipelines are created once per device under an
// explicit cache key; bind-group layouts and uniform layouts are derived from the WGSL itself
// (webgpu-utils), so no binding index or padding is written by hand. A Dispatch is planned once
// (pipeline, bind group, uniforms, grid) and replayed every step.
import {
  makeShaderDataDefinitions,
  makeStructuredView,
  type ShaderDataDefinitions,
  type StructuredView,
} from 'webgpu-utils';
import { Gpu, GpuError } from './device.js';
import { Tensor } from './tensor.js';

/** A WGSL compute kernel. `name` labels every GPU object made from it ('conv2d.forward'). */
export interface KernelDef {
  name: string;
  code: string;
  entryPoint?: string;
  /** Pipeline-overridable constants (workgroup sizes, tile sizes); part of the cache key. */
  constants?: Record<string, number>;
}

interface CompiledKernel {
  pipeline: GPUComputePipeline;
  defs: ShaderDataDefinitions;
  /** binding name -> (index, access) for group 0. */
  resources: Map<string, { binding: number; kind: 'storage' | 'read-only-storage' | 'uniform' }>;
}

/** One planned dispatch: created once for fixed shapes, encoded every time it runs. */
export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** The dispatch's own uniform buffer and its WGSL-derived view (absent if it has none). */
  readonly uniform?: { buffer: GPUBuffer; view: StructuredView };
  /** Scratch buffers an op planned alongside this dispatch (e.g. split-K partial sums); freed by disposeDispatch. */
  scratch?: GPUBuffer[];
  /** Shared scratch this dispatch holds (pool.ts holdScratch); let go by disposeDispatch. */
  release?: (() => void)[];
}

export type Binding = Tensor | GPUBufferBinding;

export interface DispatchArgs {
  /** Storage buffers by WGSL variable name. */
  bindings: Record<string, Binding>;
  /** Fields of the kernel's single `var<uniform>` struct, by WGSL field name. */
  uniforms?: Record<string, number | number[]>;
  workgroups: readonly [number, number?, number?];
  /** Extra label text (e.g. the layer name). */
  label?: string;
}

function cacheKey(def: KernelDef): string {
  const c = def.constants ? Object.entries(def.constants).sort().map(([k, v]) => `${k}=${v}`).join(',') : '';
  return `kernel:${def.name}:${def.entryPoint ?? 'main'}:${c}`;
}

/** Compiles (once per device and key) and returns the pipeline of `def`. */
export async function compile(gpu: Gpu, def: KernelDef): Promise<CompiledKernel> {
  const key = cacheKey(def);
  const hit = gpu.cache.get(key) as Promise<CompiledKernel> | undefined;
  if (hit) return hit;
  const made = compileUncached(gpu, def);
  gpu.cache.set(key, made);
  made.catch(() => gpu.cache.delete(key));
  return made;
}

async function compileUncached(gpu: Gpu, def: KernelDef): Promise<CompiledKernel> {
  const { device } = gpu;
  const entryPoint = def.entryPoint ?? 'main';
  const defs = makeShaderDataDefinitions(def.code);
  const ep = defs.entryPoints[entryPoint];
  if (!ep) throw new GpuError(`no entry point '${entryPoint}' in WGSL`, def.name);
  const resources: CompiledKernel['resources'] = new Map();
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const r of ep.resources) {
    if (r.group !== 0) throw new GpuError(`binding '${r.name}' is in group ${r.group}; kernels use group 0`, def.name);
    const kind = r.entry.buffer?.type ?? 'uniform';
    resources.set(r.name, { binding: r.entry.binding, kind: kind as 'storage' | 'read-only-storage' | 'uniform' });
    entries.push({ binding: r.entry.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: kind } });
  }
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: def.name, code: def.code });
  const layout = device.createPipelineLayout({
    label: def.name,
    bindGroupLayouts: [device.createBindGroupLayout({ label: def.name, entries })],
  });
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({
      label: def.name,
      layout,
      compute: { module, entryPoint, constants: def.constants },
    });
  } catch (e) {
    await device.popErrorScope();
    const info = await module.getCompilationInfo();
    const msgs = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`).join('\n');
    throw new GpuError(`pipeline creation failed: ${(e as Error).message}\n${msgs}`, def.name);
  }
  const err = await device.popErrorScope();
  if (err) throw new GpuError(`validation error creating pipeline: ${err.message}`, def.name);
  return { pipeline, defs, resources };
}

function asBinding(b: Binding): GPUBufferBinding {
  return b instanceof Tensor ? b.binding() : b;
}

/** Plans one dispatch of `def`: checks bindings against WGSL and device limits, writes uniforms. */
export async function makeDispatch(gpu: Gpu, def: KernelDef, args: DispatchArgs): Promise<Dispatch> {
  const k = await compile(gpu, def);
  const label = args.label ? `${def.name}(${args.label})` : def.name;
  const limits = gpu.limits;
  const entries: GPUBindGroupEntry[] = [];
  let uniform: Dispatch['uniform'];
  for (const [name, r] of k.resources) {
    if (r.kind === 'uniform') {
      const view = makeStructuredView(k.defs.uniforms[name]!);
      if (args.uniforms) view.set(args.uniforms);
      const buffer = gpu.createBuffer(`${label}.${name}`, view.arrayBuffer.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      gpu.device.queue.writeBuffer(buffer, 0, view.arrayBuffer);
      uniform = { buffer, view };
      entries.push({ binding: r.binding, resource: { buffer } });
      continue;
    }
    const given = args.bindings[name];
    if (!given) throw new GpuError(`missing binding '${name}'`, label);
    const b = asBinding(given);
    const size = b.size ?? b.buffer.size - (b.offset ?? 0);
    if (size > limits.maxStorageBufferBindingSize) {
      throw new GpuError(
        `binding '${name}' is ${size} bytes, over maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}`,
        label,
      );
    }
    if ((b.offset ?? 0) % limits.minStorageBufferOffsetAlignment !== 0) {
      throw new GpuError(`binding '${name}' offset ${b.offset} is not a multiple of ${limits.minStorageBufferOffsetAlignment}`, label);
    }
    entries.push({ binding: r.binding, resource: b });
  }
  for (const name of Object.keys(args.bindings)) {
    if (!k.resources.has(name)) throw new GpuError(`binding '${name}' is not used by the WGSL`, label);
  }
  checkAliasing(label, k, args.bindings);
  const [x, y = 1, z = 1] = args.workgroups;
  const maxDim = limits.maxComputeWorkgroupsPerDimension;
  for (const n of [x, y, z]) {
    if (!(n >= 0 && n <= maxDim && Number.isInteger(n))) {
      throw new GpuError(`grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${maxDim}`, label);
    }
  }
  const bindGroup = gpu.device.createBindGroup({ label, layout: k.pipeline.getBindGroupLayout(0), entries });
  return { label, pipeline: k.pipeline, bindGroup, workgroups: [x, y, z], uniform };
}

/** WebGPU forbids a buffer bound writable alongside any other binding of it in one dispatch. */
function checkAliasing(label: string, k: CompiledKernel, bindings: Record<string, Binding>): void {
  const named = Object.entries(bindings).map(([name, b]) => ({ name, b: asBinding(b), writable: k.resources.get(name)?.kind === 'storage' }));
  for (const w of named.filter((n) => n.writable)) {
    for (const o of named) {
      if (o !== w && o.b.buffer === w.b.buffer) {
        throw new GpuError(`'${w.name}' (read_write) and '${o.name}' are the same buffer '${w.b.buffer.label}'; use separate buffers`, label);
      }
    }
  }
}

/** Rewrites some uniform fields of a planned dispatch (e.g. the learning rate). */
export function setUniforms(gpu: Gpu, d: Dispatch, values: Record<string, number | number[]>): void {
  if (!d.uniform) throw new GpuError('kernel has no uniforms', d.label);
  d.uniform.view.set(values);
  gpu.device.queue.writeBuffer(d.uniform.buffer, 0, d.uniform.view.arrayBuffer);
}

/** Encodes dispatches into a compute pass, in order. */
export function encode(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    if (d.workgroups[0] * d.workgroups[1] * d.workgroups[2] === 0) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Runs dispatches in one command encoder and one compute pass, and submits. */
export function submit(gpu: Gpu, dispatches: readonly Dispatch[], label = 'webfcn.step'): void {
  gpu.check();
  const enc = gpu.device.createCommandEncoder({ label });
  const pass = enc.beginComputePass({ label });
  encode(pass, dispatches);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** Frees what a planned dispatch owns (its uniform buffer and any scratch buffers). */
export function disposeDispatch(gpu: Gpu, d: Dispatch): void {
  if (d.uniform) gpu.destroyBuffer(d.uniform.buffer);
  for (const b of d.scratch ?? []) gpu.destroyBuffer(b);
  for (const r of d.release ?? []) r();
}

/** Integer ceil(a / b). */
export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/**
 * A 1-D grid of `n` threads in workgroups of `wg`, folded into (x, y) when it exceeds the
 * per-dimension limit. Kernels recover the linear index as
 * `gid.x + gid.y * nwg.x * WG` with `@builtin(num_workgroups) nwg`.
 */
/** Elements per invocation of the elementwise kernels (fill, relu, add, sgd: their WGSL ITEMS). */
export const ELEMENTWISE_ITEMS = 4;

/**
 * Grid for an elementwise kernel over n elements: ELEMENTWISE_ITEMS per invocation, grid-stride,
 * 256-wide workgroups. On llvmpipe per-invocation overhead dominates such kernels (measured:
 * BENCHMARKS.md, "Kernel tuning history").
 */
export function elementwiseGrid(gpu: Gpu, n: number): [number, number, number] {
  return grid1d(gpu, Math.ceil(n / ELEMENTWISE_ITEMS), 256);
}

export function grid1d(gpu: Gpu, n: number, wg: number): [number, number, number] {
  const groups = ceilDiv(n, wg);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxDim) return [groups, 1, 1];
  const y = ceilDiv(groups, maxDim);
  return [ceilDiv(groups, y), y, 1];
}
