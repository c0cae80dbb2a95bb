// Where an FCN runs: acquiring a compute backend (`auto` | `webgpu` | `wasm`), building models on
// it, and the backend's trainer and crop evaluator. `auto` takes a hardware WebGPU adapter when
// there is one, else WebAssembly (threads when shared memory is allowed, relaxed SIMD when the
// runtime validates it); the software WebGPU adapters (llvmpipe, SwiftShader) only when named.
import { defaultThreads, relaxedSimdSupported, sharedMemorySupported, WasmRuntime } from '../backends/wasm/runtime.js';
import { acquireGpu, adapterFromEnv, DAWN_ADAPTERS, GpuError, type AdapterReport, type Gpu } from '../gpu/device.js';
import type { BackendName, Model } from './backend.js';
import type { ComputeReport } from './run-types.js';
import { CropEvaluator } from './evaluate.js';
import { FcnModel } from './model.js';
import type { FcnConfig } from './spec.js';
import { Trainer, type HostBatch, type OptimizerOptions, type StepResult } from './trainer.js';
import { WasmCropEvaluator } from './wasm/infer.js';
import { WasmFcnModel } from './wasm/model.js';
import { WasmTrainer } from './wasm/trainer.js';

export type { ComputeReport } from './run-types.js';

export type BackendChoice = 'auto' | BackendName;
export const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm'];

export interface ComputeOptions {
  /** Default: WEBFCN_BACKEND, else 'auto'. A Dawn adapter name here means webgpu on that adapter. */
  backend?: string;
  /** Dawn adapter in Node (default | opengles | swiftshader); implies webgpu. Env: WEBFCN_ADAPTER. */
  adapter?: string;
  /** wasm threads (the caller included); default WEBFCN_THREADS, else the machine's cores. */
  threads?: number;
  /** WebGPU: fail on compatibility-mode adapters. */
  requireCore?: boolean;
}

/** A compute backend: a GPU device or a wasm runtime. */
export type Compute =
  | { readonly backend: 'webgpu'; readonly gpu: Gpu; readonly report: ComputeReport; dispose(): void }
  | { readonly backend: 'wasm'; readonly rt: WasmRuntime; readonly report: ComputeReport; dispose(): void };

const env = (): Record<string, string | undefined> => (typeof process !== 'undefined' && process.env ? process.env : {});

/** Checks a backend name (CLI flag, API option, environment) and says what is allowed. */
export function parseBackend(value: string, what = 'backend'): { backend: BackendChoice; adapter?: string } {
  if ((BACKENDS as readonly string[]).includes(value)) return { backend: value as BackendChoice };
  if ((DAWN_ADAPTERS as readonly string[]).includes(value)) return { backend: 'webgpu', adapter: value };
  throw new GpuError(`unknown ${what} '${value}': choose ${BACKENDS.join(', ')} (or a WebGPU adapter: ${DAWN_ADAPTERS.join(', ')})`);
}

function parseThreads(v: number | string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= 1 && n <= 256)) throw new GpuError(`threads must be an integer in 1..256, got ${v}`);
  return n;
}

/** Whether this runtime can run the wasm backend (WebAssembly with SIMD128). */
export function wasmAvailable(): boolean {
  // (module (func (result v128) v128.const i32x4 0 0 0 0)): validates only with SIMD128.
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
  try {
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(probe);
  } catch {
    return false;
  }
}

async function openWasm(threads: number | undefined, reason: string): Promise<Compute> {
  const rt = await WasmRuntime.create({ threads });
  const summary = rt.describe();
  return {
    backend: 'wasm',
    rt,
    report: {
      backend: 'wasm', summary, reason: [reason, rt.reason].filter(Boolean).join('; '),
      threads: rt.threads, simd: rt.simd, sharedMemory: rt.shared,
    },
    dispose: () => void rt.dispose(),
  };
}

function gpuCompute(gpu: Gpu, reason: string): Compute {
  const r = gpu.report;
  return {
    backend: 'webgpu',
    gpu,
    report: {
      backend: 'webgpu',
      summary: `webgpu ${r.backend} ${r.description || r.device || r.vendor} (${r.featureLevel}${r.software ? ', software' : ''})`,
      reason: [reason, r.reason].filter(Boolean).join('; '),
      adapter: r,
    },
    dispose: () => gpu.dispose(),
  };
}

/** Acquires the compute backend `options` (and the environment) ask for; see the file comment. */
export async function acquireCompute(options: ComputeOptions = {}): Promise<Compute> {
  const e = env();
  const named = options.backend ?? e.WEBFCN_BACKEND ?? 'auto';
  const parsed = parseBackend(named, options.backend ? 'backend' : 'WEBFCN_BACKEND');
  const adapter = options.adapter ?? parsed.adapter ?? adapterFromEnv(e);
  if (adapter) parseBackend(adapter, 'adapter');
  const threads = parseThreads(options.threads ?? e.WEBFCN_THREADS);
  let backend = parsed.backend;
  if (adapter && backend === 'auto') backend = 'webgpu';
  if (backend === 'webgpu') return gpuCompute(await acquireGpu({ backend: adapter, requireCore: options.requireCore }), 'webgpu as asked');
  if (backend === 'wasm') {
    if (!wasmAvailable()) throw new GpuError('the wasm backend needs WebAssembly with SIMD128, which this runtime does not validate');
    return openWasm(threads, 'wasm as asked');
  }
  // auto
  let why: string;
  try {
    return gpuCompute(await acquireGpu({ hardwareOnly: true, requireCore: options.requireCore }), 'auto: a hardware WebGPU adapter');
  } catch (err) {
    const m = (err as Error).message;
    const tried = /Tried: (.*?)\.?$/.exec(m)?.[1];
    why = `auto: no hardware WebGPU adapter (${tried ?? firstSentence(m)})`;
  }
  if (wasmAvailable()) return openWasm(threads, `${why}, so WebAssembly`);
  return gpuCompute(await acquireGpu({ requireCore: options.requireCore }), `${why} and no WebAssembly SIMD, so a software WebGPU adapter`);
}

function firstSentence(s: string): string {
  const i = s.search(/[.:](\s|$)/);
  return (i > 0 ? s.slice(0, i) : s).slice(0, 160);
}

/** What `webfcn info` says about WebAssembly on this machine without starting a runtime. */
export async function wasmCapabilities(): Promise<{ simd128: boolean; relaxedSimd: boolean; sharedMemory: boolean; cores: number }> {
  return { simd128: wasmAvailable(), relaxedSimd: relaxedSimdSupported(), sharedMemory: sharedMemorySupported(), cores: await defaultThreads() };
}

/** A new (uninitialised) FCN on `compute`. */
export function newModel(compute: Compute, config: FcnConfig): Model {
  return compute.backend === 'wasm' ? new WasmFcnModel(compute.rt, config) : new FcnModel(compute.gpu, config);
}

/** What fit() needs of a trainer on either backend. */
export interface StepTrainer {
  readonly opt: OptimizerOptions;
  steps: number;
  step(batch: HostBatch, B: number, H: number, W: number): Promise<StepResult>;
  setLearningRate(lr: number): void;
  flush(): Promise<Float32Array | null>;
  peekConfusion(): Promise<Uint32Array>;
  takeConfusion(): Promise<Uint32Array>;
  dispose(): Promise<void>;
}

/** The trainer of `model`'s backend. */
export function createTrainer(model: Model, opt: OptimizerOptions, memoryBudget?: number): StepTrainer {
  return model.backend === 'wasm' ? new WasmTrainer(model, opt, memoryBudget) : new Trainer(model.gpu, model, opt, memoryBudget);
}

export interface CropEvaluatorLike {
  add(images: Float32Array, labels: Uint32Array, B: number, H: number, W: number): Promise<void>;
  result(): Promise<{ pixelAccuracy: number; meanIoU: number; iou: number[] } & { images: number; pixels: number; confusion: number[] }>;
  dispose(): void;
}

/** The crop evaluator of `model`'s backend. */
export function createCropEvaluator(model: Model): CropEvaluatorLike {
  return model.backend === 'wasm' ? new WasmCropEvaluator(model) : new CropEvaluator(model);
}
