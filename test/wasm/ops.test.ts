// What the op registry's generic test (test/ops/registry.test.ts, wasm column) does not cover for
// the non-convolution kernels (src/backends/wasm/ops.ts), on one thread and on two: relu in place
// on 100 003 values, SGD's four-step golden with a changing lr and a large random case, max-pool
// ties, cross-entropy over several pixel tiles with bad labels and micro-batch scaling, and RGBA
// normalisation bit for bit, argmax (u32 and packed u8 ids) over several tiles with NaN, ±∞ and
// ties, on contiguous and padded planes, plus their shape errors. Goldens and random shapes of every op are there.
import { describe, expect, it } from 'vitest';
import {
  argmax, argmaxU8, crossEntropy, crossEntropyScratchBytes, maxPoolBackward, maxPoolForward, normalizeRgba, poolOutSize, reluBackward, reluForward, sgdStep,
} from '../../src/backends/wasm/ops.js';
import { foldNormalisation, IMAGENET_MEAN, IMAGENET_STD } from '../../src/io/normalisation.js';
import type { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { randn } from '../helpers/gpu.js';
import { argmaxPackedRef, argmaxRef, crossEntropyRef, maxPoolBackwardRef, maxPoolRef, sgdRef, type CeGeom } from '../../src/ops/reference/ops.js';
import { expectClose as check } from '../helpers/check.js';
import { loadGolden } from '../helpers/golden.js';
import { filled, put, scoped, testRuntime, THREADS } from '../helpers/wasm.js';

const expectClose = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number) => check(what, got, want, { atol, rtol });

const u32 = (rt: WasmRuntime, p: number, n: number) => new Uint32Array(rt.memory.buffer, p, n).slice();
function putU32(rt: WasmRuntime, data: ArrayLike<number>): number {
  const p = rt.arena.alloc(data.length * 4, 'u32');
  new Uint32Array(rt.memory.buffer, p, data.length).set(data);
  return p;
}

describe.each(THREADS)('ops on %i thread(s)', (threads) => {
  it('relu forward and backward (from the output), in place too, on 100 003 values', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const n = 100_003;
      const xs = randn(n, 1, -2, 2), dys = randn(n, 2);
      xs[5] = 0; xs[6] = -0;
      const x = put(rt, xs), y = filled(rt, n, NaN), dy = put(rt, dys), dx = filled(rt, n, NaN);
      reluForward(rt, y, x, n);
      reluBackward(rt, dx, dy, y, n);
      const ys = rt.read(y, n), dxs = rt.read(dx, n);
      for (let i = 0; i < n; i++) {
        if (ys[i] !== Math.max(xs[i]!, 0)) expect(ys[i], `y[${i}]`).toBe(Math.max(xs[i]!, 0));
        const want = xs[i]! > 0 ? dys[i]! : 0;
        if (dxs[i] !== want) expect(dxs[i], `dx[${i}]`).toBe(want);
      }
      reluForward(rt, x, x, n);
      expect(Array.from(rt.read(x, n))).toEqual(Array.from(ys));
    });
  });

  const sgd = loadGolden('ops_sgd');
  const { n: sgdN, lrs, cases: sgdCases } = sgd.meta as { n: number; lrs: number[]; cases: { name: string; momentum: number; nesterov: boolean; weight_decay: number }[] };
  for (const c of sgdCases) {
    it(`sgd matches torch.optim.SGD after each of ${lrs.length} steps with a changing lr (${c.name})`, async () => {
      const rt = await testRuntime(threads);
      await scoped(rt, () => {
        const grads = sgd.f32('grads'), want = sgd.f32(`${c.name}.params`);
        const params = put(rt, sgd.f32('params0')), g = filled(rt, sgdN), buf = filled(rt, sgdN, 0);
        for (let s = 0; s < lrs.length; s++) {
          rt.write(g, grads.subarray(s * sgdN, (s + 1) * sgdN));
          sgdStep(rt, params, g, buf, sgdN, { lr: lrs[s]!, weightDecay: c.weight_decay, momentum: c.momentum, nesterov: c.nesterov });
          expectClose(`step ${s}`, rt.read(params, sgdN), want.subarray(s * sgdN, (s + 1) * sgdN), 1e-6, 1e-5);
        }
      });
    });
  }

  it('sgd on 70 000 parameters matches the float64 reference (momentum, Nesterov, weight decay)', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const n = 70_000, p0 = randn(n, 91), gs = randn(n, 92);
      const cfg = { lr: 0.1, weightDecay: 1e-3, momentum: 0.9, nesterov: true };
      const params = put(rt, p0), g = put(rt, gs), buf = filled(rt, n, 0);
      const ref = Float64Array.from(p0), refBuf = new Float64Array(n);
      for (let s = 0; s < 3; s++) {
        sgdStep(rt, params, g, buf, n, cfg);
        sgdRef(ref, gs, refBuf, cfg);
      }
      expectClose('params', rt.read(params, n), ref, 1e-6, 1e-5);
      expectClose('momentum', rt.read(buf, n), refBuf, 1e-6, 1e-5);
      expect(() => sgdStep(rt, params, g, 0, n, cfg)).toThrow(/momentum buffer/);
    });
  });

  it('max_pool2d matches the reference on random data with ties', async () => {
    const rt = await testRuntime(threads);
    for (const p of [
      { N: 2, C: 3, H: 13, W: 10, k: 3, stride: 2, pad: 1 },
      { N: 1, C: 2, H: 9, W: 12, k: 4, stride: 3, pad: 2 },
      { N: 3, C: 1, H: 6, W: 7, k: 2, stride: 1, pad: 1 },
    ]) {
      await scoped(rt, () => {
        const n = p.N * p.C * p.H * p.W, { OH, OW } = poolOutSize(p), no = p.N * p.C * OH * OW;
        const xs = randn(n, 31 + p.k).map((v) => Math.round(v * 3) / 2);
        const dys = randn(no, 32);
        const x = put(rt, xs), dy = put(rt, dys), y = filled(rt, no), idx = filled(rt, no), dx = filled(rt, n, NaN);
        maxPoolForward(rt, y, idx, x, p);
        maxPoolBackward(rt, dx, dy, idx, p);
        const ref = maxPoolRef(xs, p);
        expect(Array.from(rt.read(y, no))).toEqual(Array.from(ref.y));
        expect(Array.from(u32(rt, idx, no))).toEqual(Array.from(ref.indices));
        expectClose('dx', rt.read(dx, n), maxPoolBackwardRef(dys, ref.indices, p), 1e-6, 1e-6);
      });
    }
    expect(() => maxPoolForward(rt, 0, 0, 0, { N: 1, C: 1, H: 4, W: 4, k: 2, stride: 2, pad: 2 })).toThrow(/pad ≤ k\/2/);
  });

  it('cross-entropy matches the reference over several pixel tiles, counts bad labels, scales for micro-batches', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const g: CeGeom = { N: 3, K: 7, H: 71, W: 67 }; // 4757 pixels: two 4096-pixel tiles per image
      const lg = randn(g.N * g.K * g.H * g.W, 51, -4, 4);
      const lb = Uint32Array.from(randn(g.N * g.H * g.W, 52, 0, 1), (u) => (u < 0.2 ? 255 : Math.floor(u * 7.99) % 7));
      lb[10] = 9; // a bad label: ignored, and counted
      const ref = crossEntropyRef(lg, lb, g);
      const logits = put(rt, lg), labels = putU32(rt, lb), losses = filled(rt, g.N), dl = filled(rt, lg.length, NaN);
      const scratch = rt.arena.alloc(crossEntropyScratchBytes(g), 'ce');
      const sum = crossEntropy(rt, losses, dl, logits, labels, { ...g, reduction: 'sum' }, scratch);
      expectClose('losses', rt.read(losses, g.N), ref.losses, 1e-6, 1e-4);
      expectClose('dlogits (sum)', rt.read(dl, lg.length), ref.dSum, 1e-6, 1e-3);
      expect(sum.validPixels).toBe(ref.valid);
      expect(sum.badLabels).toBe(1);
      const mean = crossEntropy(rt, losses, dl, logits, labels, { ...g, reduction: 'mean', microBatches: 4 }, scratch);
      expectClose('mean loss', [mean.meanLoss], [ref.meanLoss], 1e-6, 1e-4);
      expectClose('dlogits (mean, 4 micro-batches)', rt.read(dl, lg.length), ref.dMean.map((v) => v / 4), 1e-7, 1e-3);
    });
  });

  it('RGBA normalisation equals the TypeScript arithmetic bit for bit, zero in the padding', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const g = { N: 2, H: 37, W: 29, TH: 40, TW: 32 };
      const frames = Uint32Array.from(randn(g.N * g.H * g.W, 81, 0, 1), (u) => Math.floor(u * 2 ** 32) >>> 0);
      const { scale, bias } = foldNormalisation(IMAGENET_MEAN, IMAGENET_STD);
      const out = filled(rt, g.N * 3 * g.TH * g.TW, NaN);
      normalizeRgba(rt, out, putU32(rt, frames), g, scale, bias);
      const got = rt.read(out, g.N * 3 * g.TH * g.TW);
      for (let n = 0; n < g.N; n++)
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < g.TH; y++)
            for (let x = 0; x < g.TW; x++) {
              const v = y < g.H && x < g.W ? (frames[(n * g.H + y) * g.W + x]! >>> (8 * c)) & 255 : -1;
              const want = v < 0 ? 0 : Math.fround(Math.fround(v * scale[c]!) + bias[c]!);
              const i = ((n * 3 + c) * g.TH + y) * g.TW + x;
              if (got[i] !== want) expect(got[i], `(${n}, ${c}, ${y}, ${x})`).toBe(want);
            }
      expect(() => normalizeRgba(rt, out, 0, { ...g, TH: 30 }, scale, bias)).toThrow(/smaller than the frame/);
    });
  });

  it('argmax into u32 and packed u8 ids: several tiles, ties, NaN and ±∞, contiguous and padded planes', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      // Values in {-1, 0, 1} (many ties), one in 50 NaN, one in 50 ±∞. Contiguous: 2 × 131 × 161
      // pixels (two 16 384-pixel tiles per image, N·H·W ≡ 2 mod 4); padded: rows of 29 in planes of 32.
      for (const g of [{ N: 2, K: 21, H: 131, W: 161, TH: 131, TW: 161 }, { N: 3, K: 5, H: 37, W: 29, TH: 40, TW: 32 }]) {
        const r = randn(g.N * g.K * g.TH * g.TW, 7 + g.K, 0, 1);
        const lg = Float32Array.from(r, (u) => (u < 0.02 ? NaN : u < 0.03 ? Infinity : u < 0.04 ? -Infinity : Math.floor(u * 3) - 1));
        const logits = put(rt, lg);
        const n = g.N * g.H * g.W, words = Math.ceil(n / 4);
        const want = argmaxPackedRef(lg, g);
        const packed = putU32(rt, new Array(words).fill(0xabababab));
        argmaxU8(rt, packed, logits, g);
        const got = u32(rt, packed, words);
        const bad = got.findIndex((w, i) => w !== want[i]);
        expect(bad, `u8 ids ${JSON.stringify(g)}: word ${bad} is ${got[bad]?.toString(16)}, want ${want[bad]?.toString(16)}`).toBe(-1);
        const ids = putU32(rt, new Array(n).fill(77));
        argmax(rt, ids, logits, g);
        const bytes = new Uint8Array(want.buffer, 0, n);
        expect(Array.from(u32(rt, ids, n)), `u32 ids ${JSON.stringify(g)}`).toEqual(Array.from(bytes));
        if (g.TH === g.H && g.TW === g.W) expect(Array.from(bytes)).toEqual(Array.from(argmaxRef(lg, g)));
        // Not all ids are 0 (the data exercise more than the first class).
        expect(bytes.some((b) => b > 0)).toBe(true);
      }
    });
  });

  it('argmax on NaN and ±∞ as torch.argmax (CPU): the first NaN wins, ties to the lowest class; K ≤ 256 for u8 ids', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      // torch.tensor(...).reshape(1, 3, 1, 9).argmax(1) in PyTorch 1.13 CPU gives the ids below;
      // nine pixels: eight by the SIMD step, the last by the scalar tail.
      const q = NaN, inf = Infinity;
      const lg = [
        1, q, 5, q, 2, 2, -inf, q, 1,
        3, 2, q, 7, 2, inf, -inf, 4, q,
        0, q, 2, 1, 2, -inf, -inf, q, 3,
      ];
      const torchIds = [1, 0, 1, 0, 0, 1, 0, 0, 1];
      const g = { N: 1, K: 3, H: 1, W: 9 };
      const logits = put(rt, lg), ids = putU32(rt, new Array(9).fill(77)), packed = putU32(rt, [1, 2, 3]);
      argmax(rt, ids, logits, g);
      expect(Array.from(u32(rt, ids, 9))).toEqual(torchIds);
      argmaxU8(rt, packed, logits, g);
      expect(Array.from(new Uint8Array(u32(rt, packed, 3).buffer))).toEqual([...torchIds, 0, 0, 0]);
      expect(Array.from(argmaxRef(lg, g))).toEqual(torchIds);

      // 256 classes: id 255 fits a byte; 257 is refused before any work.
      const K = 256, big = new Float32Array(K * 8).fill(-1);
      for (let p = 0; p < 8; p++) big[(255 - p * 30) * 8 + p] = 1;
      const out = putU32(rt, [0, 0]);
      argmaxU8(rt, out, put(rt, big), { N: 1, K, H: 1, W: 8 });
      expect(Array.from(new Uint8Array(u32(rt, out, 2).buffer))).toEqual([255, 225, 195, 165, 135, 105, 75, 45]);
      expect(() => argmaxU8(rt, out, logits, { N: 1, K: 257, H: 1, W: 8 })).toThrow(/257 classes do not fit a byte \(at most 256\)/);
      expect(() => argmax(rt, ids, logits, { N: 1, K: 3, H: 2, W: 9, TH: 1, TW: 9 })).toThrow(/plane 1×9 must hold the 2×9 map/);
    });
  });
});
