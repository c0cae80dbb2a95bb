// conv_transpose2d: the FCN head with split-K, accumulation, splitting over N, and two
// hand-derived cases: Caffe's deconvolution overlap count and a bilinear-initialised 2×
// upsampling of a bilinear function, which must reproduce bilinear interpolation. The PyTorch
// goldens (including the 21-channel head at the chapter's size), the float64 scatter reference
// and its finite differences, and random shapes for every kernel variant are in
// test/ops/registry.test.ts.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device.js';
import { disposeDispatch, submit, type Dispatch } from '../../src/gpu/kernel.js';
import {
  convTranspose2dBackwardInput,
  convTranspose2dBackwardWeight,
  convTranspose2dForward,
  convTranspose2dOutSize,
  type ConvTranspose2dParams,
} from '../../src/gpu/ops/conv_transpose2d.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { refConvTBackward, refConvTForward } from '../../src/ops/reference/conv.js';
import { expectClose } from '../helpers/check.js';

afterAll(releaseGpu);

// Forward: atol 1e-5 (not 1e-6): f32 sums of up to Cin·⌈k/S⌉² products in another order than PyTorch's.
const FWD = { atol: 1e-5, rtol: 1e-3 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };
const VARIANTS = ['reg4x4', 'tiled64x64'];

async function runConvT(
  gpu: Gpu, p: ConvTranspose2dParams, xs: Float32Array, ws: Float32Array, bs: Float32Array | null, dys: Float32Array,
  opts: { dx0?: Float32Array; dw0?: Float32Array; db0?: Float32Array } = {},
) {
  const { OH, OW } = convTranspose2dOutSize(p);
  const x = Tensor.from(gpu, xs, [p.N, p.Cin, p.H, p.W], 'x'); // (N, Cin, H, W)
  const w = Tensor.from(gpu, ws, [p.Cin, p.Cout, p.kh, p.kw], 'w'); // (Cin, Cout, kh, kw)
  const b = bs ? Tensor.from(gpu, bs, [p.Cout], 'b') : null; // (Cout)
  const dy = Tensor.from(gpu, dys, [p.N, p.Cout, OH, OW], 'dy'); // (N, Cout, OH, OW)
  const y = Tensor.zeros(gpu, [p.N, p.Cout, OH, OW], 'y');
  const dx = opts.dx0 ? Tensor.from(gpu, opts.dx0, x.shape, 'dx') : Tensor.zeros(gpu, x.shape, 'dx');
  const dw = opts.dw0 ? Tensor.from(gpu, opts.dw0, w.shape, 'dw') : Tensor.zeros(gpu, w.shape, 'dw');
  const db = bs ? (opts.db0 ? Tensor.from(gpu, opts.db0, [p.Cout], 'db') : Tensor.zeros(gpu, [p.Cout], 'db')) : null;
  const ds: Dispatch[] = [
    ...(await convTranspose2dForward(gpu, y, x, w, b, p, 'test')),
    ...(await convTranspose2dBackwardInput(gpu, dx, dy, w, p, !!opts.dx0, 'test')),
    ...(await convTranspose2dBackwardWeight(gpu, dw, db, dy, x, p, 'test')),
  ];
  expect(ds.every((d) => /^conv_transpose2d\.\w+(\.\w+)?\(test\)$/.test(d.label))).toBe(true);
  submit(gpu, ds);
  const out = { y: await y.read(), dx: await dx.read(), dw: await dw.read(), db: db ? await db.read() : null };
  for (const d of ds) disposeDispatch(gpu, d);
  for (const t of [x, w, b, dy, y, dx, dw, db]) t?.dispose();
  return out;
}

describe('conv_transpose2d: the FCN head', () => {
  const file = readSafetensors(readFileSync(new URL('../golden/conv_transpose2d.safetensors', import.meta.url)));
  const cases = JSON.parse(file.metadata.cases!) as { name: string; params: ConvTranspose2dParams; bias: boolean }[];
  it('includes the FCN head (k64 s32 p16) and 2x upsampling (k4 s2 p1)', () => {
    expect(cases.some((c) => c.params.kh === 64 && c.params.strideH === 32 && c.params.padH === 16)).toBe(true);
    expect(cases.some((c) => c.params.kh === 4 && c.params.strideH === 2 && c.params.padH === 1)).toBe(true);
  });
  for (const variant of VARIANTS) {
    it(`FCN head with the reduction split over kernel rows (split-K) (${variant})`, async () => {
      // backward-input sums 64 kernel rows: 7 splits of 10 rows (forward has only 2 rows per phase: 2 splits),
      // and 2 channel chunks (Cin 2, Cout 3)
      const c = cases.find((k) => k.params.kh === 64)!;
      await withGpu(async (gpu) => {
        const g = (k: string) => toFloat32(file.tensors.get(`${c.name}.${k}`)!);
        const r = await runConvT(gpu, c.params, g('x'), g('w'), g('b'), g('dy'));
        expectClose('y', r.y, g('y'), FWD);
        expectClose('dx', r.dx, g('dx'), GRAD);
        expectClose('dw', r.dw, g('dw'), GRAD);
        expectClose('db', r.db!, g('db'), GRAD);
      }, { policy: { autotune: { force: variant }, conv: { igemmSplits: 7, igemmChSplits: 2 } } });
    });
  }
});

describe('conv_transpose2d accumulation and splitting', () => {
  for (const [variant, wgrad] of [['reg4x4', 'wg4x4t4k'], ['tiled64x64', 'wg4x8t64k']]) {
    it(`accumulates into dx, dw and db on random shapes (${variant}, ${wgrad})`, async () => {
      await withGpu(async (gpu) => {
        for (let s = 0; s < 6; s++) {
          const r = randn(12, 200 + s, 0, 1);
          const pick = (i: number, lo: number, hi: number) => lo + Math.floor(r[i]! * (hi - lo + 1));
          const kh = pick(0, 1, 6), kw = pick(1, 1, 6);
          const p: ConvTranspose2dParams = {
            N: pick(2, 1, 3), Cin: pick(3, 1, 5), H: pick(4, 1, 6), W: pick(5, 1, 6), Cout: pick(6, 1, 6), kh, kw,
            strideH: pick(7, 1, 4), strideW: pick(8, 1, 4), padH: 0, padW: 0,
          };
          const { OH: oh0, OW: ow0 } = convTranspose2dOutSize(p);
          p.padH = Math.min(pick(9, 0, kh - 1), Math.floor((oh0 - 1) / 2));
          p.padW = Math.min(pick(10, 0, kw - 1), Math.floor((ow0 - 1) / 2));
          const { OH, OW } = convTranspose2dOutSize(p);
          const xs = randn(p.N * p.Cin * p.H * p.W, s + 1), ws = randn(p.Cin * p.Cout * kh * kw, s + 2);
          const bs = randn(p.Cout, s + 3), dys = randn(p.N * p.Cout * OH * OW, s + 4);
          const dx0 = randn(xs.length, s + 5), dw0 = randn(ws.length, s + 6), db0 = randn(p.Cout, s + 7);
          const got = await runConvT(gpu, p, xs, ws, bs, dys, { dx0, dw0, db0 });
          const g = refConvTBackward(xs, ws, dys, p);
          const tag = `${variant} ${JSON.stringify(p)}`;
          expectClose(`${tag} y`, got.y, refConvTForward(xs, ws, bs, p), FWD);
          expectClose(`${tag} dx`, got.dx, g.dx.map((v, i) => v + dx0[i]!), GRAD);
          expectClose(`${tag} dw`, got.dw, g.dw.map((v, i) => v + dw0[i]!), GRAD);
          expectClose(`${tag} db`, got.db!, g.db.map((v, i) => v + db0[i]!), GRAD);
        }
      }, { policy: { autotune: { force: [variant!, wgrad!] } } });
    });
  }

  it('splits over N (and the weight-gradient reduction) for large activations', async () => {
    // x (4, 4, 4, 4) is 256 B per image, y (4, 4, 8, 8) 1 KiB: a 1 KiB limit forces chunks of one image.
    await withGpu(async (gpu) => {
      const p: ConvTranspose2dParams = { N: 4, Cin: 4, H: 4, W: 4, Cout: 4, kh: 4, kw: 4, strideH: 2, strideW: 2, padH: 1, padW: 1 };
      const xs = randn(256 * 4 / 4, 61), ws = randn(256, 62), bs = randn(4, 63), dys = randn(4 * 4 * 64, 64);
      const got = await runConvT(gpu, p, xs, ws, bs, dys);
      const g = refConvTBackward(xs, ws, dys, p);
      expectClose('y', got.y, refConvTForward(xs, ws, bs, p), FWD);
      expectClose('dx', got.dx, g.dx, GRAD);
      expectClose('dw', got.dw, g.dw, GRAD);
      expectClose('db', got.db!, g.db, GRAD);
    }, { policy: { conv: { maxBindingBytes: 1024, wgradSplits: 2 } } });
  });
});

describe('conv_transpose2d hand-derived cases', () => {
  it("Caffe's deconvolution test: all-ones input and weights count overlapping windows", async () => {
    // k3 s2 p1 from Cin = 3 channels: output (oy, ox) receives one product per (ci, i, j) with
    // i·2−1 ≤ oy ≤ i·2+1, i.e. one input row when oy is even (tap 1), two when oy is odd (taps 0
    // and 2), except at the last row where the second would fall outside the input.
    const p: ConvTranspose2dParams = { N: 2, Cin: 3, H: 4, W: 5, Cout: 2, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 };
    const { OH, OW } = convTranspose2dOutSize(p);
    expect([OH, OW]).toEqual([7, 9]);
    const rowsOver = (o: number, n: number) => (o % 2 === 0 ? 1 : (o + 1) / 2 < n ? 2 : 1);
    await withGpu(async (gpu) => {
      const x = Tensor.from(gpu, new Float32Array(p.N * 3 * 20).fill(1), [p.N, 3, 4, 5], 'x');
      const w = Tensor.from(gpu, new Float32Array(3 * 2 * 9).fill(1), [3, 2, 3, 3], 'w');
      const y = Tensor.zeros(gpu, [p.N, 2, OH, OW], 'y');
      const ds = await convTranspose2dForward(gpu, y, x, w, null, p, 'caffe');
      submit(gpu, ds);
      const ys = await y.read();
      for (let i = 0; i < ys.length; i++) {
        const ox = i % OW, oy = Math.floor(i / OW) % OH;
        expect(ys[i], `y at (${oy}, ${ox})`).toBe(3 * rowsOver(oy, p.H) * rowsOver(ox, p.W));
      }
      ds.forEach((d) => disposeDispatch(gpu, d));
      [x, w, y].forEach((t) => t.dispose());
    });
  });

  it('bilinear-initialised k4 s2 p1 upsampling reproduces bilinear interpolation in the interior', async () => {
    // d2l's bilinear_kernel(C, C, 4): w(i, i, :, :) = f ⊗ f with f = 1 − |t − 1.5|/2 = [¼, ¾, ¾, ¼],
    // zero off the channel diagonal. Output pixel o samples the input at (o + ½)/2 − ½
    // (half-pixel centres); bilinear interpolation reproduces any bilinear function g exactly.
    const C = 3, H = 5, W = 6;
    const p: ConvTranspose2dParams = { N: 1, Cin: C, H, W, Cout: C, kh: 4, kw: 4, strideH: 2, strideW: 2, padH: 1, padW: 1 };
    const f = [0.25, 0.75, 0.75, 0.25];
    const ws = new Float32Array(C * C * 16);
    for (let c = 0; c < C; c++) for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) ws[(c * C + c) * 16 + a * 4 + b] = f[a]! * f[b]!;
    const g = (c: number, h: number, x: number) => 0.5 + c + (c + 1) * 0.3 * h - 0.7 * x + 0.05 * h * x;
    const xs = new Float32Array(C * H * W);
    for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) xs[(c * H + h) * W + x] = g(c, h, x);
    await withGpu(async (gpu) => {
      const x = Tensor.from(gpu, xs, [1, C, H, W], 'x');
      const w = Tensor.from(gpu, ws, [C, C, 4, 4], 'w');
      const y = Tensor.zeros(gpu, [1, C, 2 * H, 2 * W], 'y');
      const ds = await convTranspose2dForward(gpu, y, x, w, null, p, 'bilinear');
      submit(gpu, ds);
      const ys = await y.read();
      let checked = 0;
      for (let c = 0; c < C; c++)
        for (let oy = 1; oy < 2 * H - 1; oy++)
          for (let ox = 1; ox < 2 * W - 1; ox++) {
            const want = g(c, (oy + 0.5) / 2 - 0.5, (ox + 0.5) / 2 - 0.5);
            expect(Math.abs(ys[(c * 2 * H + oy) * 2 * W + ox]! - want)).toBeLessThan(1e-5);
            checked++;
          }
      expect(checked).toBe(C * (2 * H - 2) * (2 * W - 2));
      ds.forEach((d) => disposeDispatch(gpu, d));
      [x, w, y].forEach((t) => t.dispose());
    });
  });

  it('throws on bad shapes before dispatch, naming op and shapes', async () => {
    const gpu = await testGpu();
    const p: ConvTranspose2dParams = { N: 1, Cin: 2, H: 2, W: 3, Cout: 3, kh: 64, kw: 64, strideH: 32, strideW: 32, padH: 16, padW: 16 };
    const x = Tensor.zeros(gpu, [1, 2, 2, 3], 'x');
    const w = Tensor.zeros(gpu, [3, 2, 64, 64], 'w-swapped'); // (Cout, Cin, ...) is the conv layout, not ConvTranspose2d's
    const y = Tensor.zeros(gpu, [1, 3, 64, 96], 'y');
    const before = gpu.stats();
    await expect(convTranspose2dForward(gpu, y, x, w, null, p)).rejects.toThrow(
      /conv_transpose2d\.forward: shape mismatch.*w \[3, 2, 64, 64\] \(want \[2, 3, 64, 64\]\)/,
    );
    await expect(convTranspose2dBackwardWeight(gpu, w, null, y, x, p)).rejects.toThrow(/conv_transpose2d\.backward_weight: shape mismatch/);
    await expect(convTranspose2dBackwardInput(gpu, x, x, w, p)).rejects.toThrow(/conv_transpose2d\.backward_input: shape mismatch.*dy \[1, 2, 2, 3\]/);
    expect(gpu.stats()).toEqual(before);
    [x, w, y].forEach((t) => t.dispose());
  });
});
