import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { setSgdLearningRate, sgdStep } from '../../src/gpu/ops/sgd.js';
import { compare, randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { sgdRef } from '../../src/ops/reference/ops.js';
import { loadGolden } from '../helpers/golden.js';

afterAll(releaseGpu);

interface Case {
  name: string;
  momentum: number;
  nesterov: boolean;
  weight_decay: number;
}

describe('sgd on the GPU', () => {
  const golden = loadGolden('ops_sgd');
  const { n, lrs, cases } = golden.meta as { n: number; lrs: number[]; cases: Case[] };
  const grads = golden.f32('grads');
  for (const c of cases) {
    it(`matches torch.optim.SGD after each of ${lrs.length} steps with a changing lr (${c.name})`, async () => {
      await withGpu(async (gpu) => {
        const params = Tensor.from(gpu, golden.f32('params0'), [n], 'params');
        const g = Tensor.zeros(gpu, [n], 'grads');
        const buf = c.momentum ? Tensor.zeros(gpu, [n], 'momentum') : null;
        const ds = await sgdStep(gpu, params, g, buf, { n, lr: lrs[0]!, weightDecay: c.weight_decay, momentum: c.momentum, nesterov: c.nesterov });
        expect(ds.length).toBe(1);
        const want = golden.f32(`${c.name}.params`);
        let worst = 0;
        for (let s = 0; s < lrs.length; s++) {
          g.write(grads.subarray(s * n, (s + 1) * n));
          setSgdLearningRate(gpu, ds, lrs[s]!);
          submit(gpu, ds);
          const r = compare(await params.read(), want.subarray(s * n, (s + 1) * n), 1e-6, 1e-5);
          expect(r.ok, `step ${s}: max |err| ${r.maxAbs}`).toBe(true);
          worst = Math.max(worst, r.maxAbs);
        }
        console.info(`sgd ${c.name}: max |err| over ${lrs.length} steps ${worst.toExponential(2)}`);
        for (const d of ds) disposeDispatch(gpu, d);
        for (const t of [params, g, buf]) t?.dispose();
      });
    });
  }

  it('splits a large arena into aligned sub-range dispatches that match the float64 reference', async () => {
    await withGpu(async (gpu) => {
      const n = 5000;
      const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
      const p0 = randn(n, 91);
      const gs = randn(n, 92);
      const params = Tensor.from(gpu, p0, [n], 'params');
      const g = Tensor.from(gpu, gs, [n], 'grads');
      const buf = Tensor.zeros(gpu, [n], 'momentum');
      const cfg = { lr: 0.1, weightDecay: 1e-3, momentum: 0.9, nesterov: true };
      const ds = await sgdStep(gpu, params, g, buf, { n, ...cfg, maxChunk: 1000 });
      const chunk = Math.floor(1000 / align) * align;
      expect(ds.length).toBe(Math.ceil(n / chunk));
      submit(gpu, ds);
      submit(gpu, ds);
      const refP = Float64Array.from(p0);
      const refB = new Float64Array(n);
      sgdRef(refP, gs, refB, cfg);
      sgdRef(refP, gs, refB, cfg);
      const r = compare(await params.read(), refP, 1e-6, 1e-5);
      expect(r.ok, `max |err| ${r.maxAbs}`).toBe(true);
      expect(compare(await buf.read(), refB, 1e-6, 1e-5).ok).toBe(true);
      for (const d of ds) disposeDispatch(gpu, d);
      for (const t of [params, g, buf]) t.dispose();
    });
  });

  it('rejects inconsistent settings and short buffers before dispatch', async () => {
    const gpu = await testGpu();
    const a = Tensor.zeros(gpu, [8], 'a');
    const b = Tensor.zeros(gpu, [8], 'b');
    const short = Tensor.zeros(gpu, [4], 'short');
    const base = { n: 8, lr: 0.1, weightDecay: 0, momentum: 0, nesterov: false };
    await expect(sgdStep(gpu, a, b, null, { ...base, momentum: 0.9 })).rejects.toThrow(/sgd: momentum 0.9 needs a momentum buffer/);
    await expect(sgdStep(gpu, a, b, null, { ...base, nesterov: true })).rejects.toThrow(/nesterov needs momentum > 0/);
    await expect(sgdStep(gpu, a, short, null, base)).rejects.toThrow(/sgd: grads must be f32 with at least n = 8 elements, got f32 \[4\]/);
    expect(() => setSgdLearningRate(gpu, [], NaN)).toThrow(/invalid learning rate/);
    for (const t of [a, b, short]) t.dispose();
  });
});
