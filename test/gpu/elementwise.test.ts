// The elementwise kernels (fill, relu, add, SGD) handle ELEMENTWISE_ITEMS elements per invocation,
// grid-stride: every element of a length that is not a multiple of the items × workgroup size is
// written exactly once, and nothing past the end.
import { afterAll, expect, it } from 'vitest';
import { ELEMENTWISE_ITEMS, disposeDispatch, elementwiseGrid, submit } from '../../src/gpu/kernel.js';
import { add, addInto } from '../../src/gpu/ops/add.js';
import { fill } from '../../src/gpu/ops/fill.js';
import { reluBackward, reluForward } from '../../src/gpu/ops/relu.js';
import { sgdStep } from '../../src/gpu/ops/sgd.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { randn, releaseGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

it('covers every element of an odd length once, and stops at the end', async () => {
  await withGpu(async (gpu) => {
    const n = 1_000_003; // not a multiple of 4 · 256
    expect(elementwiseGrid(gpu, n)[0] * 256 * ELEMENTWISE_ITEMS).toBeGreaterThanOrEqual(n);
    const a = randn(n, 1), b = randn(n, 2), g = randn(n, 3), m0 = randn(n, 4);
    // One spare element after each tensor, in the same buffer: it must stay untouched.
    const whole = (v: Float32Array, label: string) => {
      const t = Tensor.from(gpu, Float32Array.from([...v, 12345]), [n + 1], label);
      return { t, view: t.view([n]) };
    };
    const A = whole(a, 'a'), B = whole(b, 'b'), S = whole(new Float32Array(n), 's'), F = whole(new Float32Array(n), 'f');
    const R = whole(new Float32Array(n), 'r'), D = whole(new Float32Array(n), 'd');
    const P = whole(a, 'p'), G = whole(g, 'g'), M = whole(m0, 'm');
    const ds = [
      await fill(gpu, F.view, 7),
      await add(gpu, S.view, A.view, B.view),
      await addInto(gpu, S.view, A.view),
      await reluForward(gpu, R.view, B.view),
      await reluBackward(gpu, D.view, A.view, B.view),
      ...(await sgdStep(gpu, P.view, G.view, M.view, { n, lr: 0.1, weightDecay: 0.01, momentum: 0.9, nesterov: false })),
    ];
    submit(gpu, ds);
    const [f, s, r, d, p, m] = await Promise.all([F, S, R, D, P, M].map((x) => x.t.read()));
    for (const t of [f, s, r, d, p, m]) expect(t[n]).toBe(12345);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const wantS = Math.fround(Math.fround(a[i]! + b[i]!) + a[i]!);
      const dd = Math.fround(g[i]! + Math.fround(0.01 * a[i]!));
      const buf = Math.fround(Math.fround(0.9 * m0[i]!) + dd);
      const wantP = Math.fround(a[i]! - Math.fround(0.1 * buf));
      if (f[i] !== 7 || Math.abs(s[i]! - wantS) > 1e-6 || r[i] !== Math.max(b[i]!, 0) || d[i] !== (b[i]! > 0 ? a[i] : 0) ||
        Math.abs(m[i]! - buf) > 1e-6 || Math.abs(p[i]! - wantP) > 1e-6) bad++;
    }
    expect(bad).toBe(0);
    for (const x of ds) disposeDispatch(gpu, x);
    for (const x of [A, B, S, F, R, D, P, G, M]) x.t.dispose();
  });
});
