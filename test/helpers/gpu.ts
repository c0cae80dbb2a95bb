// A device for tests: acquired once per test file, fails the test on any WebGPU error
// (validation, out-of-memory, internal, uncaptured) and on any buffer the test leaves alive. A machine
// with no adapter fails here, loudly: run `npm run setup`.
import { acquireGpu, type Gpu } from '../../src/gpu/device.js';
import { overridePolicy, type PolicyOverrides } from '../../src/gpu/policy.js';
import { releaseScratch, scratchHolders } from '../../src/gpu/pool.js';
import { trimReadbackPool } from '../../src/gpu/tensor.js';

let shared: Promise<Gpu> | null = null;

/** The test file's device (acquired on first use). */
export function testGpu(): Promise<Gpu> {
  shared ??= acquireGpu();
  return shared;
}

export interface WithGpuOptions {
  /** Policy overrides (forced variants, split counts, Winograd tiles) for this run only; restored afterwards. */
  policy?: PolicyOverrides;
}

/**
 * Runs `fn` on the test device inside validation/OOM/internal error scopes and under `policy`;
 * throws on any WebGPU error, and when buffers that `fn` created outlive it: live buffers and bytes
 * must return to what they were before. Device-wide scratch, which plans share and which outlives
 * them by design, is freed before both counts, so a plan made outside `fn` must not be run after
 * it; while plans made before `fn` still hold scratch, nothing is freed and the counts include it.
 */
export async function withGpu<T>(fn: (gpu: Gpu) => Promise<T>, opts: WithGpuOptions = {}): Promise<T> {
  const gpu = await testGpu();
  const { device } = gpu;
  const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
  for (const f of filters) device.pushErrorScope(f);
  const holdersBefore = scratchHolders(gpu);
  if (holdersBefore === 0) releaseDeviceCaches(gpu);
  else trimReadbackPool(gpu);
  const before = gpu.stats();
  const labelsBefore = new Set(gpu.liveLabels());
  const restore = overridePolicy(gpu.policy, opts.policy ?? {});
  let result: T;
  try {
    result = await fn(gpu);
  } finally {
    restore();
    const errors = [];
    for (let i = 0; i < filters.length; i++) errors.push(await device.popErrorScope());
    const err = errors.find((e) => e);
    if (err) throw new Error(`WebGPU ${err.constructor.name}: ${err.message}`);
    gpu.check();
  }
  const holders = scratchHolders(gpu);
  if (holders > holdersBefore) throw new Error(`${holders - holdersBefore} planned dispatches still hold shared scratch: a plan outlived the test`);
  if (holders === 0) releaseDeviceCaches(gpu);
  else trimReadbackPool(gpu);
  const after = gpu.stats();
  if (after.liveBuffers !== before.liveBuffers || after.liveBytes !== before.liveBytes) {
    const leaked = gpu.liveLabels().filter((l) => !labelsBefore.has(l));
    throw new Error(
      `GPU buffers outlived the test: ${before.liveBuffers} buffers / ${before.liveBytes} bytes before, ` +
        `${after.liveBuffers} / ${after.liveBytes} after; new labels: ${leaked.slice(0, 20).join(', ')}`,
    );
  }
  return result;
}

/** Frees what the device keeps between plans by design (shared scratch, idle readback staging buffers). */
export function releaseDeviceCaches(gpu: Gpu): void {
  releaseScratch(gpu);
  trimReadbackPool(gpu);
}

/**
 * Makes the k-th buffer allocation (gpu.createBuffer) or bind-group creation from now on throw
 * (k < 0: never; `calls()` counts them).
 */
export function injectFailure(gpu: Gpu, mode: 'buffer' | 'bindGroup', k: number) {
  let calls = 0;
  let fired = false;
  const count = () => {
    if (calls++ === k) {
      fired = true;
      throw new Error(`injected failure at ${mode} ${k}`);
    }
  };
  if (mode === 'buffer') {
    const original = gpu.createBuffer;
    gpu.createBuffer = function (...args: Parameters<Gpu['createBuffer']>) {
      count();
      return original.apply(this, args);
    };
    return { fired: () => fired, calls: () => calls, restore: () => void (gpu.createBuffer = original) };
  }
  const device = gpu.device;
  const original = device.createBindGroup;
  device.createBindGroup = function (d: GPUBindGroupDescriptor) {
    count();
    return original.call(this, d);
  };
  return { fired: () => fired, calls: () => calls, restore: () => void (device.createBindGroup = original) };
}

/** Disposes the shared device (afterAll). */
export async function releaseGpu(): Promise<void> {
  if (!shared) return;
  const gpu = await shared;
  shared = null;
  gpu.dispose();
}

/** Seeded uniform floats in [lo, hi) (mulberry32), for reproducible test data. */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Max |a - b| and whether every element satisfies |a - b| <= atol + rtol·|b|. */
export function compare(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let maxAbs = 0;
  let worst = -1;
  let ok = true;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= atol + rtol * Math.abs(b[i]!))) {
      if (ok) worst = i;
      ok = false;
    }
    if (!(d <= maxAbs)) maxAbs = d;
  }
  return { ok, maxAbs, worst, got: worst >= 0 ? a[worst] : undefined, want: worst >= 0 ? b[worst] : undefined };
}
