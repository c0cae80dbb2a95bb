// The one place that owns a GPUDevice: acquires it in a browser (navigator.gpu) or in Node
// (Dawn, the `webgpu` package), picks a software adapter when there is no hardware one,
// counts live buffers, and turns validation errors and device loss into errors that name
// the kernel or buffer label that caused them.
import { policyFromEnv, type KernelPolicy } from './policy.js';
import { GpuError, type AcquireOptions, type AdapterReport, type MemoryStats } from './report.js';

export { GpuError, type AcquireOptions, type AdapterReport, type MemoryStats } from './report.js';

/** Optional features the engine uses when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

/** Limits requested at the adapter's maximum (the defaults are far too small for FCN activations). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBuffersPerShaderStage',
  'maxBindGroups',
] as const;

const CHROMIUM_SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const INSTALL_HINT =
  'No WebGPU adapter found. On Debian/Ubuntu run `npm run setup` (it installs libegl1 libgles2 ' +
  'libegl-mesa0 libgl1-mesa-dri for Mesa llvmpipe through OpenGL ES, and chromium libvulkan1 for ' +
  'SwiftShader), or set WEBFCN_ADAPTER to an adapter this machine has. In a browser, use one with ' +
  'WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';

/**
 * A GPUDevice plus what the engine keeps per device: the adapter report, live-buffer
 * accounting, and the first asynchronous error (validation, out-of-memory, device loss).
 */
export class Gpu {
  private live = new Map<GPUBuffer, number>();
  private liveBytes = 0;
  private asyncError: GpuError | null = null;
  private lost = false;
  /** Per-device caches (pipelines, layouts) hang off this object, keyed by explicit strings. */
  readonly cache = new Map<string, unknown>();
  /** This device's kernel policy (forced variants, split counts, Winograd tiles), from the environment at acquisition. */
  readonly policy: KernelPolicy = policyFromEnv();

  constructor(
    readonly device: GPUDevice,
    readonly report: AdapterReport,
    private readonly release: () => void = () => {},
  ) {
    device.addEventListener('uncapturederror', (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.asyncError ??= new GpuError(`uncaptured ${err.constructor.name}: ${err.message}`, labelIn(err.message));
    });
    void device.lost.then((info) => {
      this.lost = true;
      if (info.reason !== 'destroyed') this.asyncError ??= new GpuError(`device lost (${info.reason}): ${info.message}`);
      else this.asyncError ??= new GpuError('device was destroyed');
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Throws the first asynchronous GPU error seen since the last check (validation, OOM);
   * after device loss every check throws.
   */
  check(): void {
    const err = this.asyncError;
    if (!err) return;
    if (!this.lost) this.asyncError = null;
    throw err;
  }

  /** Creates a labelled buffer and counts it; sizes round up to 4 bytes. */
  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags, mappedAtCreation = false): GPUBuffer {
    this.check();
    const bytes = Math.max(4, Math.ceil(size / 4) * 4);
    if (bytes > this.device.limits.maxBufferSize) {
      throw new GpuError(`buffer of ${bytes} bytes exceeds maxBufferSize ${this.device.limits.maxBufferSize}`, label);
    }
    const buffer = this.device.createBuffer({ label, size: bytes, usage, mappedAtCreation });
    this.live.set(buffer, bytes);
    this.liveBytes += bytes;
    return buffer;
  }

  /** Destroys a buffer made by createBuffer. Safe to call twice. */
  destroyBuffer(buffer: GPUBuffer): void {
    const bytes = this.live.get(buffer);
    if (bytes === undefined) return;
    this.live.delete(buffer);
    this.liveBytes -= bytes;
    buffer.destroy();
  }

  stats(): MemoryStats {
    return { liveBuffers: this.live.size, liveBytes: this.liveBytes };
  }

  /** Labels of the live buffers (what a leak check names). */
  liveLabels(): string[] {
    return [...this.live.keys()].map((b) => b.label);
  }

  /** Waits for all submitted work, then surfaces any asynchronous error. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Destroys every buffer and the device; lets the Node process exit. */
  dispose(): void {
    for (const b of [...this.live.keys()]) this.destroyBuffer(b);
    this.cache.clear();
    this.device.destroy();
    this.release();
  }
}

function labelIn(message: string): string | undefined {
  // Dawn quotes object labels as [Buffer "label"] / [ComputePipeline "label"].
  const m = /\[\w+ "([^"]+)"\]/.exec(message);
  return m?.[1];
}

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };

interface Candidate {
  backend: string;
  flags: string[];
  env: Record<string, string>;
  featureLevel: 'core' | 'compatibility';
  note: string;
}

function nodeCandidates(): Candidate[] {
  const headless = !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
  const egl: Record<string, string> = headless && !process.env.EGL_PLATFORM ? { EGL_PLATFORM: 'surfaceless' } : {};
  return [
    { backend: 'default', flags: [], env: {}, featureLevel: 'core', note: 'hardware adapter (Vulkan/Metal/D3D12)' },
    {
      backend: 'opengles',
      flags: ['backend=opengles'],
      env: egl,
      featureLevel: 'compatibility',
      note: 'Mesa llvmpipe through OpenGL ES (~10 GFLOP/s on 2 cores)',
    },
    {
      backend: 'swiftshader',
      flags: ['backend=vulkan'],
      env: process.env.VK_ICD_FILENAMES ? {} : { VK_ICD_FILENAMES: CHROMIUM_SWIFTSHADER_ICD },
      featureLevel: 'compatibility',
      note: "SwiftShader Vulkan from Debian's chromium (~1.7 GFLOP/s)",
    },
  ];
}

/**
 * Whether the Vulkan loader can find a driver (an ICD manifest), looked up where the Linux loader
 * looks: VK_DRIVER_FILES / VK_ICD_FILENAMES (files or folders) when set, else the vulkan/icd.d
 * folders under the XDG config and data directories and /etc. Probing Vulkan with no driver makes
 * the loader and Dawn print warnings (`vkCreateInstance: Found no drivers!`) that read as
 * failures, so such a probe is skipped. Other platforms (Metal, D3D12) are always probed.
 */
export async function vulkanDriverPresent(env: Record<string, string | undefined> = process.env): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  // Not an import: this module is in the browser bundles too, which must name no Node module.
  // Node before 20.16 has no getBuiltinModule: there Vulkan is probed as before.
  const fs = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:fs') as typeof import('node:fs') | undefined;
  if (!fs) return true;
  const { existsSync, readdirSync, statSync } = fs;
  const hasManifest = (path: string): boolean => {
    try {
      if (!statSync(path).isDirectory()) return existsSync(path);
      return readdirSync(path).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  };
  const list = (v: string | undefined) => (v ?? '').split(':').filter(Boolean);
  const override = list(env.VK_DRIVER_FILES).concat(list(env.VK_ICD_FILENAMES));
  if (override.length) return override.concat(list(env.VK_ADD_DRIVER_FILES)).some(hasManifest);
  const home = env.HOME ?? '';
  const roots = [
    env.XDG_CONFIG_HOME || `${home}/.config`,
    ...(env.XDG_CONFIG_DIRS ? list(env.XDG_CONFIG_DIRS) : ['/etc/xdg']),
    '/etc',
    '/usr/local/etc',
    env.XDG_DATA_HOME || `${home}/.local/share`,
    ...(env.XDG_DATA_DIRS ? list(env.XDG_DATA_DIRS) : ['/usr/local/share', '/usr/share']),
  ];
  return roots.map((r) => `${r}/vulkan/icd.d`).concat(list(env.VK_ADD_DRIVER_FILES)).some(hasManifest);
}

function isSoftware(info: GPUAdapterInfo, backend: string): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return backend !== 'default' || /llvmpipe|swiftshader|lavapipe|softpipe|software|cpu/.test(text);
}

function reportOf(adapter: GPUAdapter, backend: string, featureLevel: 'core' | 'compatibility', reason: string): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  const proto = Object.getPrototypeOf(adapter.limits);
  for (const key of Object.keys(proto).concat(Object.keys(adapter.limits))) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  for (const key of WANTED_LIMITS) limits[key] = adapter.limits[key];
  return {
    backend,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    featureLevel,
    software: isSoftware(info, backend),
    features: [...adapter.features].sort(),
    limits,
    reason,
  };
}

async function openDevice(adapter: GPUAdapter, label: string): Promise<GPUDevice> {
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const key of WANTED_LIMITS) requiredLimits[key] = adapter.limits[key];
  return adapter.requestDevice({ label, requiredFeatures, requiredLimits });
}

/** Dawn's adapter candidates in Node, by name. */
export const DAWN_ADAPTERS = ['default', 'opengles', 'swiftshader'] as const;

/**
 * The Dawn adapter named by the environment: WEBFCN_ADAPTER, or WEBFCN_BACKEND when it holds an
 * adapter name (it also takes auto|webgpu|wasm, the compute backend; see src/fcn/compute.ts).
 */
export function adapterFromEnv(env: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {}): string | undefined {
  if (env.WEBFCN_ADAPTER) return env.WEBFCN_ADAPTER;
  const b = env.WEBFCN_BACKEND;
  return b && (DAWN_ADAPTERS as readonly string[]).includes(b) ? b : undefined;
}

/**
 * Acquires a device. In Node, tries a hardware adapter, then llvmpipe (OpenGL ES), then
 * SwiftShader (Vulkan), each in the feature level it supports; WEBFCN_ADAPTER forces one.
 */
export async function acquireGpu(options: AcquireOptions = {}): Promise<Gpu> {
  // Not Node: a browser (window or worker), where only navigator.gpu can give an adapter.
  if (typeof process === 'undefined') return acquireBrowser(options);
  return acquireNode(options);
}

async function acquireBrowser(options: AcquireOptions): Promise<Gpu> {
  const gpu = typeof navigator !== 'undefined' ? (navigator as Navigator).gpu : undefined;
  if (!gpu) {
    throw new GpuError('This browser has no WebGPU (navigator.gpu is missing). It needs a secure context (https or localhost) ' +
      'and Chrome/Edge 113+, Safari 26+ or Firefox 141+ on Windows (or a browser started with --enable-unsafe-webgpu).');
  }
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  let featureLevel: 'core' | 'compatibility' = 'core';
  if (!adapter && !options.requireCore) {
    adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    featureLevel = 'compatibility';
  }
  if (!adapter) {
    throw new GpuError('This browser has WebGPU but navigator.gpu.requestAdapter() found no adapter (the GPU or its driver ' +
      'is blocked, or WebGPU is disabled; chrome://gpu says why).');
  }
  const report = reportOf(adapter, 'browser', featureLevel, 'navigator.gpu.requestAdapter');
  report.software = isSoftware(adapter.info, 'default') || !!(adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  if (options.hardwareOnly && report.software) {
    throw new GpuError(`This browser's WebGPU adapter is a software one (${adapter.info.description || adapter.info.architecture || adapter.info.vendor})`);
  }
  return new Gpu(await openDevice(adapter, 'webfcn'), report);
}

async function acquireNode(options: AcquireOptions): Promise<Gpu> {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    // An optional peer dependency: browsers never need it, so it is not installed with webfcn.
    throw new GpuError(`webfcn in Node runs on Dawn from the 'webgpu' package, which is not installed: npm install webgpu (${(e as Error).message})`);
  }
  // Dawn's globals (GPUBufferUsage, GPUMapMode, ...) are what browser code expects to find.
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const forced = options.backend ?? adapterFromEnv();
  const candidates = nodeCandidates().filter((c) => (!forced || c.backend === forced) && (!options.hardwareOnly || c.backend === 'default'));
  if (forced && candidates.length === 0) {
    throw new GpuError(`unknown backend '${forced}' (choose default, opengles or swiftshader)`);
  }
  const tried: string[] = [];
  for (const c of candidates) {
    // Vulkan-based candidates are probed only when a Vulkan driver is installed (or when named).
    if (!forced && c.backend === 'default' && !(await vulkanDriverPresent())) {
      tried.push('default: skipped (no Vulkan driver installed)');
      continue;
    }
    if (!forced && c.backend === 'swiftshader' && !(await vulkanDriverPresent({ ...process.env, ...c.env }))) {
      tried.push(`swiftshader: skipped (no ${c.env.VK_ICD_FILENAMES ?? 'Vulkan ICD'}; install chromium)`);
      continue;
    }
    for (const [k, v] of Object.entries(c.env)) process.env[k] = v;
    let instance: GPU | null = dawn.create(c.flags);
    try {
      const levels: Array<'core' | 'compatibility'> =
        c.featureLevel === 'core' || options.requireCore ? ['core'] : ['compatibility'];
      for (const featureLevel of levels) {
        const adapter = await instance.requestAdapter(
          featureLevel === 'core' ? { powerPreference: 'high-performance' } : ({ featureLevel } as GPURequestAdapterOptions),
        );
        if (!adapter) continue;
        // A CPU adapter found by the hardware probe (e.g. a system SwiftShader) waits for llvmpipe.
        if (c.backend === 'default' && isSoftware(adapter.info, 'default') && !forced) {
          tried.push(`default: only a software adapter (${adapter.info.description || adapter.info.vendor})`);
          break;
        }
        const reason = [...tried, `${c.backend}: chose ${c.note}`].join('; ');
        const report = reportOf(adapter, c.backend, featureLevel, reason);
        const device = await openDevice(adapter, 'webfcn');
        // Dawn keeps Node alive while the instance is referenced: dispose() drops it.
        const holder: { instance: GPU | null } = { instance };
        return new Gpu(device, report, () => {
          holder.instance = null;
        });
      }
      if (!tried.some((t) => t.startsWith(`${c.backend}:`))) tried.push(`${c.backend}: no adapter`);
    } catch (e) {
      tried.push(`${c.backend}: ${(e as Error).message}`);
    }
    instance = null;
  }
  throw new GpuError(`${INSTALL_HINT} Tried: ${tried.join('; ')}.`);
}
