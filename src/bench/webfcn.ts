// Where the time of one FCN-ResNet18 training step and one inference pass goes in webfcn.
//
// GPU stages are recorded as separate submissions (one compute pass each) so each can be timed:
// with timestamp queries around the pass where the adapter has 'timestamp-query', otherwise by
// the submission fence (queue.onSubmittedWorkDone, so the time includes one queue round trip).
// The stages are the trainer's own (Trainer.stages: the dispatches Trainer.step records, with the
// run's optimiser and the confusion matrix); the real step records them all in ONE command
// encoder (Trainer.step), timed on its own as the "fused step", and the sum of the stages shows
// what splitting costs.
// Host stages (decode, crop + normalise + colour map, in WebAssembly and in the TypeScript twins)
// are timed with performance.now over enough calls to last ~50 ms.
import { decodeJpeg, decodePng, encodeJpeg, encodePngRgb } from '../data/codec.js';
import { ColorTable, IGNORE_LABEL, VOC_BORDER, VOC_COLORMAP } from '../data/colormap.js';
import { Preprocessor } from '../data/preprocess.js';
import { tsKernels } from '../data/preprocess-ts.js';
import { mulberry32 } from '../data/rng.js';
import { renderSample } from '../data/synth.js';
import type { Gpu } from '../gpu/device.js';
import { disposeDispatch, encode, type Dispatch } from '../gpu/kernel.js';
import { matmul, type MatmulVariant } from '../gpu/ops/matmul.js';
import { Tensor } from '../gpu/tensor.js';
import { FcnModel, initialState } from '../fcn/model.js';
import { planFrames } from '../fcn/predict.js';
import { CHAPTER_OPTIMIZER, chooseMicroBatch, Trainer } from '../fcn/trainer.js';

export type TimingMethod = 'timestamp-query' | 'fence' | 'wall';

/** One stage of a step: milliseconds per step (median or fastest of the repetitions; host stages: median per batch). */
export interface Stage {
  name: string;
  ms: number;
  method: TimingMethod;
  /** 'gpu' stages run on the device; 'host' stages on the CPU in JavaScript/WebAssembly. */
  where: 'gpu' | 'host';
  note?: string;
}

/** GPU time of one kernel family in a training step, each dispatch timed on its own. */
export interface KernelTime {
  /** The kernel's name (e.g. 'conv2d.backward_weight'), layer labels dropped. */
  kernel: string;
  dispatches: number;
  ms: number;
  /** Share of the summed per-dispatch times of the step. */
  share: number;
}

export interface PassResult {
  batch: number;
  size: [number, number];
  stages: Stage[];
  /** Sum of the GPU stages (upload .. readback) recorded as separate submissions. */
  stagedMs: number;
  /** The real pass: one command encoder, upload to readback, wall time. */
  fusedMs: number;
}

export interface DataResult {
  /** Source image size the crops are taken from. */
  source: [number, number];
  /** JPEG + PNG decode and colour map (wasm) of one batch: paid once per image (the loader caches). */
  decodeMs: number;
  /** Crop + normalise + labels + colour map of one batch, WebAssembly kernels. */
  prepWasmMs: number;
  /** The same with the TypeScript twins. */
  prepTsMs: number;
  /** Whether a batch is prepared faster than the GPU trains on it (steady state: decoded images cached). */
  keepsUp: boolean;
  /** fused step time / wasm preparation time (> 1: data preparation keeps up). */
  headroom: number;
  /** The same including decoding (the first epoch). */
  firstEpochHeadroom: number;
}

export interface PeakResult {
  gflops: number;
  kernel: string;
  method: TimingMethod;
}

export interface WebfcnResult {
  adapter: { backend: string; description: string; featureLevel: string; software: boolean };
  timing: TimingMethod;
  train: PassResult & { micro: number; stepsPerSec: number; imagesPerSec: number; kernels: KernelTime[] };
  infer: PassResult & { imagesPerSec: number };
  data: DataResult;
  peak: PeakResult;
}

export interface WebfcnBenchOptions {
  batch: number;
  size: [number, number];
  inferBatch: number;
  inferSize: [number, number];
  classes: number;
  /** Timed repetitions after one warm-up. */
  steps: number;
  /** Which of the repetitions is reported: the median, or the fastest (for machines shared with other work). */
  stat?: 'median' | 'min';
  memoryBudget?: number;
  log?: (s: string) => void;
}

export const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** Times GPU work: timestamp queries around one compute pass, or the submission fence. */
class GpuTimer {
  readonly method: TimingMethod;
  private readonly qs: GPUQuerySet | null = null;
  private readonly resolveBuf: GPUBuffer | null = null;
  private readonly readBuf: GPUBuffer | null = null;

  constructor(private readonly gpu: Gpu) {
    const ts = gpu.device.features.has('timestamp-query');
    this.method = ts ? 'timestamp-query' : 'fence';
    if (ts) {
      this.qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
      this.resolveBuf = gpu.createBuffer('bench.timestamps', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
      this.readBuf = gpu.createBuffer('bench.timestamps.read', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    }
  }

  /** Runs `dispatches` as one compute pass in its own submission; returns milliseconds. */
  async pass(dispatches: readonly Dispatch[], label: string): Promise<number> {
    const { gpu } = this;
    gpu.check();
    const enc = gpu.device.createCommandEncoder({ label });
    const t0 = performance.now();
    const timestampWrites = this.qs ? { querySet: this.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined;
    const pass = enc.beginComputePass({ label, timestampWrites });
    encode(pass, dispatches);
    pass.end();
    if (!this.qs) {
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      gpu.check();
      return performance.now() - t0;
    }
    enc.resolveQuerySet(this.qs, 0, 2, this.resolveBuf!, 0);
    enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
    gpu.device.queue.submit([enc.finish()]);
    await this.readBuf!.mapAsync(GPUMapMode.READ);
    const [a, b] = new BigInt64Array(this.readBuf!.getMappedRange().slice(0));
    this.readBuf!.unmap();
    gpu.check();
    return Number(b! - a!) / 1e6;
  }

  /** Wall time of queue work issued by `fn`, up to its completion fence. */
  async fenced(fn: () => void): Promise<number> {
    const t0 = performance.now();
    fn();
    await this.gpu.device.queue.onSubmittedWorkDone();
    this.gpu.check();
    return performance.now() - t0;
  }

  dispose(): void {
    this.qs?.destroy();
    if (this.resolveBuf) this.gpu.destroyBuffer(this.resolveBuf);
    if (this.readBuf) this.gpu.destroyBuffer(this.readBuf);
  }
}

/** Copies `src` into a fresh mappable buffer and maps it; returns wall milliseconds. */
async function readbackMs(gpu: Gpu, src: Tensor, label: string): Promise<number> {
  const t0 = performance.now();
  const buf = gpu.createBuffer(label, src.bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = gpu.device.createCommandEncoder({ label });
  enc.copyBufferToBuffer(src.buffer, src.offset, buf, 0, src.bytes);
  gpu.device.queue.submit([enc.finish()]);
  await buf.mapAsync(GPUMapMode.READ);
  new Uint8Array(buf.getMappedRange()).slice(0);
  buf.unmap();
  const ms = performance.now() - t0;
  gpu.destroyBuffer(buf);
  return ms;
}

/** Median milliseconds per call of a host function, over runs of enough calls to last ~50 ms. */
function timeHost(fn: () => void, runs: number): number {
  fn();
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t >= 50) break;
    reps *= 2;
  }
  const times: number[] = [];
  for (let r = 0; r < Math.max(3, runs); r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    times.push((performance.now() - t) / reps);
  }
  return median(times);
}

/** Deterministic host batch: images (B, 3, H, W) f32 ~ N(0, 1)-ish, labels (B, H, W) in [0, K). */
export function syntheticBatch(B: number, H: number, W: number, K: number): { images: Float32Array<ArrayBuffer>; labels: Uint32Array<ArrayBuffer> } {
  const rng = mulberry32(7);
  const images = new Float32Array(B * 3 * H * W);
  for (let i = 0; i < images.length; i++) images[i] = (rng() - 0.5) * 3.4;
  const labels = new Uint32Array(B * H * W);
  for (let i = 0; i < labels.length; i++) labels[i] = Math.floor(rng() * K);
  return { images, labels };
}

/** Deterministic RGBA frames (B, H, W, 4) u8, as canvas or decoder output. */
export function syntheticFrames(B: number, H: number, W: number): Uint8Array<ArrayBuffer> {
  const rng = mulberry32(11);
  const px = new Uint8Array(B * H * W * 4);
  for (let i = 0; i < px.length; i++) px[i] = (i & 3) === 3 ? 255 : Math.floor(rng() * 256);
  return px;
}

/** Times decode and the per-batch preparation (wasm and TS twins) for B crops of H x W. */
export async function benchData(B: number, H: number, W: number, K: number, runs: number): Promise<Omit<DataResult, 'keepsUp' | 'headroom' | 'firstEpochHeadroom'>> {
  // Sources a little larger than the crop, so the crop window moves as in training.
  const SH = H + Math.max(8, H >> 3), SW = W + Math.max(8, W >> 3);
  const { rgba, label } = renderSample(SH, SW, Math.min(K, 21), 1, mulberry32(1), 2);
  const labelRgb = new Uint8Array(SH * SW * 3);
  for (let p = 0; p < SH * SW; p++) labelRgb.set(label[p] === IGNORE_LABEL ? VOC_BORDER : VOC_COLORMAP[label[p]! % VOC_COLORMAP.length]!, 3 * p);
  const jpg = encodeJpeg(rgba, SH, SW, 90);
  const png = encodePngRgb(labelRgb, SH, SW);
  const table = new ColorTable(VOC_COLORMAP);
  const pre = await Preprocessor.create();
  const img = decodeJpeg(jpg, 'bench.jpg');
  const lblRgba = decodePng(png, 'bench.png');
  const decodeMs = B * timeHost(() => {
    decodeJpeg(jpg, 'bench.jpg');
    decodePng(png, 'bench.png');
  }, runs);
  // Resident copies (what the loader's decoded-image cache holds), as the loader uses them.
  const pImg = pre.alloc(img.data.length), pLblRgba = pre.alloc(lblRgba.data.length), pCls = pre.alloc(SH * SW);
  const pOut = pre.alloc(B * 3 * H * W * 4), pOutL = pre.alloc(B * H * W * 4);
  pre.colorToClassAt(pLblRgba, 4, 1, table, pCls); // loads the table before views are taken
  pre.u8(pImg, img.data.length).set(img.data);
  pre.u8(pLblRgba, lblRgba.data.length).set(lblRgba.data);
  const crops = Array.from({ length: B }, (_, n) => [(n * 5) % (SH - H + 1), (n * 7) % (SW - W + 1)] as const);
  const prepWasmMs = timeHost(() => {
    for (let n = 0; n < B; n++) {
      const [y0, x0] = crops[n]!;
      pre.colorToClassAt(pLblRgba, 4, SH * SW, table, pCls);
      pre.cropNormalizeAt(pImg, SW, img.channels, y0, x0, H, W, pOut, n);
      pre.cropLabelsAt(pCls, SW, y0, x0, H, W, pOutL, n);
    }
  }, runs);
  const outI = new Float32Array(B * 3 * H * W), outL = new Uint32Array(B * H * W), cls = new Uint8Array(SH * SW);
  const prepTsMs = timeHost(() => {
    for (let n = 0; n < B; n++) {
      const [y0, x0] = crops[n]!;
      tsKernels.colorToClass(lblRgba.data, 4, table, cls);
      tsKernels.cropNormalize(img.data, SH, SW, img.channels, y0, x0, H, W, outI, n);
      tsKernels.cropLabels(cls, SH, SW, y0, x0, H, W, outL, n);
    }
  }, runs);
  return { source: [SH, SW], decodeMs, prepWasmMs, prepTsMs };
}

/** The best plain WGSL matmul rate on this adapter (the machine's practical peak). */
async function benchPeak(gpu: Gpu, timer: GpuTimer): Promise<PeakResult> {
  const variants: MatmulVariant[] = gpu.report.software ? ['reg'] : ['reg', 'tiled'];
  let best: PeakResult = { gflops: 0, kernel: '', method: timer.method };
  for (const d of gpu.report.software ? [256, 512, 1024] : [1024, 2048, 4096]) {
    const a = Tensor.zeros(gpu, [d, d], 'peak.a'), b = Tensor.zeros(gpu, [d, d], 'peak.b'), c = Tensor.zeros(gpu, [d, d], 'peak.c');
    for (const v of variants) {
      const disp = await matmul(gpu, c, a, b, v, 'peak');
      await timer.pass([disp], 'peak'); // warm-up
      let t = Infinity;
      for (let r = 0; r < 5; r++) t = Math.min(t, await timer.pass([disp], 'peak'));
      const gflops = (2 * d ** 3) / t / 1e6;
      if (gflops > best.gflops) best = { gflops, kernel: `matmul.${v} ${d}x${d}x${d}`, method: timer.method };
      disposeDispatch(gpu, disp);
    }
    [a, b, c].forEach((t) => t.dispose());
  }
  return best;
}

/** Measures webfcn's stages, fused step and inference on `gpu`; see the file comment. */
export async function benchWebfcn(gpu: Gpu, o: WebfcnBenchOptions): Promise<WebfcnResult> {
  const log = o.log ?? (() => {});
  const K = o.classes;
  const runs = Math.max(1, o.steps);
  const pick = o.stat === 'min' ? (v: number[]) => Math.min(...v) : median;
  const timer = new GpuTimer(gpu);
  const config = { classes: K, head: 'fcn32s' as const };
  const model = new FcnModel(gpu, config);
  const opt = { ...CHAPTER_OPTIMIZER };
  let trainer: Trainer | null = null;
  try {
    model.loadState(initialState(config, { seed: 0 }));
    log('peak: timing plain matmuls');
    const peak = await benchPeak(gpu, timer);

    // ---- training step, stage by stage --------------------------------------------------
    // The trainer's own step (the one fit() runs: its optimiser settings, momentum buffers and
    // confusion matrix included), laid out stage by stage by Trainer.stages().
    const B = o.batch;
    const [H, W] = o.size;
    trainer = new Trainer(gpu, model, { ...opt }, o.memoryBudget ?? 1.5 * 2 ** 30);
    const micro = chooseMicroBatch(gpu, model, B, H, W, trainer.memoryBudget);
    log(`train: planning ${B}x3x${H}x${W} (micro-batch ${micro})`);
    const st = await trainer.stages(B, H, W);
    const host = syntheticBatch(B, H, W, K);
    const copyIn = (m: number) => {
      const enc = gpu.device.createCommandEncoder({ label: 'bench.copy_in' });
      st.copyIn(enc, m);
      gpu.device.queue.submit([enc.finish()]);
    };
    const stepStages = async (): Promise<Record<string, number>> => {
      const t: Record<string, number> = { upload: 0, forward: 0, loss: 0, backward: 0, metrics: 0, optimiser: 0, readback: 0 };
      t.upload! += await timer.fenced(() => st.upload(host));
      t.optimiser! += await timer.pass(st.zero, 'bench.zero_grad');
      for (let m = 0; m < B / micro; m++) {
        t.upload! += await timer.fenced(() => copyIn(m));
        t.forward! += await timer.pass(st.forward, 'bench.forward');
        t.loss! += await timer.pass(st.loss, 'bench.loss');
        t.backward! += await timer.pass(st.backward, 'bench.backward');
        t.metrics! += await timer.pass(st.metrics, 'bench.metrics');
        t.readback! += await readbackMs(gpu, st.losses, 'bench.losses.read');
      }
      t.optimiser! += await timer.pass(st.sgd, 'bench.sgd');
      return t;
    };
    // The real step: Trainer.step, one encoder, upload to loss readback. Staged and fused runs
    // alternate so that load from other processes hits both alike.
    const fusedStep = async (): Promise<number> => {
      const t0 = performance.now();
      await trainer!.step(host, B, H, W);
      await trainer!.flush();
      return performance.now() - t0;
    };
    log('train: staged and fused step (warm-up)');
    await stepStages();
    await fusedStep();
    const stageRuns: Record<string, number>[] = [];
    const fused: number[] = [];
    for (let i = 0; i < runs; i++) {
      log(`train: staged and fused step ${i + 1}/${runs}`);
      stageRuns.push(await stepStages());
      fused.push(await fusedStep());
    }
    // Per-kernel breakdown: every dispatch of one micro-batch's forward, loss, backward and
    // metrics, and of the optimiser, in its own pass (one more step, not part of the medians above).
    log('train: per-kernel breakdown');
    const byKernel = new Map<string, { dispatches: number; ms: number }>();
    const once = new Set([...st.zero, ...st.sgd]);
    for (const d of [...st.zero, ...st.forward, ...st.loss, ...st.backward, ...st.metrics, ...st.sgd]) {
      const ms = await timer.pass([d], 'bench.kernel');
      const name = d.label.replace(/\(.*$/, '');
      const e = byKernel.get(name) ?? { dispatches: 0, ms: 0 };
      const scale = once.has(d) ? 1 : B / micro;
      e.dispatches += 1;
      e.ms += ms * scale;
      byKernel.set(name, e);
    }
    const kernelTotal = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
    const kernels: KernelTime[] = [...byKernel.entries()]
      .map(([kernel, e]) => ({ kernel, dispatches: e.dispatches, ms: e.ms, share: e.ms / kernelTotal }))
      .sort((a, b) => b.ms - a.ms);
    const gpuMethod = timer.method;
    const trainStageList: Stage[] = Object.keys(stageRuns[0]!).map((name) => ({
      name,
      ms: pick(stageRuns.map((r) => r[name]!)),
      method: name === 'upload' ? 'fence' : name === 'readback' ? 'wall' : gpuMethod,
      where: 'gpu',
      note: name === 'optimiser' ? 'zero grads + SGD' : name === 'metrics' ? 'argmax + confusion matrix' : name === 'loss' ? 'cross-entropy forward + dlogits'
        : name === 'upload' ? 'host → staging, staging → inputs' : undefined,
    }));

    const fusedMs = pick(fused);
    await trainer.dispose();
    trainer = null;
    await model.releasePlans();

    // ---- inference ------------------------------------------------------------------------
    const IB = o.inferBatch;
    const [IH, IW] = o.inferSize;
    log(`infer: planning ${IB}x3x${IH}x${IW}`);
    const eval_ = await model.plan(IB, IH, IW, 'eval');
    // The frame pipeline of predictFrames: RGBA u8 up, normalised on the GPU, packed u8 ids back.
    const fp = await planFrames(model, eval_, IH, IW);
    const ihost = syntheticFrames(IB, IH, IW);
    const q = gpu.device.queue;
    const inferStages = async () => ({
      upload: await timer.fenced(() => q.writeBuffer(fp.rgba.buffer, fp.rgba.offset, ihost)),
      forward: await timer.pass(fp.dispatches, 'bench.infer.forward'),
      readback: await readbackMs(gpu, fp.ids, 'bench.infer.read'),
    });
    const readBuf = gpu.createBuffer('bench.infer.readback', fp.ids.bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const inferFused = async (): Promise<number> => {
      const t0 = performance.now();
      q.writeBuffer(fp.rgba.buffer, fp.rgba.offset, ihost);
      const enc = gpu.device.createCommandEncoder({ label: 'bench.infer' });
      const pass = enc.beginComputePass({ label: 'bench.infer' });
      encode(pass, fp.dispatches);
      pass.end();
      enc.copyBufferToBuffer(fp.ids.buffer, fp.ids.offset, readBuf, 0, fp.ids.bytes);
      q.submit([enc.finish()]);
      await readBuf.mapAsync(GPUMapMode.READ);
      new Uint8Array(readBuf.getMappedRange()).slice(0);
      readBuf.unmap();
      gpu.check();
      return performance.now() - t0;
    };
    log('infer: warm-up');
    await inferStages();
    await inferFused();
    const iRuns: Record<string, number>[] = [];
    const iFused: number[] = [];
    for (let i = 0; i < runs; i++) {
      log(`infer: pass ${i + 1}/${runs}`);
      iRuns.push(await inferStages());
      iFused.push(await inferFused());
    }
    gpu.destroyBuffer(readBuf);
    const inferStageList: Stage[] = Object.keys(iRuns[0]!).map((name) => ({
      name,
      ms: pick(iRuns.map((r) => r[name]!)),
      method: name === 'upload' ? 'fence' : name === 'readback' ? 'wall' : gpuMethod,
      where: 'gpu',
      note: name === 'upload' ? 'RGBA u8 frames (N, H, W, 4)' : name === 'forward' ? 'normalise + forward + argmax'
        : name === 'readback' ? 'class ids (N, H, W) u8' : undefined,
    }));
    const iFusedMs = pick(iFused);

    // ---- data preparation -----------------------------------------------------------------
    log('data: decode and preprocessing');
    const d = await benchData(B, H, W, K, runs);
    const data: DataResult = {
      ...d,
      keepsUp: d.prepWasmMs < fusedMs,
      headroom: fusedMs / d.prepWasmMs,
      firstEpochHeadroom: fusedMs / (d.prepWasmMs + d.decodeMs),
    };
    const hostStages: Stage[] = [
      { name: 'decode', ms: d.decodeMs, method: 'wall', where: 'host', note: 'JPEG + PNG, once per image (cached after the first epoch)' },
      { name: 'prep (wasm)', ms: d.prepWasmMs, method: 'wall', where: 'host', note: 'colour map + crop + normalise + labels' },
      { name: 'prep (ts)', ms: d.prepTsMs, method: 'wall', where: 'host', note: 'the same with the TypeScript twins' },
    ];
    const sum = (s: Stage[]) => s.reduce((a, x) => a + x.ms, 0);
    return {
      adapter: {
        backend: gpu.report.backend,
        description: gpu.report.description || gpu.report.device,
        featureLevel: gpu.report.featureLevel,
        software: gpu.report.software,
      },
      timing: gpuMethod,
      train: {
        batch: B, size: [H, W], micro, kernels,
        stages: [...hostStages, ...trainStageList],
        stagedMs: sum(trainStageList),
        fusedMs,
        stepsPerSec: 1000 / fusedMs,
        imagesPerSec: (1000 * B) / fusedMs,
      },
      infer: {
        batch: IB, size: [IH, IW],
        stages: inferStageList,
        stagedMs: sum(inferStageList),
        fusedMs: iFusedMs,
        imagesPerSec: (1000 * IB) / iFusedMs,
      },
      data,
      peak,
    };
  } finally {
    if (trainer) await trainer.dispose().catch(() => null);
    timer.dispose();
    await model.dispose();
  }
}
