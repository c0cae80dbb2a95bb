// Pooled tensors (BufferPool lives in buffer-pool.ts) and per-device scratch space that
// reduction kernels share between their own passes.
import { Gpu, GpuError } from './device.js';
import { Tensor, type DType, numel } from './tensor.js';
import { BufferPool } from './buffer-pool.js';

export { BufferPool, bucketSize, type PoolStats } from './buffer-pool.js';

/** A pooled f32/u32/i32 storage tensor of `shape`; give it back with `pool.release(t.buffer)`. */
export function pooledTensor(pool: BufferPool, shape: readonly number[], label: string, dtype: DType = 'f32'): Tensor {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffer = pool.acquire(numel(shape) * 4, usage, label);
  return new Tensor(pool.gpu, buffer, shape, dtype, 0, false, label);
}

interface ScratchEntry {
  current: Tensor;
  /** Smaller buffers that earlier-planned dispatches still reference. */
  retired: Tensor[];
  /** Planned dispatches holding it (holdScratch); freed when the last lets go. */
  holders?: number;
}

/**
 * Device-wide scratch for a kernel family's intermediate results (per-chunk partial sums): a
 * tensor of at least `floats` elements under `name`. All users of one name share it, which is
 * safe because every op writes and then reads its scratch in consecutive dispatches of its own,
 * and dispatches in a pass run in order. Growing allocates a new buffer and keeps the old one
 * alive for dispatches planned against it; releaseScratch frees everything.
 */
export function scratch(gpu: Gpu, name: string, floats: number): Tensor {
  const key = `scratch:${name}`;
  let e = gpu.cache.get(key) as ScratchEntry | undefined;
  if (e && e.current.size >= floats) return e.current.view([floats]);
  const size = Math.max(floats, e ? e.current.size * 2 : 0, 64);
  const t = Tensor.zeros(gpu, [size], `${name}.scratch`);
  if (e) {
    e.retired.push(e.current);
    e.current = t;
  } else {
    e = { current: t, retired: [] };
    gpu.cache.set(key, e);
  }
  return t.view([floats]);
}

/** Frees the scratch buffers of `name` (or all); dispatches planned against them become invalid. */
export function releaseScratch(gpu: Gpu, name?: string): void {
  for (const [key, v] of [...gpu.cache.entries()]) {
    if (!key.startsWith('scratch:') || (name && key !== `scratch:${name}`)) continue;
    const e = v as ScratchEntry;
    for (const t of [e.current, ...e.retired]) t.dispose();
    gpu.cache.delete(key);
  }
}

/** How many planned dispatches hold shared scratch (holdScratch) right now: 0 once every plan is disposed. */
export function scratchHolders(gpu: Gpu): number {
  let n = 0;
  for (const [key, v] of gpu.cache.entries()) if (key.startsWith('scratch:')) n += (v as ScratchEntry).holders ?? 0;
  return n;
}

/**
 * Like scratch(), for large intermediate tensors (Winograd's transformed tiles): the caller holds
 * the space until the returned release() runs (attach it to a planned dispatch with its `release`
 * list, so disposeDispatch lets go). When the last holder lets go, the buffers are freed, so a
 * finished plan leaves no large device memory behind.
 */
export function holdScratch(gpu: Gpu, name: string, floats: number): { tensor: Tensor; release: () => void } {
  const tensor = scratch(gpu, name, floats);
  const key = `scratch:${name}`;
  const e = gpu.cache.get(key) as ScratchEntry;
  e.holders = (e.holders ?? 0) + 1;
  let held = true;
  return {
    tensor,
    release: () => {
      if (!held) return;
      held = false;
      const now = gpu.cache.get(key) as ScratchEntry | undefined;
      if (now !== e) return; // already released by releaseScratch
      if (--e.holders! > 0) return;
      for (const t of [e.current, ...e.retired]) t.dispose();
      gpu.cache.delete(key);
    },
  };
}
