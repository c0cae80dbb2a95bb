// webfcn on the WebAssembly backend, timed as users run it: the trainer's own step
// (WasmTrainer.step + flush, what fit() calls, with the run's optimiser and confusion matrix) and
// the predictor's frame pipeline (predictFrames: RGBA bytes in, normalised in wasm, eval-mode
// network, argmax, u8 class ids out). Kernel calls block until every thread is done, so wall
// time around a call is the op's time; each is timed with performance.now.
//
// Where the time goes: after the timed steps, the trainer's step is replayed stage by stage on its
// own cached plan (the stages of the WebGPU bench: upload, forward, loss, backward, metrics,
// optimiser, readback), every op timed on its own and summed per stage and per kernel family; the
// sum of the stages is shown beside the fused step. Inference: the eval plan's forward op by op,
// the rest of the frame pass (RGBA copy, normalise, argmax, ids out) is the pass minus that.
//
// Peak: the best rate of the backend's packed GEMM (assembly/kernels/gemm.ts, operands packed
// once, the micro-kernel alone) on the same runtime and thread count, over a few shapes of the
// size convolutions hand it: the most this build reaches on this machine.
import { fill, gemm, packA, packB, packedABytes, packedBBytes } from '../backends/wasm/gemm.js';
import * as ops from '../backends/wasm/ops.js';
import type { SimdLevel, WasmRuntime } from '../backends/wasm/runtime.js';
import { initialState } from '../fcn/model.js';
import { predictFrames } from '../fcn/predict.js';
import { CHAPTER_OPTIMIZER } from '../fcn/trainer.js';
import { WasmFcnModel } from '../fcn/wasm/model.js';
import { WasmTrainer } from '../fcn/wasm/trainer.js';
import { median, syntheticBatch, syntheticFrames, type KernelTime, type PeakResult, type WebfcnBenchOptions } from './webfcn.js';

/** One stage of a wasm step or pass: milliseconds (median or fastest of the repetitions). */
export interface WasmStage {
  name: string;
  ms: number;
  /** Share of the staged step (training) or of the fused pass (inference). */
  share: number;
  note?: string;
}

export interface WasmResult {
  runtime: { threads: number; simd: SimdLevel; sharedMemory: boolean; summary: string };
  /** Untimed repetitions before the timed ones (planning, and V8 tiering the kernels up on every thread). */
  warmup: number;
  train: {
    batch: number;
    size: [number, number];
    micro: number;
    /** WasmTrainer.step + flush, wall time. */
    fusedMs: number;
    stepsPerSec: number;
    imagesPerSec: number;
    /** The trainer's step replayed stage by stage, every op timed on its own; shares are of their sum. */
    stages: WasmStage[];
    stagedMs: number;
    /** Per kernel family, forward and backward ops of the step (one replay). */
    kernels: KernelTime[];
  };
  infer: {
    batch: number;
    size: [number, number];
    /** predictFrames, wall time. */
    fusedMs: number;
    imagesPerSec: number;
    stages: WasmStage[];
  };
  peak: PeakResult & { threads: number };
}

/** The same options as the WebGPU row's. */
export type WasmBenchOptions = WebfcnBenchOptions;

/** Untimed steps and passes first: the first plans, and V8 compiles hot wasm functions a second time, optimised. */
export const WASM_WARMUP = 2;

/** GEMM shapes (M x N x K) for the peak: what ResNet-18's convolutions hand the kernel at these sizes. */
const PEAK_SHAPES: ReadonlyArray<readonly [number, number, number]> = [[256, 1024, 576], [512, 512, 512], [128, 2560, 1152]];

/** The best packed-GEMM rate on `rt` (see the file comment): best of 5 after the warm-up, per shape. */
export function wasmPeak(rt: WasmRuntime): PeakResult & { threads: number } {
  let best: PeakResult & { threads: number } = { gflops: 0, kernel: '', method: 'wall', threads: rt.threads };
  for (const [M, N, K] of PEAK_SHAPES) {
    const mark = rt.arena.mark();
    try {
      const [a, b, c, pa, pb] = rt.arena.plan([
        { label: 'peak.a', bytes: M * K * 4 }, { label: 'peak.b', bytes: K * N * 4 }, { label: 'peak.c', bytes: M * N * 4 },
        { label: 'peak.packed_a', bytes: packedABytes(M, K) }, { label: 'peak.packed_b', bytes: packedBBytes(K, N) },
      ]) as [number, number, number, number, number];
      const va = rt.f32(a, M * K), vb = rt.f32(b, K * N);
      for (let i = 0; i < va.length; i++) va[i] = Math.sin(i * 0.37);
      for (let i = 0; i < vb.length; i++) vb[i] = Math.cos(i * 0.21);
      packA(rt, { ptr: a, sr: K, sk: 1 }, M, K, pa);
      packB(rt, { ptr: b, sr: 1, sk: N }, K, N, pb);
      const run = () => gemm(rt, { M, N, K, a: pa, b: pb, c, ldc: N });
      for (let i = 0; i < WASM_WARMUP; i++) run();
      let ms = Infinity;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        run();
        ms = Math.min(ms, performance.now() - t0);
      }
      const gflops = (2 * M * N * K) / ms / 1e6;
      if (gflops > best.gflops) best = { gflops, kernel: `packed gemm ${M}x${N}x${K}`, method: 'wall', threads: rt.threads };
    } finally {
      rt.arena.release(mark);
    }
  }
  return best;
}

/** Times webfcn's training step and inference pass on the wasm runtime `rt`; see the file comment. */
export async function benchWasm(rt: WasmRuntime, o: WasmBenchOptions): Promise<WasmResult> {
  const log = o.log ?? (() => {});
  const runs = Math.max(1, o.steps);
  const pick = o.stat === 'min' ? (v: number[]) => Math.min(...v) : median;
  /** `fn`'s wall ms: WASM_WARMUP untimed calls, then `runs` timed ones, reduced by the chosen stat. */
  const timeRuns = async (what: string, unit: string, fn: () => Promise<unknown>): Promise<number> => {
    for (let i = 0; i < WASM_WARMUP; i++) {
      log(`${what}, warm-up ${i + 1}/${WASM_WARMUP}`);
      await fn();
    }
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      log(`${what}: ${unit} ${i + 1}/${runs}`);
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
    }
    return pick(ms);
  };
  const K = o.classes;
  log(`wasm: timing the packed GEMM (${rt.describe()})`);
  const peak = wasmPeak(rt);
  const config = { classes: K, head: 'fcn32s' as const };
  const model = new WasmFcnModel(rt, config);
  let trainer: WasmTrainer | null = null;
  try {
    model.loadState(initialState(config, { seed: 0 }));

    // ---- training step ------------------------------------------------------------------
    const B = o.batch;
    const [H, W] = o.size;
    trainer = new WasmTrainer(model, { ...CHAPTER_OPTIMIZER }, o.memoryBudget ?? 1.5 * 2 ** 30);
    const micro = trainer.chooseMicroBatch(B, H, W);
    const host = syntheticBatch(B, H, W, K);
    const fusedMs = await timeRuns(`wasm train: ${B}x3x${H}x${W} (micro-batch ${micro})`, 'step', async () => {
      await trainer!.step(host, B, H, W);
      await trainer!.flush();
    });
    // Stage by stage: WasmTrainer.step's work on the plan it steps on (cached in the model), every
    // op timed on its own, with regions of our own for labels, losses and metrics.
    log('wasm train: stage-by-stage breakdown');
    const plan = model.plan(micro, H, W, 'train');
    const px = micro * H * W;
    const [labels, losses, pred, conf, ceScratch] = model.reserve([
      { label: 'bench.labels', bytes: px * 4 },
      { label: 'bench.losses', bytes: micro * 4 },
      { label: 'bench.pred', bytes: px * 4 },
      { label: 'bench.confusion', bytes: K * K * 4 },
      { label: 'bench.cross-entropy partial sums', bytes: ops.crossEntropyScratchBytes({ N: micro, H, W }) },
    ]) as [number, number, number, number, number];
    const opt = trainer.opt;
    const arenas = model.store.trainedArenas();
    const byKernel = new Map<string, { dispatches: number; ms: number }>();
    const timed = (fn: () => void): number => {
      const t0 = performance.now();
      fn();
      return performance.now() - t0;
    };
    const stepStages = (first: boolean): Record<string, number> => {
      const t: Record<string, number> = { upload: 0, forward: 0, loss: 0, backward: 0, metrics: 0, optimiser: 0, readback: 0 };
      t.optimiser! += timed(() => { for (const a of arenas) fill(rt, a.grads, a.elements); });
      for (let m = 0; m < B / micro; m++) {
        t.upload! += timed(() => {
          rt.write(plan.images.ptr, host.images.subarray(m * micro * 3 * H * W, (m + 1) * micro * 3 * H * W));
          new Uint32Array(rt.memory.buffer, labels, px).set(host.labels.subarray(m * px, (m + 1) * px));
        });
        for (const [stage, steps] of [['forward', plan.forward], ['loss', null], ['backward', plan.backward]] as const) {
          if (!steps) {
            t.loss! += timed(() => ops.crossEntropy(rt, losses, plan.dlogits!.ptr, plan.logits.ptr, labels, {
              N: micro, K, H, W, reduction: opt.reduction, ignoreIndex: 255, microBatches: B / micro,
            }, ceScratch));
            continue;
          }
          for (const s of steps) {
            const ms = timed(() => s.run());
            t[stage]! += ms;
            if (!first) continue;
            const name = s.label.replace(/\(.*$/, '');
            const e = byKernel.get(name) ?? { dispatches: 0, ms: 0 };
            e.dispatches += m === 0 ? 1 : 0;
            e.ms += ms;
            byKernel.set(name, e);
          }
        }
        t.metrics! += timed(() => {
          ops.argmax(rt, pred, plan.logits.ptr, { N: micro, K, H, W });
          ops.confusion(rt, conf, pred, labels, px, K);
        });
        t.readback! += timed(() => void rt.f32(losses, micro).slice());
      }
      t.optimiser! += timed(() => {
        for (const a of arenas) {
          ops.sgdStep(rt, a.values, a.grads, a.momentum, a.elements, { lr: opt.lr, weightDecay: opt.weightDecay, momentum: opt.momentum, nesterov: opt.nesterov });
        }
      });
      return t;
    };
    fill(rt, conf, K * K);
    const stageRuns = Array.from({ length: runs }, (_, r) => stepStages(r === 0));
    const notes: Record<string, string> = {
      upload: 'images and labels into the plan', loss: 'cross-entropy forward + dlogits', metrics: 'argmax + confusion matrix',
      optimiser: 'zero grads + SGD', readback: 'per-image losses',
    };
    const staged = Object.keys(stageRuns[0]!).map((name) => ({ name, ms: pick(stageRuns.map((t) => t[name]!)) }));
    const stagedMs = staged.reduce((a, st) => a + st.ms, 0);
    const trainStages: WasmStage[] = staged.map((st) => ({ ...st, share: st.ms / stagedMs, ...(notes[st.name] ? { note: notes[st.name] } : {}) }));
    const kernelTotal = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
    const kernels: KernelTime[] = [...byKernel.entries()]
      .map(([kernel, e]) => ({ kernel, dispatches: e.dispatches, ms: e.ms, share: e.ms / kernelTotal }))
      .sort((a, b) => b.ms - a.ms);
    await trainer.dispose();
    trainer = null;

    // ---- inference ------------------------------------------------------------------------
    const IB = o.inferBatch;
    const [IH, IW] = o.inferSize;
    const frames = syntheticFrames(IB, IH, IW);
    const iFusedMs = await timeRuns(`wasm infer: ${IB}x${IH}x${IW} frames`, 'pass', () => predictFrames(model, frames, IB, IH, IW));
    // The eval plan predictFrames ran (sides already multiples of 32 here), op by op.
    const evalPlan = model.plan(IB, Math.ceil(IH / 32) * 32, Math.ceil(IW / 32) * 32, 'eval');
    const iFwd: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      for (const s of evalPlan.forward) s.run();
      iFwd.push(performance.now() - t0);
    }
    const inferFwd = Math.min(pick(iFwd), iFusedMs);
    const inferRest = iFusedMs - inferFwd;
    return {
      runtime: { threads: rt.threads, simd: rt.simd, sharedMemory: rt.shared, summary: rt.describe() },
      warmup: WASM_WARMUP,
      train: {
        batch: B, size: [H, W], micro, fusedMs, stepsPerSec: 1000 / fusedMs, imagesPerSec: (1000 * B) / fusedMs,
        stages: trainStages, stagedMs, kernels,
      },
      infer: {
        batch: IB, size: [IH, IW], fusedMs: iFusedMs, imagesPerSec: (1000 * IB) / iFusedMs,
        stages: [
          { name: 'forward', ms: inferFwd, share: inferFwd / iFusedMs, note: 'eval-mode network' },
          { name: 'rest', ms: inferRest, share: inferRest / iFusedMs, note: 'RGBA copy in + normalise, argmax, u8 ids out' },
        ],
      },
      peak,
    };
  } finally {
    if (trainer) await trainer.dispose().catch(() => null);
    await model.dispose();
  }
}
