// Winograd convolution (src/gpu/ops/winograd.ts) for 3×3 stride-1 padding-1 convolutions: edge
// shapes with bias and accumulation against the float64 reference, chunking over images, tile
// padding, split weight-gradient reductions, and the rule that decides where it is used. The
// PyTorch goldens and random shapes under each tile are in test/ops/registry.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device.js';
import { disposeDispatch, submit, type Dispatch } from '../../src/gpu/kernel.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type Conv2dParams } from '../../src/gpu/ops/conv2d.js';
import { withPolicy } from '../../src/gpu/policy.js';
import { useWinograd, useWinogradWgrad } from '../../src/gpu/ops/winograd.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { randn, releaseGpu, withGpu } from '../helpers/gpu.js';
import { refConvBackward, refConvForward } from '../../src/ops/reference/conv.js';
import { expectClose } from '../helpers/check.js';

afterAll(releaseGpu);

// Tolerances: the direct kernels' (conv2d.test.ts: |err| ≤ 1e-5 + 1e-3·|want| forward, 1e-4 +
// 1e-3·|want| gradients), unchanged. F(2×2)'s transforms only add, subtract and halve, so its
// extra rounding is a few more additions per output: measured max |err| 4e-6 (y), 6e-6 (dx),
// 1.3e-5 (dw), about the direct kernels'. F(3×3) (points 0, ±1, ½) and F(4×4) (0, ±1, ±2) multiply
// by fractions that are not exact in binary (1/3, 8/3; 1/24) and, for F(4×4), by up to 8: measured
// max |err| 3e-5 (y), 3e-5 (dx), 5e-5 (dw) for F(3×3), 1e-4, 7e-5, 9e-5 for F(4×4), on outputs up to
// ~20, i.e. ≤ 5e-6 relative, inside the same bounds through their relative term. (Why training
// forward passes never default to F(4×4): winograd.ts, winogradTile.)
const FWD = { atol: 1e-5, rtol: 1e-3 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };

/** Forward, backward-input and backward-weight on the GPU (dx starts at dx0 and accumulates when given; dw starts at dw0). */
async function run(
  gpu: Gpu, p: Conv2dParams, xs: Float32Array, ws: Float32Array, bs: Float32Array | null, dys: Float32Array,
  dx0?: Float32Array, dw0?: Float32Array,
) {
  const x = Tensor.from(gpu, xs, [p.N, p.C, p.H, p.W], 'x');
  const w = Tensor.from(gpu, ws, [p.K, p.C, 3, 3], 'w');
  const b = bs ? Tensor.from(gpu, bs, [p.K], 'b') : null;
  const dy = Tensor.from(gpu, dys, [p.N, p.K, p.H, p.W], 'dy');
  const y = Tensor.zeros(gpu, [p.N, p.K, p.H, p.W], 'y');
  const dx = dx0 ? Tensor.from(gpu, dx0, [p.N, p.C, p.H, p.W], 'dx') : Tensor.zeros(gpu, [p.N, p.C, p.H, p.W], 'dx');
  const dw = dw0 ? Tensor.from(gpu, dw0, [p.K, p.C, 3, 3], 'dw') : Tensor.zeros(gpu, [p.K, p.C, 3, 3], 'dw');
  const ds: Dispatch[] = [
    ...(await conv2dForward(gpu, y, x, w, b, p, 'test')),
    ...(await conv2dBackwardInput(gpu, dx, dy, w, p, !!dx0, 'test')),
    ...(await conv2dBackwardWeight(gpu, dw, null, dy, x, p, 'test')),
  ];
  submit(gpu, ds);
  const out = { y: await y.read(), dx: await dx.read(), dw: await dw.read(), labels: ds.map((d) => d.label) };
  for (const d of ds) disposeDispatch(gpu, d);
  for (const t of [x, w, b, dy, y, dx, dw]) t?.dispose();
  return out;
}

const conv3 = (N: number, C: number, H: number, W: number, K: number): Conv2dParams =>
  ({ N, C, H, W, K, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 });

describe('Winograd vs float64 reference', () => {
  const shapes: [string, Conv2dParams][] = [
    ['odd sizes', conv3(2, 5, 7, 9, 6)],
    ['one row', conv3(3, 4, 1, 6, 3)],
    ['one pixel', conv3(2, 3, 1, 1, 5)],
    ['deep, small image', conv3(1, 40, 5, 8, 36)],
    ['many tiles', conv3(2, 8, 16, 24, 12)],
  ];
  const wgrads = ['wg4x4t4k', 'wg8x8t16k', 'wg4x8t64k', 'wg8x4t256k', 'wg8x8t4k'];
  // (The goldens and tiny random shapes under every tile: test/ops/registry.test.ts. Here: edge
  // shapes (one pixel, one row, 40 channels) with bias and accumulation, once per tile.)
  const cases = (['reg4x4', 'reg8x8', 'tiled64x64'] as const).map((variant, vi) =>
    ({ variant, wgrad: wgrads[vi]!, tile: ([2, 3, 4] as const)[vi]! }));
  cases.forEach(({ variant, wgrad, tile }) => {
    it(`five shapes, bias and accumulation, F(${tile}x${tile}) (${variant}, ${wgrad})`, async () => {
      await withGpu(async (gpu) => {
        let worst = { y: 0, dx: 0, dw: 0 };
        for (const [i, [name, p]] of shapes.entries()) {
          const xs = randn(p.N * p.C * p.H * p.W, 1 + i), ws = randn(p.K * p.C * 9, 2 + i);
          const bs = i % 2 ? null : randn(p.K, 3 + i), dys = randn(p.N * p.K * p.H * p.W, 4 + i);
          const dx0 = i % 2 ? randn(xs.length, 5 + i) : undefined;
          const dw0 = i % 2 ? undefined : randn(ws.length, 6 + i);
          const r = await run(gpu, p, xs, ws, bs, dys, dx0, dw0);
          expect(r.labels, name).toContain('conv2d.forward.winograd_output(test)');
          expect(r.labels, name).toContain('conv2d.backward_weight.winograd_dy(test)');
          const y = refConvForward(xs, ws, bs, p);
          const g = refConvBackward(xs, ws, dys, p);
          const dx = g.dx.map((v, j) => v + (dx0 ? dx0[j]! : 0));
          const dw = g.dw.map((v, j) => v + (dw0 ? dw0[j]! : 0));
          worst = {
            y: Math.max(worst.y, expectClose(`${name} y`, r.y, y, FWD)),
            dx: Math.max(worst.dx, expectClose(`${name} dx`, r.dx, dx, GRAD)),
            dw: Math.max(worst.dw, expectClose(`${name} dw`, r.dw, dw, GRAD)),
          };
        }
        console.log(`winograd float64 F${tile} ${variant} max|err| ${JSON.stringify(worst)}`);
      }, { policy: { autotune: { force: [variant, wgrad] }, conv: { winograd: true, winogradTile: tile } } });
    });
  });

  it('processes images in chunks when the transformed tiles exceed a binding', async () => {
    const p = conv3(6, 16, 8, 8, 16);
    // 16 positions × 16 channels × 16 tiles × 4 bytes = 16 KiB per image: a 40 KiB limit gives
    // chunks of two images (x and y are 4 KiB per image, so their offsets stay 256-aligned).
    await withGpu(async (gpu) => {
      const xs = randn(p.N * p.C * 64, 61), ws = randn(p.K * p.C * 9, 62), bs = randn(p.K, 63), dys = randn(p.N * p.K * 64, 64);
      const r = await run(gpu, p, xs, ws, bs, dys);
      expect(r.labels.filter((l) => l === 'conv2d.forward.winograd_input(test)')).toHaveLength(3);
      expect(r.labels.filter((l) => l === 'conv2d.backward_weight.winograd_wgrad(test)')).toHaveLength(3);
      const g = refConvBackward(xs, ws, dys, p);
      expectClose('y', r.y, refConvForward(xs, ws, bs, p), FWD);
      expectClose('dx', r.dx, g.dx, GRAD);
      expectClose('dw', r.dw, g.dw, GRAD);
      // The shared transform scratch goes with the last plan that held it.
      expect([...gpu.cache.keys()].filter((k) => k.startsWith('scratch:winograd'))).toEqual([]);
    }, { policy: { autotune: { force: 'reg8x8' }, conv: { winograd: true, winogradTile: 2, maxBindingBytes: 40 << 10 } } });
  });

  it('is left out when forced off, and for other shapes even when forced on', async () => {
    await withGpu(async (gpu) => {
      const xs = randn(2 * 16 * 64, 71), ws = randn(16 * 16 * 9, 72), dys = randn(2 * 16 * 64, 73);
      const off = await withPolicy(gpu, { conv: { winograd: false } }, () => run(gpu, conv3(2, 16, 8, 8, 16), xs, ws, null, dys));
      expect(off.labels.some((l) => l.includes('winograd'))).toBe(false);
      const on = await withPolicy(gpu, { conv: { winograd: true } }, () => run(gpu, conv3(2, 16, 8, 8, 16), xs, ws, null, dys));
      expect(on.labels.some((l) => l.includes('winograd'))).toBe(true);
      expectClose('y on vs off', on.y, off.y, FWD);
      expectClose('dx on vs off', on.dx, off.dx, GRAD);
      expectClose('dw on vs off', on.dw, off.dw, GRAD);
    });
  });
});

describe('where Winograd is used by default', () => {
  const problem = (p: Partial<Parameters<typeof useWinograd>[0]>) => ({
    bwd: false, N: 2, Cred: 64, IH: 40, IW: 64, Cols: 64, OH: 40, OW: 64,
    SH: 1, SW: 1, PH: 1, PW: 1, KH: 3, KW: 3, wsc: 0, wsr: 0, accumulate: false, ...p,
  }) as Parameters<typeof useWinograd>[0];
  it('takes the 3x3 stride-1 layers of ResNet-18 and leaves the rest', () => {
    // Costs per channel pair (winograd.ts passCost): GEMM products + 10 x the transformed filter.
    expect(useWinograd(problem({ bwd: true }), undefined)).toBe(4); // layer1, 2x40x64: F4 11880, F2 20640, direct 46170
    expect(useWinograd(problem({}), undefined)).toBe(3); // training forwards: F(2x2) or F(3x3) (15650 < 20640)
    expect(useWinograd(problem({}), undefined, 4)).toBe(4);
    expect(useWinograd(problem({ inference: true }), undefined)).toBe(4); // eval mode: no gradient flows through it
    expect(useWinograd(problem({ IH: 10, IW: 16, OH: 10, OW: 16 }), undefined)).toBe(2); // F2 1440 < F3 1450
    expect(useWinograd(problem({ bwd: true, IH: 10, IW: 16, OH: 10, OW: 16 }), undefined)).toBe(4); // layer3: F4 1224, F2 1440
    expect(useWinograd(problem({ bwd: true, Cred: 512, Cols: 512, IH: 5, IW: 8, OH: 5, OW: 8 }), undefined)).toBe(2); // layer4: F2 544, F4 648, direct 810
    expect(useWinograd(problem({ Cred: 512, Cols: 512, IH: 3, IW: 3, OH: 3, OW: 3 }), undefined)).toBe(0); // F2 288 > 0.8 · direct 252
    expect(useWinograd(problem({ Cred: 3, Cols: 64 }), undefined)).toBe(0); // few channels
    expect(useWinograd(problem({ N: 1, IH: 1, IW: 1, OH: 1, OW: 1 }), undefined)).toBe(0); // 1 pixel: 16 products for 9
    expect(useWinograd(problem({ SH: 2, SW: 2, OH: 20, OW: 32 }), true)).toBe(0); // strided
    expect(useWinograd(problem({ KH: 1, KW: 1, PH: 0, PW: 0 }), true)).toBe(0); // 1x1
    expect(useWinograd(problem({}), false)).toBe(0);
    expect(useWinograd(problem({}), true, 2)).toBe(2);
  });
  it('computes the weight gradient of the same layers in the Winograd domain', () => {
    const conv = (p: Partial<Conv2dParams>): Conv2dParams => ({ ...conv3(2, 64, 40, 64, 64), ...p });
    expect(useWinogradWgrad(conv({}), undefined)).toBe(4);
    expect(useWinogradWgrad(conv({ C: 3 }), undefined)).toBe(0);
    expect(useWinogradWgrad(conv({ N: 1, H: 1, W: 1 }), undefined)).toBe(0);
    expect(useWinogradWgrad(conv({ strideH: 2, strideW: 2 }), true)).toBe(0);
    expect(useWinogradWgrad(conv({}), false)).toBe(0);
  });
  it('splits the weight-gradient reduction over tile rows', async () => {
    const p = conv3(2, 6, 10, 12, 5);
    const xs = randn(p.N * p.C * p.H * p.W, 81), ws = randn(p.K * p.C * 9, 82), dys = randn(p.N * p.K * p.H * p.W, 83);
    for (const [splits, tile] of [[1, 2], [3, 2], [10, 2], [1, 3], [4, 3], [1, 4], [3, 4], [6, 4]] as const) {
      await withGpu(async (gpu) => {
        const r = await run(gpu, p, xs, ws, null, dys);
        expect(r.labels.includes('conv2d.backward_weight.reduce(test)'), `splits ${splits}`).toBe(splits > 1);
        expectClose(`dw splits=${splits} F${tile}`, r.dw, refConvBackward(xs, ws, dys, p).dw, GRAD);
      }, { policy: { autotune: { force: 'wg4x4t4k' }, conv: { winograd: true, wgradSplits: splits, winogradTile: tile } } });
    }
  });
});
