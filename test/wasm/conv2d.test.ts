// conv2d and conv_transpose2d on the WebAssembly runtime (src/backends/wasm/conv2d.ts), beyond the
// op registry's generic test (test/ops/registry.test.ts walks their PyTorch goldens and random
// shapes on every wasm variant): ResNet-18 and FCN-head shapes against the float64 references
// with the WebGPU tests' written tolerances, finite differences of the wasm forward itself,
// accumulation, images split into chunks, Winograd's choice, shared scratch, determinism across
// thread counts and shape errors; one thread and two.
import { afterEach, describe, expect, it } from 'vitest';
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutSize, convTranspose2dBackwardInput,
  convTranspose2dBackwardWeight, convTranspose2dForward, convTranspose2dOutSize, runSteps, wasmConvOptions,
  type Conv2dParams, type ConvTranspose2dParams,
} from '../../src/backends/wasm/conv2d.js';
import { SharedScratch } from '../../src/backends/wasm/memory.js';
import type { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { expectClose } from '../helpers/check.js';
import { randn } from '../helpers/gpu.js';
import { refConvBackward, refConvForward, refConvTBackward, refConvTForward } from '../../src/ops/reference/conv.js';
import { filled, put, scoped, testRuntime, THREADS } from '../helpers/wasm.js';

// The WebGPU tests' tolerances (test/gpu/conv2d.test.ts says why forward is 1e-5, not 1e-6).
const FWD = { atol: 1e-5, rtol: 1e-3 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };
const BUDGET = wasmConvOptions.scratchBudget;
afterEach(() => {
  wasmConvOptions.scratchBudget = BUDGET;
});

interface Opts { dx0?: Float32Array; dw0?: Float32Array; db0?: Float32Array }

/** Forward, backward-input and backward-weight; dw/db start at dw0/db0 (or 0), dx at dx0 when accumulating. */
function runConv(rt: WasmRuntime, p: Conv2dParams, xs: Float32Array, ws: Float32Array, bs: Float32Array | null, dys: Float32Array, o: Opts = {}) {
  const { OH, OW } = conv2dOutSize(p);
  const x = put(rt, xs), w = put(rt, ws), b = bs ? put(rt, bs) : 0, dy = put(rt, dys);
  const y = filled(rt, p.N * p.K * OH * OW, NaN);
  const dx = o.dx0 ? put(rt, o.dx0) : filled(rt, xs.length, NaN);
  const dw = o.dw0 ? put(rt, o.dw0) : filled(rt, ws.length, 0);
  const db = bs ? (o.db0 ? put(rt, o.db0) : filled(rt, p.K, 0)) : 0;
  const steps = [
    ...conv2dForward(rt, y, x, w, b, p, 'test'),
    ...conv2dBackwardInput(rt, dx, dy, w, p, !!o.dx0, 'test'),
    ...conv2dBackwardWeight(rt, dw, db, dy, x, p, 'test'),
  ];
  runSteps(steps);
  return {
    y: rt.read(y, p.N * p.K * OH * OW), dx: rt.read(dx, xs.length), dw: rt.read(dw, ws.length), db: db ? rt.read(db, p.K) : null,
    labels: steps.map((s) => s.label),
  };
}

function runConvT(rt: WasmRuntime, p: ConvTranspose2dParams, xs: Float32Array, ws: Float32Array, bs: Float32Array | null, dys: Float32Array, o: Opts = {}) {
  const { OH, OW } = convTranspose2dOutSize(p);
  const x = put(rt, xs), w = put(rt, ws), b = bs ? put(rt, bs) : 0, dy = put(rt, dys);
  const y = filled(rt, p.N * p.Cout * OH * OW, NaN);
  const dx = o.dx0 ? put(rt, o.dx0) : filled(rt, xs.length, NaN);
  const dw = o.dw0 ? put(rt, o.dw0) : filled(rt, ws.length, 0);
  const db = bs ? (o.db0 ? put(rt, o.db0) : filled(rt, p.Cout, 0)) : 0;
  const steps = [
    ...convTranspose2dForward(rt, y, x, w, b, p, 'test'),
    ...convTranspose2dBackwardInput(rt, dx, dy, w, p, !!o.dx0, 'test'),
    ...convTranspose2dBackwardWeight(rt, dw, db, dy, x, p, 'test'),
  ];
  runSteps(steps);
  return { y: rt.read(y, p.N * p.Cout * OH * OW), dx: rt.read(dx, xs.length), dw: rt.read(dw, ws.length), db: db ? rt.read(db, p.Cout) : null };
}

describe.each(THREADS)('conv2d on %i thread(s)', (threads) => {
  it('ResNet-18 and FCN-head shapes (7×7/2, 3×3/1, 3×3/2, 1×1/2, 1×1/1) against the float64 reference', async () => {
    const rt = await testRuntime(threads);
    const shapes: Conv2dParams[] = [
      { N: 2, C: 3, H: 20, W: 22, K: 16, kh: 7, kw: 7, strideH: 2, strideW: 2, padH: 3, padW: 3 },
      { N: 2, C: 16, H: 9, W: 11, K: 16, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { N: 2, C: 16, H: 9, W: 11, K: 32, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      { N: 2, C: 16, H: 9, W: 11, K: 32, kh: 1, kw: 1, strideH: 2, strideW: 2, padH: 0, padW: 0 },
      { N: 3, C: 32, H: 3, W: 5, K: 21, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
      // Output rows of several 8-column panels (im2colPack's vector reads, strides 1 and 2, and a
      // panel wrapping to the next row); 3 channels keep them off Winograd.
      { N: 1, C: 3, H: 7, W: 35, K: 9, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { N: 2, C: 5, H: 6, W: 37, K: 6, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
    ];
    for (const [i, p] of shapes.entries()) {
      await scoped(rt, () => {
        const { OH, OW } = conv2dOutSize(p);
        const xs = randn(p.N * p.C * p.H * p.W, 40 + i), ws = randn(p.K * p.C * p.kh * p.kw, 50 + i, -0.2, 0.2);
        const bs = randn(p.K, 60 + i), dys = randn(p.N * p.K * OH * OW, 70 + i);
        const r = runConv(rt, p, xs, ws, bs, dys);
        const g = refConvBackward(xs, ws, dys, p);
        expectClose(`${i} y`, r.y, refConvForward(xs, ws, bs, p), FWD);
        expectClose(`${i} dx`, r.dx, g.dx, GRAD);
        expectClose(`${i} dw`, r.dw, g.dw, GRAD);
        expectClose(`${i} db`, r.db!, g.db, GRAD);
      });
    }
  });

  it('accumulates dx (when asked), dw and db; images split into chunks give the same result', async () => {
    const rt = await testRuntime(threads);
    for (const p of [
      { N: 5, C: 3, H: 7, W: 6, K: 4, kh: 3, kw: 3, strideH: 2, strideW: 1, padH: 1, padW: 2 },
      { N: 5, C: 6, H: 4, W: 5, K: 7, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
    ]) {
      for (const budget of [BUDGET, 1]) { // 1 byte: one image per chunk
        wasmConvOptions.scratchBudget = budget;
        await scoped(rt, () => {
          const { OH, OW } = conv2dOutSize(p);
          const xs = randn(p.N * p.C * p.H * p.W, 81), ws = randn(p.K * p.C * p.kh * p.kw, 82);
          const bs = randn(p.K, 83), dys = randn(p.N * p.K * OH * OW, 84);
          const dx0 = randn(xs.length, 85), dw0 = randn(ws.length, 86), db0 = randn(p.K, 87);
          const r = runConv(rt, p, xs, ws, bs, dys, { dx0, dw0, db0 });
          const g = refConvBackward(xs, ws, dys, p);
          const tag = `budget ${budget} ${JSON.stringify(p)}`;
          expectClose(`${tag} y`, r.y, refConvForward(xs, ws, bs, p), FWD);
          expectClose(`${tag} dx`, r.dx, g.dx.map((v, i) => v + dx0[i]!), GRAD);
          expectClose(`${tag} dw`, r.dw, g.dw.map((v, i) => v + dw0[i]!), GRAD);
          expectClose(`${tag} db`, r.db!, g.db.map((v, i) => v + db0[i]!), GRAD);
        });
      }
    }
  });

  it('gradients match central differences of the wasm forward (L = Σ y·dy is bilinear: exact up to f32 rounding)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const p: Conv2dParams = { N: 2, C: 2, H: 5, W: 4, K: 3, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 1 };
      const { OH, OW } = conv2dOutSize(p);
      const xs = randn(p.N * p.C * p.H * p.W, 11), ws = randn(p.K * p.C * p.kh * p.kw, 12), bs = randn(p.K, 13);
      const dys = randn(p.N * p.K * OH * OW, 14);
      const x = put(rt, xs), w = put(rt, ws), b = put(rt, bs), y = filled(rt, dys.length);
      const fwd = conv2dForward(rt, y, x, w, b, p, 'fd');
      const loss = () => {
        runSteps(fwd);
        const yv = rt.read(y, dys.length);
        let s = 0;
        for (let i = 0; i < yv.length; i++) s += yv[i]! * dys[i]!;
        return s;
      };
      const r = runConv(rt, p, xs, ws, bs, dys);
      const h = 0.5;
      const central = (ptr: number, i: number) => {
        const v = rt.f32(ptr, i + 1)[i]!;
        rt.f32(ptr, i + 1)[i] = v + h;
        const up = loss();
        rt.f32(ptr, i + 1)[i] = v - h;
        const down = loss();
        rt.f32(ptr, i + 1)[i] = v;
        return (up - down) / (2 * h);
      };
      for (let i = 0; i < xs.length; i++) expect(Math.abs(central(x, i) - r.dx[i]!), `dx[${i}]`).toBeLessThan(1e-4);
      for (let i = 0; i < ws.length; i++) expect(Math.abs(central(w, i) - r.dw[i]!), `dw[${i}]`).toBeLessThan(1e-4);
      for (let i = 0; i < bs.length; i++) expect(Math.abs(central(b, i) - r.db![i]!), `db[${i}]`).toBeLessThan(1e-4);
    });
  });

  it('conv_transpose2d: random shapes against the float64 scatter reference, with accumulation', async () => {
    const rt = await testRuntime(threads);
    const shapes: ConvTranspose2dParams[] = [
      { N: 2, Cin: 3, H: 3, W: 4, Cout: 2, kh: 4, kw: 4, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      { N: 1, Cin: 2, H: 2, W: 3, Cout: 3, kh: 3, kw: 5, strideH: 3, strideW: 2, padH: 2, padW: 1 },
      { N: 2, Cin: 4, H: 3, W: 3, Cout: 5, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
    ];
    for (const [i, p] of shapes.entries()) {
      await scoped(rt, () => {
        const { OH, OW } = convTranspose2dOutSize(p);
        const xs = randn(p.N * p.Cin * p.H * p.W, 90 + i), ws = randn(p.Cin * p.Cout * p.kh * p.kw, 91 + i);
        const bs = randn(p.Cout, 92 + i), dys = randn(p.N * p.Cout * OH * OW, 93 + i);
        const dx0 = randn(xs.length, 94), dw0 = randn(ws.length, 95), db0 = randn(p.Cout, 96);
        const r = runConvT(rt, p, xs, ws, bs, dys, { dx0, dw0, db0 });
        const g = refConvTBackward(xs, ws, dys, p);
        expectClose(`${i} y`, r.y, refConvTForward(xs, ws, bs, p), FWD);
        expectClose(`${i} dx`, r.dx, g.dx.map((v, j) => v + dx0[j]!), GRAD);
        expectClose(`${i} dw`, r.dw, g.dw.map((v, j) => v + dw0[j]!), GRAD);
        expectClose(`${i} db`, r.db!, g.db.map((v, j) => v + db0[j]!), GRAD);
      });
    }
  });
});

describe.each(THREADS)('Winograd F(2x2, 3x3) on %i thread(s)', (threads) => {
  const shapes: Conv2dParams[] = [
    { N: 2, C: 16, H: 9, W: 11, K: 12, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 }, // odd OH, OW: clipped tiles
    { N: 3, C: 9, H: 12, W: 6, K: 20, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 0, padW: 2 },
    { N: 3, C: 8, H: 9, W: 7, K: 8, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 2, padW: 0 },
    { N: 6, C: 32, H: 5, W: 8, K: 64, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 }, // layer4-like: 6·3·4 = 72 tiles
    // Tile rows of 4-tile runs (TW = 16: the transforms' four-tiles-per-vector paths), inputs inside
    // and at the edges, odd OW (the last run's outputs clipped: per tile) and odd OH.
    { N: 1, C: 8, H: 6, W: 31, K: 8, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
    { N: 2, C: 8, H: 7, W: 32, K: 9, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
  ];
  for (const [i, p] of shapes.entries()) {
    it(`forward and stride-1 backward-input take Winograd and match the float64 reference (${JSON.stringify(p)})`, async () => {
      const rt = await testRuntime(threads);
      for (const budget of [BUDGET, 1]) {
        wasmConvOptions.scratchBudget = budget;
        await scoped(rt, () => {
          const { OH, OW } = conv2dOutSize(p);
          const xs = randn(p.N * p.C * p.H * p.W, 300 + i), ws = randn(p.K * p.C * 9, 310 + i, -0.3, 0.3);
          const bs = randn(p.K, 320 + i), dys = randn(p.N * p.K * OH * OW, 330 + i), dx0 = randn(xs.length, 340 + i);
          const x = put(rt, xs), w = put(rt, ws), b = put(rt, bs), dy = put(rt, dys), y = filled(rt, dys.length, NaN), dx = put(rt, dx0);
          const fwd = conv2dForward(rt, y, x, w, b, p, 'wino'), bwd = conv2dBackwardInput(rt, dx, dy, w, p, true, 'wino');
          expect([fwd[0]!.variant, bwd[0]!.variant]).toEqual(['winograd', 'winograd']);
          runSteps([...fwd, ...bwd]);
          const g = refConvBackward(xs, ws, dys, p);
          expectClose('y', rt.read(y, dys.length), refConvForward(xs, ws, bs, p), FWD);
          expectClose('dx (accumulated)', rt.read(dx, xs.length), g.dx.map((v, j) => v + dx0[j]!), GRAD);
        });
      }
    });
  }

  it('is off when asked, and not taken for strided or small-channel convolutions (im2col into packed panels instead)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const p = shapes[0]!;
      wasmConvOptions.winograd = false;
      try {
        expect(conv2dForward(rt, 0, 0, 0, 0, p)[0]!.variant).toBe('im2col-packed');
      } finally {
        wasmConvOptions.winograd = true;
      }
      expect(conv2dForward(rt, 0, 0, 0, 0, { ...p, strideH: 2, strideW: 2 })[0]!.variant).toBe('im2col-packed');
      expect(conv2dForward(rt, 0, 0, 0, 0, { ...p, C: 3 })[0]!.variant).toBe('im2col-packed');
      expect(conv2dForward(rt, 0, 0, 0, 0, { ...p, N: 1, H: 5, W: 8 })[0]!.variant).toBe('im2col-packed'); // 12 tiles
    });
  });
});

describe.each(THREADS)('direct transposed convolutions on %i thread(s)', (threads) => {
  // k = T·stride with the width's stride and padding multiples of 4 (conv2d.ts useDirect). Edges:
  // strides 4 (one 4-column block per input column), 8, 16, 32 along the width, T = 2 and 3, other
  // strides and paddings along the height, odd H and W (the backward-input's unpaired last column),
  // batch 3, Cin and Cout not multiples of 4 (the kernels' 4-channel blocks), padding 0 (every
  // output vector kept) and up to a whole stride, enough rows for the weight gradient to split its
  // columns into groups; dx accumulates, dw and db add to what was there.
  const shapes: ConvTranspose2dParams[] = [
    { N: 3, Cin: 5, H: 3, W: 5, Cout: 6, kh: 16, kw: 16, strideH: 8, strideW: 8, padH: 4, padW: 4 },
    { N: 2, Cin: 3, H: 4, W: 3, Cout: 7, kh: 4, kw: 8, strideH: 2, strideW: 4, padH: 1, padW: 0 },
    { N: 1, Cin: 2, H: 2, W: 3, Cout: 3, kh: 32, kw: 32, strideH: 16, strideW: 16, padH: 8, padW: 8 },
    { N: 2, Cin: 6, H: 2, W: 3, Cout: 5, kh: 64, kw: 64, strideH: 32, strideW: 32, padH: 16, padW: 16 },
    { N: 2, Cin: 4, H: 3, W: 4, Cout: 9, kh: 6, kw: 12, strideH: 3, strideW: 4, padH: 2, padW: 4 },
    // The 5-channel blocks of the backward-input and weight gradient: Cin = 9 = 5 + 4 (4-column
    // taps), 10 = 5 + 5 (8-column) (and Cin = 5 above, with an odd W),
    // with at most 12 rows (n, iy) a tap (its list walk) and with more (its row walk, in groups of
    // at most 8 rows).
    { N: 2, Cin: 9, H: 3, W: 4, Cout: 5, kh: 6, kw: 12, strideH: 3, strideW: 4, padH: 2, padW: 4 },
    { N: 2, Cin: 10, H: 3, W: 5, Cout: 3, kh: 16, kw: 16, strideH: 8, strideW: 8, padH: 4, padW: 4 },
    { N: 2, Cin: 9, H: 8, W: 5, Cout: 3, kh: 16, kw: 16, strideH: 8, strideW: 8, padH: 4, padW: 4 },
    { N: 2, Cin: 5, H: 7, W: 4, Cout: 2, kh: 6, kw: 12, strideH: 3, strideW: 4, padH: 2, padW: 4 },
    { N: 1, Cin: 1, H: 1, W: 1, Cout: 1, kh: 8, kw: 8, strideH: 4, strideW: 4, padH: 0, padW: 0 },
    // Taps ky = 6, 7 reach no dy row (kh > OH + padH − 1 + 1).
    { N: 1, Cin: 2, H: 1, W: 2, Cout: 3, kh: 8, kw: 8, strideH: 4, strideW: 4, padH: 2, padW: 0 },
    // 3·30 list entries per column: the weight gradient walks its columns in groups of 2.
    { N: 3, Cin: 2, H: 30, W: 11, Cout: 3, kh: 8, kw: 8, strideH: 4, strideW: 4, padH: 2, padW: 4 },
  ];
  for (const [i, p] of shapes.entries()) {
    it(`every pass runs direct and matches the float64 reference, with accumulation (${JSON.stringify(p)})`, async () => {
      const rt = await testRuntime(threads);
      for (const budget of [BUDGET, 1]) {
        wasmConvOptions.scratchBudget = budget;
        await scoped(rt, () => {
          const { OH, OW } = convTranspose2dOutSize(p);
          const xs = randn(p.N * p.Cin * p.H * p.W, 400 + i), ws = randn(p.Cin * p.Cout * p.kh * p.kw, 410 + i);
          const bs = randn(p.Cout, 420 + i), dys = randn(p.N * p.Cout * OH * OW, 430 + i);
          const dx0 = randn(xs.length, 440 + i), dw0 = randn(ws.length, 450 + i), db0 = randn(p.Cout, 460 + i);
          const x = put(rt, xs), w = put(rt, ws), b = put(rt, bs), dy = put(rt, dys);
          const y = filled(rt, p.N * p.Cout * OH * OW, NaN), dx = put(rt, dx0), dw = put(rt, dw0), db = put(rt, db0);
          const fwd = convTranspose2dForward(rt, y, x, w, b, p, 'direct');
          const bwdI = convTranspose2dBackwardInput(rt, dx, dy, w, p, true, 'direct');
          const bwdW = convTranspose2dBackwardWeight(rt, dw, db, dy, x, p, 'direct');
          expect([fwd[0]!.variant, bwdI[0]!.variant, bwdW[0]!.variant]).toEqual(['direct', 'direct', 'direct']);
          runSteps([...fwd, ...bwdI, ...bwdW]);
          const g = refConvTBackward(xs, ws, dys, p);
          expectClose('y', rt.read(y, dys.length), refConvTForward(xs, ws, bs, p), FWD);
          expectClose('dx (accumulated)', rt.read(dx, xs.length), g.dx.map((v, j) => v + dx0[j]!), GRAD);
          expectClose('dw (accumulated)', rt.read(dw, ws.length), g.dw.map((v, j) => v + dw0[j]!), GRAD);
          expectClose('db (accumulated)', rt.read(db, p.Cout), g.db.map((v, j) => v + db0[j]!), GRAD);
        });
      }
    });
  }

  // Small k = T·stride shapes the width-4 kernels do not serve (the k4/s2 upsamplers): every pass
  // runs across channels in one dispatch. Channels below 8, at 8 and past it
  // (partial blocks), widths that are not multiples of 4 (partial column blocks).
  const small: ConvTranspose2dParams[] = [
    { N: 2, Cin: 21, H: 5, W: 8, Cout: 21, kh: 4, kw: 4, strideH: 2, strideW: 2, padH: 1, padW: 1 },
    { N: 3, Cin: 3, H: 4, W: 9, Cout: 5, kh: 6, kw: 6, strideH: 3, strideW: 2, padH: 2, padW: 0 },
    { N: 1, Cin: 2, H: 1, W: 1, Cout: 8, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 },
    { N: 2, Cin: 5, H: 3, W: 7, Cout: 11, kh: 4, kw: 9, strideH: 2, strideW: 3, padH: 1, padW: 2 },
  ];
  for (const [i, p] of small.entries()) {
    it(`small strides: every pass runs across channels and matches the float64 reference (${JSON.stringify(p)})`, async () => {
      const rt = await testRuntime(threads);
      await scoped(rt, () => {
        const { OH, OW } = convTranspose2dOutSize(p);
        const xs = randn(p.N * p.Cin * p.H * p.W, 480 + i), ws = randn(p.Cin * p.Cout * p.kh * p.kw, 490 + i), bs = randn(p.Cout, 500 + i);
        const dys = randn(p.N * p.Cout * OH * OW, 510 + i), dx0 = randn(xs.length, 520 + i);
        const y = filled(rt, dys.length, NaN), w = put(rt, ws), dy = put(rt, dys);
        // Odd cases accumulate into dx, even ones overwrite a NaN-filled dx.
        const dx = i % 2 ? put(rt, dx0) : filled(rt, xs.length, NaN);
        const fwd = convTranspose2dForward(rt, y, put(rt, xs), w, i % 2 ? 0 : put(rt, bs), p, 'channels');
        const bwd = convTranspose2dBackwardInput(rt, dx, dy, w, p, i % 2 === 1, 'channels');
        const dw0 = randn(ws.length, 530 + i), dw = put(rt, dw0);
        const bwdW = convTranspose2dBackwardWeight(rt, dw, 0, dy, put(rt, xs), p, 'channels');
        expect([...fwd, ...bwd, ...bwdW].map((s) => s.variant)).toEqual(['direct', 'direct', 'direct']);
        runSteps([...fwd, ...bwd, ...bwdW]);
        expectClose('y', rt.read(y, dys.length), refConvTForward(xs, ws, i % 2 ? null : bs, p), FWD);
        const g = refConvTBackward(xs, ws, dys, p);
        expectClose('dx', rt.read(dx, xs.length), i % 2 ? g.dx.map((v, j) => v + dx0[j]!) : g.dx, GRAD);
        expectClose('dw (accumulated)', rt.read(dw, ws.length), g.dw.map((v, j) => v + dw0[j]!), GRAD);
      });
    });
  }

  it('dx overwrites without accumulate, and a forward without bias has none', async () => {
    const rt = await testRuntime(threads);
    const p = shapes[0]!;
    await scoped(rt, () => {
      const { OH, OW } = convTranspose2dOutSize(p);
      const xs = randn(p.N * p.Cin * p.H * p.W, 470), ws = randn(p.Cin * p.Cout * p.kh * p.kw, 471), dys = randn(p.N * p.Cout * OH * OW, 472);
      const x = put(rt, xs), w = put(rt, ws), dy = put(rt, dys);
      const y = filled(rt, dys.length, NaN), dx = filled(rt, xs.length, NaN);
      runSteps([...convTranspose2dForward(rt, y, x, w, 0, p, 'direct'), ...convTranspose2dBackwardInput(rt, dx, dy, w, p, false, 'direct')]);
      expectClose('y', rt.read(y, dys.length), refConvTForward(xs, ws, null, p), FWD);
      expectClose('dx', rt.read(dx, xs.length), refConvTBackward(xs, ws, dys, p).dx, GRAD);
    });
  });

  it('stride 1, or a kernel that is not a whole number of strides, does not take the direct kernels', async () => {
    const rt = await testRuntime(threads);
    for (const p of [
      { N: 1, Cin: 2, H: 3, W: 3, Cout: 2, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { N: 1, Cin: 2, H: 3, W: 3, Cout: 2, kh: 5, kw: 5, strideH: 2, strideW: 2, padH: 1, padW: 1 },
    ]) {
      await scoped(rt, () => {
        const { OH, OW } = convTranspose2dOutSize(p);
        const x = put(rt, new Float32Array(18)), w = put(rt, new Float32Array(2 * 2 * p.kh * p.kw)), dy = put(rt, new Float32Array(2 * OH * OW));
        const steps = [
          ...convTranspose2dForward(rt, put(rt, new Float32Array(2 * OH * OW)), x, w, 0, p, 't'),
          ...convTranspose2dBackwardInput(rt, put(rt, new Float32Array(18)), dy, w, p, false, 't'),
          ...convTranspose2dBackwardWeight(rt, put(rt, new Float32Array(2 * 2 * p.kh * p.kw)), 0, dy, x, p, 't'),
        ];
        for (const s of steps) expect(s.variant).not.toBe('direct');
      });
    }
  });
});

describe('shared scratch', () => {
  it('one region serves every pass of several convolutions, sized by the largest, and must be allocated first', async () => {
    const rt = await testRuntime(2);
    await scoped(rt, () => {
      const shapes: Conv2dParams[] = [
        { N: 2, C: 3, H: 20, W: 22, K: 16, kh: 7, kw: 7, strideH: 2, strideW: 2, padH: 3, padW: 3 },
        { N: 2, C: 16, H: 10, W: 11, K: 8, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      ];
      const scratch = new SharedScratch();
      const runs = shapes.map((p, i) => {
        const { OH, OW } = conv2dOutSize(p);
        const xs = randn(p.N * p.C * p.H * p.W, 200 + i), ws = randn(p.K * p.C * p.kh * p.kw, 210 + i), bs = randn(p.K, 220 + i);
        const dys = randn(p.N * p.K * OH * OW, 230 + i);
        const t = { x: put(rt, xs), w: put(rt, ws), b: put(rt, bs), dy: put(rt, dys), y: filled(rt, dys.length), dx: filled(rt, xs.length), dw: filled(rt, ws.length), db: filled(rt, p.K) };
        const steps = [
          ...conv2dForward(rt, t.y, t.x, t.w, t.b, p, `c${i}`, scratch),
          ...conv2dBackwardInput(rt, t.dx, t.dy, t.w, p, false, `c${i}`, scratch),
          ...conv2dBackwardWeight(rt, t.dw, t.db, t.dy, t.x, p, `c${i}`, scratch),
        ];
        return { p, xs, ws, bs, dys, t, steps };
      });
      expect(() => runSteps(runs[0]!.steps)).toThrow(/before the scratch region was allocated/);
      const top = rt.arena.top;
      scratch.allocate(rt.arena);
      expect(rt.arena.top - top).toBeLessThanOrEqual(Math.ceil(scratch.bytes / 64) * 64 + 64);
      for (const r of runs) runSteps(r.steps);
      for (const r of runs) {
        const g = refConvBackward(r.xs, r.ws, r.dys, r.p);
        expectClose('y', rt.read(r.t.y, r.dys.length), refConvForward(r.xs, r.ws, r.bs, r.p), FWD);
        expectClose('dx', rt.read(r.t.dx, r.xs.length), g.dx, GRAD);
        expectClose('dw', rt.read(r.t.dw, r.ws.length), g.dw, GRAD);
        expectClose('db', rt.read(r.t.db, r.p.K), g.db, GRAD);
      }
    });
  });
});

describe('determinism', () => {
  it('one thread and two give bit-identical results (tiles are computed the same whoever takes them)', async () => {
    const [r1, r2] = [await testRuntime(1), await testRuntime(2)];
    const p: Conv2dParams = { N: 3, C: 16, H: 13, W: 11, K: 24, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
    const q: Conv2dParams = { ...p, strideH: 2, strideW: 2, kh: 5, kw: 5, padH: 2, padW: 2 };
    for (const c of [p, q]) {
      const { OH, OW } = conv2dOutSize(c);
      const xs = randn(c.N * c.C * c.H * c.W, 401), ws = randn(c.K * c.C * c.kh * c.kw, 402), bs = randn(c.K, 403);
      const dys = randn(c.N * c.K * OH * OW, 404);
      const [a, b] = await Promise.all([r1, r2].map((rt) => scoped(rt, () => runConv(rt, c, xs, ws, bs, dys))));
      for (const k of ['y', 'dx', 'dw', 'db'] as const) expect(Array.from(b![k]!), `${k} ${JSON.stringify(c)}`).toEqual(Array.from(a![k]!));
    }
  });
});

describe('conv2d shape errors', () => {
  it('are raised while planning, naming the parameter', async () => {
    const rt = await testRuntime(1);
    const p: Conv2dParams = { N: 1, C: 1, H: 2, W: 2, K: 1, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 0, padW: 0 };
    expect(() => conv2dForward(rt, 0, 0, 0, 0, p)).toThrow(/does not fit the padded input 2×2/);
    expect(() => conv2dForward(rt, 0, 0, 0, 0, { ...p, H: 5, W: 5, strideH: 0 })).toThrow(/strideH must be at least 1/);
    expect(() => conv2dForward(rt, 0, 0, 0, 0, { ...p, H: 5, W: 5, padW: -1 })).toThrow(/padW must be a non-negative integer/);
  });
});
