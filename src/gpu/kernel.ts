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
  /** What `specialize` wrote into the template (constant values, hashes of inserted code); part of the cache key. */
  specialized?: Readonly<Record<string, number | string>>;
}

/** FNV-1a over UTF-16 code units, as 8 hex digits: names inserted code in a cache key. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/**
 * Specialises a WGSL template: every `values` entry replaces the template's module-scope
 * `const NAME = <literal>;` (keeping the literal's type suffix, `u`/`i`/`f`), every `inserts`
 * entry replaces the marker line `// #NAME`, and `expand` (if given) then rewrites the code (e.g.
 * expandEach's unrolling). A name that matches nothing, or more than once, is an error: a renamed
 * constant can no longer fall back to the template's value unnoticed. The pipeline cache key is
 * built from what was substituted (tfjs's shader key), so two specialisations never share a
 * pipeline by accident of naming.
 */
export function specialize(
  template: KernelDef,
  spec: { name?: string; values?: Record<string, number>; inserts?: Record<string, string>; expand?: (code: string) => string },
): KernelDef {
  const name = spec.name ?? template.name;
  let code = template.code;
  const specialized: Record<string, number | string> = { ...template.specialized };
  for (const [k, v] of Object.entries(spec.values ?? {})) {
    if (!/^\w+$/.test(k)) throw new GpuError(`specialise: '${k}' is not a WGSL identifier`, name);
    if (!Number.isFinite(v)) throw new GpuError(`specialise: ${k} = ${v} is not a finite number`, name);
    const re = new RegExp(`^([ \\t]*const\\s+${k}\\s*(?::\\s*\\w+\\s*)?=\\s*)(-?[\\d.]+(?:e[-+]?\\d+)?)([uif]?)(\\s*;)`, 'gm');
    const hits = code.match(re)?.length ?? 0;
    if (hits !== 1) throw new GpuError(`specialise: the template has ${hits} declarations 'const ${k} = <number>;' (want exactly one)`, name);
    code = code.replace(re, (_m, head: string, old: string, suffix: string, tail: string) => {
      const integral = suffix === 'u' || suffix === 'i' || (suffix === '' && !/[.e]/.test(old));
      if (integral && !Number.isInteger(v)) throw new GpuError(`specialise: ${k} = ${v} must be an integer`, name);
      if (suffix === 'u' && v < 0) throw new GpuError(`specialise: ${k} = ${v} must be unsigned`, name);
      const text = !integral && Number.isInteger(v) ? `${v}.0` : `${v}`;
      return `${head}${text}${suffix}${tail}`;
    });
    specialized[k] = v;
  }
  for (const [k, text] of Object.entries(spec.inserts ?? {})) {
    if (!/^\w+$/.test(k)) throw new GpuError(`specialise: '#${k}' is not a marker name`, name);
    const re = new RegExp(`^[ \\t]*// #${k}[ \\t]*$`, 'gm');
    const hits = code.match(re)?.length ?? 0;
    if (hits !== 1) throw new GpuError(`specialise: the template has ${hits} marker lines '// #${k}' (want exactly one)`, name);
    code = code.replace(re, () => text);
    specialized[`#${k}`] = hash(text);
  }
  if (spec.expand) code = spec.expand(code);
  return { ...template, name, code, specialized };
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

/** The pipeline cache key: the kernel's name, entry point, override constants and specialised values. */
export function cacheKey(def: KernelDef): string {
  const kv = (r?: Readonly<Record<string, number | string>>) =>
    r ? Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(',') : '';
  return `kernel:${def.name}:${def.entryPoint ?? 'main'}:${kv(def.constants)}:${kv(def.specialized)}`;
}

const COMPILE_LISTENER = 'compile:listener';

/** Calls `fn` with each pipeline compilation `gpu` starts (its name, and a promise of its end); null stops. */
export function onCompile(gpu: Gpu, fn: ((name: string, done: Promise<unknown>) => void) | null): void {
  if (fn) gpu.cache.set(COMPILE_LISTENER, fn);
  else gpu.cache.delete(COMPILE_LISTENER);
}

/** Compiles (once per device and key) and returns the pipeline of `def`. */
export async function compile(gpu: Gpu, def: KernelDef): Promise<CompiledKernel> {
  const key = cacheKey(def);
  const hit = gpu.cache.get(key) as Promise<CompiledKernel> | undefined;
  if (hit) return hit;
  const made = compileUncached(gpu, def);
  gpu.cache.set(key, made);
  made.catch(() => gpu.cache.delete(key));
  (gpu.cache.get(COMPILE_LISTENER) as ((name: string, done: Promise<unknown>) => void) | undefined)?.(def.name, made);
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
  let uniformAt: { name: string; binding: number } | undefined;
  for (const [name, r] of k.resources) {
    if (r.kind === 'uniform') {
      uniformAt = { name, binding: r.binding };
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
  // Everything is checked: only now the uniform buffer is made, and freed again if the bind group fails.
  if (uniformAt) {
    const view = makeStructuredView(k.defs.uniforms[uniformAt.name]!);
    if (args.uniforms) view.set(args.uniforms);
    const buffer = gpu.createBuffer(`${label}.${uniformAt.name}`, view.arrayBuffer.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    uniform = { buffer, view };
    entries.push({ binding: uniformAt.binding, resource: { buffer } });
  }
  try {
    if (uniform) gpu.device.queue.writeBuffer(uniform.buffer, 0, uniform.view.arrayBuffer);
    const bindGroup = gpu.device.createBindGroup({ label, layout: k.pipeline.getBindGroupLayout(0), entries });
    return { label, pipeline: k.pipeline, bindGroup, workgroups: [x, y, z], uniform };
  } catch (e) {
    if (uniform) gpu.destroyBuffer(uniform.buffer);
    throw e;
  }
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

/** What a planner registers while it plans (planSteps). */
export interface PlanScope {
  /** The dispatches planned so far, in order. */
  readonly out: Dispatch[];
  /** Registers a buffer the plan owns (split-K partials, reordered weights): freed with the plan or on failure. */
  own(buffer: GPUBuffer): GPUBuffer;
  /** Registers shared scratch the plan holds (pool.ts holdScratch): let go with the plan or on failure. */
  hold(release: () => void): void;
}

/**
 * Plans dispatches with `build`, which pushes them onto `scope.out` and registers what it
 * allocates on the side. On success the registered buffers and holds are attached to the first
 * dispatch, so disposeDispatch frees them with the plan; if `build` throws at any point, every
 * dispatch planned so far and everything registered is freed before the error propagates.
 * Every planner goes through here, so a plan that fails half-way leaks nothing.
 */
export async function planSteps(gpu: Gpu, build: (scope: PlanScope) => Promise<void>): Promise<Dispatch[]> {
  const out: Dispatch[] = [];
  const owned: GPUBuffer[] = [];
  const holds: (() => void)[] = [];
  const freeSide = () => {
    for (const b of owned) gpu.destroyBuffer(b);
    for (const r of holds) r();
  };
  try {
    await build({
      out,
      own: (b) => {
        owned.push(b);
        return b;
      },
      hold: (r) => {
        holds.push(r);
      },
    });
  } catch (e) {
    for (const d of out) disposeDispatch(gpu, d);
    freeSide();
    throw e;
  }
  if (out.length === 0) {
    freeSide();
    return out;
  }
  const first = out[0]!;
  if (owned.length) first.scratch = [...(first.scratch ?? []), ...owned];
  if (holds.length) first.release = [...(first.release ?? []), ...holds];
  return out;
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

/**
 * A 1-D grid of `n` threads in workgroups of `wg`, folded into (x, y) when it exceeds the
 * per-dimension limit. Kernels recover the linear index as
 * `gid.x + gid.y * nwg.x * WG` with `@builtin(num_workgroups) nwg`.
 */
export function grid1d(gpu: Gpu, n: number, wg: number): [number, number, number] {
  const groups = ceilDiv(n, wg);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxDim) return [groups, 1, 1];
  const y = ceilDiv(groups, maxDim);
  return [ceilDiv(groups, y), y, 1];
}
