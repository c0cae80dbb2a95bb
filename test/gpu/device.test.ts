import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { reluBackward, reluForward } from '../../src/gpu/ops/relu.js';
import { submit, disposeDispatch } from '../../src/gpu/kernel.js';
import { releaseGpu, testGpu, withGpu, randn } from '../helpers/gpu.js';

afterAll(releaseGpu);

describe('device', () => {
  it('acquires an adapter and reports it (no adapter is a failure, not a skip)', async () => {
    const gpu = await testGpu();
    expect(gpu.report.backend).toMatch(/default|opengles|swiftshader|browser/);
    expect(gpu.report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    expect(gpu.device.limits.maxStorageBufferBindingSize).toBe(gpu.report.limits.maxStorageBufferBindingSize);
    expect(gpu.report.reason).toContain('chose');
  });

  it('round-trips data through a WGSL kernel (relu forward and backward)', async () => {
    await withGpu(async (gpu) => {
      const n = 1000;
      const xs = randn(n, 1);
      const dys = randn(n, 2);
      const x = Tensor.from(gpu, xs, [n], 'x');
      const y = Tensor.zeros(gpu, [n], 'y');
      const dy = Tensor.from(gpu, dys, [n], 'dy');
      const dx = Tensor.zeros(gpu, [n], 'dx');
      const ds = [await reluForward(gpu, y, x), await reluBackward(gpu, dx, dy, y)];
      submit(gpu, ds);
      const [ys, dxs] = [await y.read(), await dx.read()];
      for (let i = 0; i < n; i++) {
        expect(ys[i]).toBe(Math.max(xs[i]!, 0));
        expect(dxs[i]).toBe(xs[i]! > 0 ? dys[i] : 0);
      }
      for (const d of ds) disposeDispatch(gpu, d);
      for (const t of [x, y, dy, dx]) t.dispose();
    });
  });

  it('rejects aliased read/read_write bindings before dispatch, naming the kernel', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [4], 'x');
    // One buffer bound as read and read_write in one dispatch would be a WebGPU validation error.
    await expect(reluForward(gpu, x, x, 'aliased')).rejects.toThrow(/relu\.forward\(aliased\): 'y' \(read_write\) and 'x'/);
    x.dispose();
  });

  it('surfaces asynchronous GPU errors through check() with the object label', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [4], 'destroyed-input');
    const y = Tensor.zeros(gpu, [4], 'y');
    const d = await reluForward(gpu, y, x);
    x.dispose(); // submitting a destroyed buffer is a validation error, reported asynchronously
    submit(gpu, [d]);
    await expect(gpu.sync()).rejects.toThrow(/destroyed-input/);
    disposeDispatch(gpu, d);
    y.dispose();
  });

  it('returns live buffers and bytes to baseline after repeated use (readbacks reuse pooled staging)', async () => {
    const gpu = await testGpu();
    const warm = Tensor.zeros(gpu, [1024], 'warm-up');
    await warm.read(); // the first readback of this size creates its pooled staging buffer
    warm.dispose();
    const base = gpu.stats();
    for (let i = 0; i < 5; i++) {
      const t = Tensor.from(gpu, new Float32Array(1024).fill(i), [1024], 'leak-check');
      expect(gpu.stats().liveBuffers).toBe(base.liveBuffers + 1);
      expect(gpu.stats().liveBytes).toBe(base.liveBytes + 4096);
      expect((await t.read())[1023]).toBe(i);
      t.dispose();
      expect(gpu.stats()).toEqual(base);
    }
  });

  it('rejects a binding over the device limit before dispatching, naming kernel and limit', async () => {
    const gpu = await testGpu();
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const big = { buffer: { size: limit + 4, label: 'fake' } as unknown as GPUBuffer, offset: 0, size: limit + 4 };
    const small = Tensor.zeros(gpu, [4], 'small');
    const { makeDispatch } = await import('../../src/gpu/kernel.js');
    const { reluForwardKernel } = await import('../../src/gpu/ops/relu.js');
    await expect(
      makeDispatch(gpu, reluForwardKernel, { bindings: { x: big, y: small }, uniforms: { n: 4 }, workgroups: [1] }),
    ).rejects.toThrow(/relu\.forward: binding 'x' is \d+ bytes, over maxStorageBufferBindingSize/);
    small.dispose();
  });
});
