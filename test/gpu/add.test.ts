import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { add, addInto } from '../../src/gpu/ops/add.js';
import { fill } from '../../src/gpu/ops/fill.js';
import { releaseGpu, randn, testGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

// The PyTorch golden and random shapes of add, addInto and fill: test/ops/registry.test.ts.
describe('add / addInto / fill', () => {
  it('addInto accumulates across submits, on a view at an aligned offset, leaving the rest alone', async () => {
    await withGpu(async (gpu) => {
      const n = 300_000;
      const as = randn(n, 81);
      const accs = randn(n, 82);
      const a = Tensor.from(gpu, as, [n], 'a');
      const arena = Tensor.from(gpu, new Float32Array(n + 64).fill(-1), [n + 64], 'arena');
      const acc = arena.view([n], 64, 'acc');
      acc.write(accs);
      const d = await addInto(gpu, acc, a);
      submit(gpu, [d, d]);
      const got = await arena.read();
      expect(got.slice(0, 64).every((v) => v === -1)).toBe(true);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[64 + i]! - Math.fround(Math.fround(accs[i]! + as[i]!) + as[i]!)));
      expect(worst).toBe(0);
      disposeDispatch(gpu, d);
      a.dispose();
      arena.dispose();
    });
  });

  it('fill writes f32, u32 and i32 patterns and nothing outside the tensor', async () => {
    await withGpu(async (gpu) => {
      const arena = Tensor.from(gpu, new Float32Array(200).fill(3), [200], 'arena');
      const f = arena.view([70], 64, 'f');
      const u = new Tensor(gpu, arena.buffer, [10], 'u32', 0, false, 'u');
      const i = new Tensor(gpu, arena.buffer, [5], 'i32', 0, false, 'i');
      const ds = [await fill(gpu, f, -0.25), await fill(gpu, u, 0xdeadbeef)];
      submit(gpu, ds);
      const all = await arena.read();
      expect(Array.from(all.slice(64, 134))).toEqual(new Array(70).fill(-0.25));
      expect(Array.from(new Uint32Array(all.buffer, 0, 10))).toEqual(new Array(10).fill(0xdeadbeef));
      expect(all.slice(10, 64).every((v) => v === 3) && all.slice(134).every((v) => v === 3)).toBe(true);
      const d3 = await fill(gpu, i, -7);
      submit(gpu, [d3]);
      expect(Array.from(new Int32Array((await arena.read()).buffer, 0, 5))).toEqual(new Array(5).fill(-7));
      for (const d of [...ds, d3]) disposeDispatch(gpu, d);
      arena.dispose();
    });
  });

  it('rejects mismatched shapes, aliasing and non-integer fills before dispatch', async () => {
    const gpu = await testGpu();
    const a = Tensor.zeros(gpu, [2, 3], 'a');
    const b = Tensor.zeros(gpu, [3, 2], 'b');
    const u = Tensor.zeros(gpu, [4], 'u', 'u32');
    await expect(add(gpu, a, a, b)).rejects.toThrow(/add: shapes differ: out \[2, 3\], a \[2, 3\], b \[3, 2\]/);
    await expect(add(gpu, a, a, a)).rejects.toThrow(/'out' \(read_write\) and 'a' are the same buffer/);
    await expect(addInto(gpu, a, b)).rejects.toThrow(/add\.into: shapes differ/);
    await expect(addInto(gpu, a, a)).rejects.toThrow(/'acc' \(read_write\) and 'a' are the same buffer/);
    await expect(fill(gpu, u, 1.5)).rejects.toThrow(/fill: value 1.5 is not an integer for a u32 tensor \[4\]/);
    await expect(fill(gpu, u, -1)).rejects.toThrow(/out of u32 range/);
    for (const t of [a, b, u]) t.dispose();
  });
});
