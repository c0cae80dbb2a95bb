// Buffer reuse. A BufferPool hands out GPU buffers keyed by (rounded size, usage) and takes them
// back; a released buffer becomes reusable only after the next onSubmit(), because work already
// recorded may still read it (ONNX Runtime Web's refreshPendingBuffers, tfjs's BufferManager).
// It knows buffers only (no tensors), so tensor.ts can use it for readback staging.
import { type Gpu, GpuError } from './device.js';

/** Counters for leak tests and `info`. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  inUse: number;
  /** Released, waiting for the next onSubmit(). */
  pending: number;
  /** Ready to hand out again. */
  free: number;
  /** Bytes of every buffer the pool owns (in use, pending and free). */
  bytes: number;
  /** acquire() calls served from the free list / by a new buffer. */
  hits: number;
  misses: number;
}

/**
 * Rounds a request up to its bucket: 256-byte steps up to 64 KiB, then four buckets per power
 * of two (at most 25% slack), so differently sized activations can share buffers.
 */
export function bucketSize(size: number): number {
  if (!(size >= 0) || !Number.isFinite(size)) throw new GpuError(`bad buffer size ${size}`, 'BufferPool');
  if (size <= 65536) return Math.max(256, Math.ceil(size / 256) * 256);
  const octave = 2 ** Math.floor(Math.log2(size));
  const step = octave / 4;
  return Math.ceil(size / step) * step;
}

interface Owned {
  key: string;
  bytes: number;
}

/** Reuses GPU buffers across steps; every buffer it made is destroyed by dispose(). */
export class BufferPool {
  private readonly owned = new Map<GPUBuffer, Owned>();
  private readonly inUse = new Set<GPUBuffer>();
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private hits = 0;
  private misses = 0;
  private bytes = 0;

  constructor(readonly gpu: Gpu) {}

  /** A buffer of at least `size` bytes with exactly `usage`; reused when one is free. */
  acquire(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const bytes = bucketSize(size);
    const key = `${bytes}:${usage}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.hits++;
      this.inUse.add(reused);
      try {
        reused.label = label;
      } catch {
        // Some implementations make labels read-only; the old label only affects messages.
      }
      return reused;
    }
    this.misses++;
    const buffer = this.gpu.createBuffer(label, bytes, usage);
    this.owned.set(buffer, { key, bytes });
    this.bytes += bytes;
    this.inUse.add(buffer);
    return buffer;
  }

  /** Gives a buffer back; it is reused only after the next onSubmit(). */
  release(buffer: GPUBuffer): void {
    if (!this.owned.has(buffer)) throw new GpuError(`buffer '${buffer.label}' was not made by this pool`, 'BufferPool.release');
    if (!this.inUse.delete(buffer)) throw new GpuError(`buffer '${buffer.label}' released twice`, 'BufferPool.release');
    this.pending.push(buffer);
  }

  /**
   * Gives back a buffer whose GPU work is known to be complete (a readback whose mapAsync
   * resolved): reusable at once, without waiting for another submit.
   */
  releaseCompleted(buffer: GPUBuffer): void {
    this.release(buffer);
    this.pending.pop();
    const key = this.owned.get(buffer)!.key;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  /** Call after queue.submit(): buffers released before it may now be handed out again. */
  onSubmit(): void {
    for (const b of this.pending) {
      const key = this.owned.get(b)!.key;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(b);
    }
    this.pending = [];
  }

  /** Destroys free buffers (keeps those in use or pending). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) this.destroy(b);
    this.free.clear();
  }

  /** Destroys every buffer the pool made, in use or not. */
  dispose(): void {
    for (const b of [...this.owned.keys()]) this.destroy(b);
    this.inUse.clear();
    this.free.clear();
    this.pending = [];
  }

  stats(): PoolStats {
    let free = 0;
    for (const l of this.free.values()) free += l.length;
    return { inUse: this.inUse.size, pending: this.pending.length, free, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }

  private destroy(b: GPUBuffer): void {
    const o = this.owned.get(b);
    if (!o) return;
    this.owned.delete(b);
    this.bytes -= o.bytes;
    this.gpu.destroyBuffer(b);
  }
}
