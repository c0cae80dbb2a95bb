// The non-convolution kernels on the WebAssembly runtime (src/backends/wasm/ops.ts) against the
// PyTorch goldens (tools/golden/ops.py) with the WebGPU tests' tolerances, and against the
// float64 references on random shapes, on one thread and on two.
import { describe, expect, it } from 'vitest';
import {
  add, argmax, batchNormBackward, batchNormEval, batchNormTrain, confusion, crossEntropy, crossEntropyScratchBytes, maxPoolBackward,
  maxPoolForward, normalizeRgba, poolOutSize, reluBackward, reluForward, sgdStep, type PoolParams,
} from '../../src/backends/wasm/ops.js';
import { foldNormalisation, IMAGENET_MEAN, IMAGENET_STD } from '../../src/io/normalisation.js';
import type { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { compare, randn } from '../helpers/gpu.js';
import {
  argmaxRef, batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef, confusionRef, crossEntropyRef, maxPoolBackwardRef,
  maxPoolRef, sgdRef, type CeGeom, type Nchw,
} from '../../src/ops/reference/ops.js';
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

  it('add matches PyTorch a + b exactly; accumulating in place', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const g = loadGolden('ops_add');
      const a = g.f32('a'), b = g.f32('b');
      const pa = put(rt, a), pb = put(rt, b), out = filled(rt, a.length, NaN);
      add(rt, out, pa, pb, a.length);
      expect(Array.from(rt.read(out, a.length))).toEqual(Array.from(g.f32('sum')));
      add(rt, pa, pa, pb, a.length); // addInto
      add(rt, pa, pa, pb, a.length);
      expectClose('a + 2b', rt.read(pa, a.length), Array.from(a, (v, i) => v + 2 * b[i]!), 1e-6, 1e-6);
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

  const pool = loadGolden('ops_max_pool');
  for (const c of pool.meta as Array<{ name: string } & PoolParams>) {
    it(`max_pool2d matches PyTorch values, indices and dx (${c.name})`, async () => {
      const rt = await testRuntime(threads);
      await scoped(rt, () => {
        const { OH, OW } = poolOutSize(c);
        const no = c.N * c.C * OH * OW, ni = c.N * c.C * c.H * c.W;
        const x = put(rt, pool.f32(`${c.name}.x`)), dy = put(rt, pool.f32(`${c.name}.dy`));
        const y = filled(rt, no, NaN), idx = filled(rt, no, NaN), dx = filled(rt, ni, NaN);
        maxPoolForward(rt, y, idx, x, c);
        maxPoolBackward(rt, dx, dy, idx, c);
        expect(Array.from(rt.read(y, no))).toEqual(Array.from(pool.f32(`${c.name}.y`)));
        expect(Array.from(u32(rt, idx, no))).toEqual(Array.from(pool.u32(`${c.name}.indices`)));
        // dx sums at most ⌈k/S⌉² values in another order than PyTorch's.
        expectClose('dx', rt.read(dx, ni), pool.f32(`${c.name}.dx`), 1e-6, 1e-6);
      });
    });
  }

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

  const bn = loadGolden('ops_batch_norm');
  for (const c of bn.meta as Array<{ name: string } & Nchw>) {
    it(`batch_norm matches PyTorch train/eval forward and backward (${c.name})`, async () => {
      const rt = await testRuntime(threads);
      await scoped(rt, () => {
        const g = (k: string) => bn.f32(`${c.name}.${k}`);
        const n = c.N * c.C * c.H * c.W;
        const st = {
          weight: put(rt, g('weight')), bias: put(rt, g('bias')), runningMean: put(rt, g('running_mean0')), runningVar: put(rt, g('running_var0')),
          saveMean: filled(rt, c.C), saveInvstd: filled(rt, c.C),
        };
        const x = put(rt, g('x')), dy = put(rt, g('dy')), y = filled(rt, n, NaN), yEval = filled(rt, n, NaN), dx = filled(rt, n, 123);
        const dw = filled(rt, c.C, 0.5), db = filled(rt, c.C, 0.5);
        const evalSt = { ...st, runningMean: put(rt, g('running_mean0')), runningVar: put(rt, g('running_var0')) };
        batchNormTrain(rt, y, x, st, c);
        batchNormBackward(rt, dx, dw, db, dy, x, st, c);
        batchNormEval(rt, yEval, x, evalSt, c);
        // 'offset' normalises x ≈ 100 ± 0.01: y can match only to ~1e-3 (see test/gpu/batch_norm.test.ts).
        const loose = c.name === 'offset';
        expectClose('y', rt.read(y, n), g('y'), loose ? 1e-3 : 1e-5, 1e-3);
        expectClose('saved mean', rt.read(st.saveMean, c.C), g('mean'), 1e-6, 1e-5);
        expectClose('saved invstd', rt.read(st.saveInvstd, c.C), g('invstd'), 1e-6, 1e-4);
        expectClose('running_mean', rt.read(st.runningMean, c.C), g('running_mean'), 1e-6, 1e-5);
        expectClose('running_var', rt.read(st.runningVar, c.C), g('running_var'), 1e-6, 1e-4);
        expectClose('y eval', rt.read(yEval, n), g('y_eval'), 1e-5, 1e-4);
        if (loose) {
          // As on the GPU: against the exact gradient, about as accurate as PyTorch's own f32 result.
          const exact = batchNormBackwardRef(g('dy'), g('x'), g('weight'), c).dx;
          const ours = compare(rt.read(dx, n), exact, 0, 0).maxAbs, torch = compare(g('dx'), exact, 0, 0).maxAbs;
          expect(ours).toBeLessThanOrEqual(Math.max(1.5 * torch, 1e-4));
        }
        expectClose('dx', rt.read(dx, n), g('dx'), 1e-4, 1e-3);
        expectClose('dweight (onto 0.5)', rt.read(dw, c.C), Float32Array.from(g('dweight'), (v) => v + 0.5), 1e-4, 1e-3);
        expectClose('dbias (onto 0.5)', rt.read(db, c.C), Float32Array.from(g('dbias'), (v) => v + 0.5), 1e-4, 1e-3);
      });
    });
  }

  it('batch_norm matches the float64 reference on random shapes', async () => {
    const rt = await testRuntime(threads);
    for (const s of [{ N: 3, C: 7, H: 9, W: 5 }, { N: 5, C: 4, H: 1, W: 1 }, { N: 2, C: 3, H: 40, W: 41 }]) {
      await scoped(rt, () => {
        const n = s.N * s.C * s.H * s.W;
        const xs = randn(n, 61, -3, 5), ws = randn(s.C, 62), bs = randn(s.C, 63), dys = randn(n, 64);
        const rm0 = randn(s.C, 65), rv0 = randn(s.C, 66, 0.5, 2);
        const st = { weight: put(rt, ws), bias: put(rt, bs), runningMean: put(rt, rm0), runningVar: put(rt, rv0), saveMean: filled(rt, s.C), saveInvstd: filled(rt, s.C) };
        const x = put(rt, xs), dy = put(rt, dys), y = filled(rt, n), yEval = filled(rt, n), dx = filled(rt, n), dw = filled(rt, s.C, 0), db = filled(rt, s.C, 0);
        batchNormEval(rt, yEval, x, st, s);
        batchNormTrain(rt, y, x, st, s);
        batchNormBackward(rt, dx, dw, db, dy, x, st, s);
        const ref = batchNormTrainRef(xs, ws, bs, s), g = batchNormBackwardRef(dys, xs, ws, s);
        expectClose('y eval', rt.read(yEval, n), batchNormEvalRef(xs, ws, bs, rm0, rv0, s), 1e-5, 1e-4);
        expectClose('y', rt.read(y, n), ref.y, 1e-5, 1e-3);
        expectClose('running_mean', rt.read(st.runningMean, s.C), Array.from(rm0, (v, c) => 0.9 * v + 0.1 * ref.mean[c]!), 1e-6, 1e-5);
        expectClose('running_var', rt.read(st.runningVar, s.C), Array.from(rv0, (v, c) => 0.9 * v + 0.1 * ref.varUnbiased[c]!), 1e-6, 1e-4);
        expectClose('dx', rt.read(dx, n), g.dx, 1e-4, 1e-3);
        expectClose('dweight', rt.read(dw, s.C), g.dw, 1e-4, 1e-3);
        expectClose('dbias', rt.read(db, s.C), g.db, 1e-4, 1e-3);
      });
    }
  });

  const am = loadGolden('ops_argmax');
  for (const c of am.meta as Array<{ name: string } & CeGeom>) {
    it(`argmax matches torch.argmax (${c.name})`, async () => {
      const rt = await testRuntime(threads);
      await scoped(rt, () => {
        const lg = am.f32(`${c.name}.logits`), n = c.N * c.H * c.W;
        const out = filled(rt, n, NaN);
        argmax(rt, out, put(rt, lg), c);
        const got = Array.from(u32(rt, out, n));
        expect(got).toEqual(Array.from(am.u32(`${c.name}.pred`)));
        expect(got).toEqual(Array.from(argmaxRef(lg, c)));
      });
    });
  }

  it('confusion matrix: bincount(label·K + pred), 255 ignored, accumulating over calls', async () => {
    const rt = await testRuntime(threads);
    await scoped(rt, () => {
      const n = 200_001, K = 21;
      const labels = Uint32Array.from(randn(n, 71, 0, 1), (u) => (u < 0.1 ? 255 : Math.floor(u * 21.99) % K));
      const pred = Uint32Array.from(randn(n, 72, 0, 1), (u) => Math.floor(u * 20.99));
      const conf = putU32(rt, new Uint32Array(K * K));
      const pl = putU32(rt, labels), pp = putU32(rt, pred);
      confusion(rt, conf, pp, pl, n, K);
      confusion(rt, conf, pp, pl, n, K);
      expect(Array.from(u32(rt, conf, K * K))).toEqual(Array.from(confusionRef(pred, labels, K), (v) => 2 * v));
    });
  });

  const ce = loadGolden('ops_cross_entropy');
  for (const c of ce.meta as Array<{ name: string; valid: number } & CeGeom>) {
    for (const reduction of ['sum', 'mean'] as const) {
      it(`cross-entropy matches PyTorch (${c.name}, reduction '${reduction}', last image fully ignored)`, async () => {
        const rt = await testRuntime(threads);
        await scoped(rt, () => {
          const f = (k: string) => ce.f32(`${c.name}.${k}`);
          const n = c.N * c.K * c.H * c.W;
          const logits = put(rt, f('logits')), labels = putU32(rt, ce.u32(`${c.name}.labels`));
          const losses = filled(rt, c.N, 9), evalLosses = filled(rt, c.N, 9), dl = filled(rt, n, 9);
          const scratch = rt.arena.alloc(crossEntropyScratchBytes(c), 'ce');
          const st = crossEntropy(rt, losses, dl, logits, labels, { ...c, reduction }, scratch);
          const evalSt = crossEntropy(rt, evalLosses, 0, logits, labels, { ...c, reduction }, scratch);
          expectClose('losses', rt.read(losses, c.N), f('losses'), 1e-6, 1e-4);
          expectClose('losses (forward only)', rt.read(evalLosses, c.N), f('losses'), 1e-6, 1e-4);
          expect(rt.read(losses, c.N)[c.N - 1]).toBe(0);
          expect(st.validPixels).toBe(c.valid);
          expect(st.badLabels).toBe(0);
          expectClose('mean loss', [st.meanLoss], f('mean_loss'), 1e-6, 1e-4);
          expectClose('sum loss', [st.sumLoss], [f('losses').reduce((a, b) => a + b, 0)], 1e-6, 1e-4);
          expect(evalSt).toEqual(st);
          expectClose(`dlogits (${reduction})`, rt.read(dl, n), f(`dlogits_${reduction}`), 1e-6, 1e-3);
        });
      });
    }
  }

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
});
