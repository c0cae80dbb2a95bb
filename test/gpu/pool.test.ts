import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { BufferPool, bucketSize, pooledTensor, releaseScratch, scratch } from '../../src/gpu/pool.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { fill } from '../../src/gpu/ops/fill.js';
import { releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

describe('bucketSize', () => {
  it('rounds to 256 bytes below 64 KiB and to quarter octaves above, never below the request', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(257)).toBe(512);
    expect(bucketSize(65536)).toBe(65536);
    expect(bucketSize(65537)).toBe(65536 + 16384);
    expect(bucketSize(100_000)).toBe(65536 + 3 * 16384);
    for (const s of [3, 1000, 70_000, 1e6, 12_345_678]) {
      expect(bucketSize(s)).toBeGreaterThanOrEqual(s);
      expect(bucketSize(s)).toBeLessThanOrEqual(Math.max(256, s * 1.25 + 256));
    }
    expect(() => bucketSize(-1)).toThrow(/bad buffer size/);
  });
});

describe('BufferPool', () => {
  it('reuses a released buffer only after onSubmit, and only for the same bucket and usage', async () => {
    const gpu = await testGpu();
    const pool = new BufferPool(gpu);
    const a = pool.acquire(1000, STORAGE(), 'a');
    expect(a.size).toBe(1024);
    pool.release(a);
    const b = pool.acquire(1000, STORAGE(), 'b');
    expect(b).not.toBe(a); // still pending: work recorded before the submit may use it
    pool.onSubmit();
    const c = pool.acquire(900, STORAGE(), 'c');
    expect(c).toBe(a);
    const d = pool.acquire(900, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'd');
    expect(d).not.toBe(a);
    expect(pool.stats()).toMatchObject({ inUse: 3, pending: 0, free: 0, hits: 1, misses: 3 });
    expect(() => pool.release(a)).not.toThrow();
    expect(() => pool.release(a)).toThrow(/released twice/);
    const foreign = gpu.createBuffer('foreign', 16, STORAGE());
    expect(() => pool.release(foreign)).toThrow(/not made by this pool/);
    gpu.destroyBuffer(foreign);
    pool.dispose();
  });

  it('returns live buffers and bytes to the baseline after repeated steps and dispose', async () => {
    await withGpu(async (gpu) => {
      // Readbacks use the device's own staging pool: let it make its buffer for this size first.
      const probe = Tensor.zeros(gpu, [3, 100], 'probe');
      await probe.read();
      probe.dispose();
      const base = gpu.stats();
      const pool = new BufferPool(gpu);
      let afterFirst = { liveBuffers: 0, liveBytes: 0 };
      for (let step = 0; step < 5; step++) {
        // A step's activations: acquire, use in a dispatch, release, submit.
        const ts = [pooledTensor(pool, [3, 100], 'x'), pooledTensor(pool, [3, 100], 'y'), pooledTensor(pool, [50_000], 'z', 'u32')];
        const ds = await Promise.all(ts.map((t, i) => fill(gpu, t, i + step)));
        submit(gpu, ds);
        expect(Array.from((await ts[1]!.read()).slice(0, 3))).toEqual([1 + step, 1 + step, 1 + step]);
        for (const d of ds) disposeDispatch(gpu, d);
        for (const t of ts) pool.release(t.buffer);
        pool.onSubmit();
        if (step === 0) afterFirst = gpu.stats();
        // Steady state: nothing new is allocated after the first step.
        expect(gpu.stats()).toEqual(afterFirst);
      }
      expect(afterFirst.liveBuffers).toBe(base.liveBuffers + 3);
      expect(afterFirst.liveBytes).toBe(base.liveBytes + pool.stats().bytes);
      expect(pool.stats()).toMatchObject({ inUse: 0, pending: 0, free: 3, hits: 12, misses: 3 });
      pool.trim();
      expect(gpu.stats()).toEqual(base);
      pooledTensor(pool, [10], 'again');
      pool.dispose();
      expect(gpu.stats()).toEqual(base);
      expect(pool.stats().bytes).toBe(0);
    });
  });
});

describe('scratch', () => {
  it('shares one buffer per name, grows by keeping the old one alive, and frees everything on release', async () => {
    const gpu = await testGpu();
    const base = gpu.stats();
    const s1 = scratch(gpu, 'test', 100);
    const s2 = scratch(gpu, 'test', 50);
    expect(s2.buffer).toBe(s1.buffer);
    expect(s2.size).toBe(50);
    const s3 = scratch(gpu, 'test', 1000);
    expect(s3.buffer).not.toBe(s1.buffer);
    expect(gpu.stats().liveBuffers).toBe(base.liveBuffers + 2);
    expect(scratch(gpu, 'other', 10).buffer).not.toBe(s3.buffer);
    releaseScratch(gpu, 'test');
    expect(gpu.stats().liveBuffers).toBe(base.liveBuffers + 1);
    releaseScratch(gpu);
    expect(gpu.stats()).toEqual(base);
  });
});
