// Smoke run of `webfcn bench` at a tiny size: every stage and comparison field is present and a
// positive finite number, on both backends (WebGPU and wasm rows in one run) and on wasm alone,
// the peers that are quick at this size (tfjs-wasm inference, PyTorch) run and report, and
// tfjs-wasm's missing weight-gradient kernel is reported as n/a after a real attempt. No timing
// assertions.
import { afterAll, describe, expect, it } from 'vitest';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { benchSvg, formatBench, runBench, type BenchResult } from '../../src/bench/index.js';
import { fcnFlops } from '../../src/bench/flops.js';
import { parsePeers } from '../../src/bench/peers.js';
import { WASM_WARMUP } from '../../src/bench/wasm.js';
import { releaseGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

let runtime: WasmRuntime | null = null;
afterAll(async () => {
  await runtime?.dispose();
});
/** The file's wasm runtime: two threads, so the pool's path is the one timed. */
async function testRuntime(): Promise<WasmRuntime> {
  runtime ??= await WasmRuntime.create({ threads: 2 });
  return runtime;
}

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('fcnFlops', () => {
  it('counts the stem by hand and scales with the pixel count', () => {
    const a = fcnFlops({ classes: 5, head: 'fcn32s' }, 64, 64);
    // conv1: 7x7, 3 -> 64, stride 2: 32 x 32 outputs.
    expect(a.layers[0]).toEqual({ name: 'conv1', macs: 32 * 32 * 64 * 3 * 49 });
    // transpose_conv: every (2 x 2 input, 64 x 64 tap) pair for 5 -> 5 channels.
    expect(a.layers.at(-1)).toEqual({ name: 'transpose_conv', macs: 2 * 2 * 5 * 5 * 64 * 64 });
    expect(a.trainPerImage).toBe(3 * a.forwardPerImage);
    const b = fcnFlops({ classes: 5, head: 'fcn32s' }, 128, 128);
    expect(b.forwardPerImage).toBe(4 * a.forwardPerImage);
    // 20 convs of the backbone + final_conv + transpose_conv.
    expect(a.layers.length).toBe(22);
  });
});

describe('parsePeers', () => {
  it('accepts known peers and rejects others by name', () => {
    expect(parsePeers('torch,tfjs-wasm,torch')).toEqual(['torch', 'tfjs-wasm']);
    expect(parsePeers('none')).toEqual([]);
    expect(() => parsePeers('tfjs-webgl')).toThrow(/unknown peer 'tfjs-webgl'/);
  });
});

describe('webfcn bench', () => {
  it('reports every stage on both backends, the peers and the ratios at 1 x 64 x 64', async () => {
    const rt = await testRuntime();
    const r: BenchResult = await withGpu((gpu) =>
      runBench({ gpu, wasm: rt }, {
        batch: 1, size: [64, 64], inferBatch: 1, inferSize: [64, 64],
        // The chapter's 21 classes: the head's 21 -> 21 transposed convolution is checked against
        // PyTorch at the chapter's size in test/ops/registry.test.ts (head21).
        classes: 21,
        steps: 1,
        peers: ['tfjs-wasm', 'torch'],
      }),
    );
    // A requested peer that errors fails the run loudly.
    expect(r.failures).toEqual([]);
    const json = JSON.parse(JSON.stringify(r)) as BenchResult;
    const w = json.webgpu!;
    const m = json.wasm!;

    const trainStages = w.train.stages.map((s) => s.name);
    expect(trainStages).toEqual(['decode', 'prep (wasm)', 'prep (ts)', 'upload', 'forward', 'loss', 'backward', 'metrics', 'optimiser', 'readback']);
    expect(w.infer.stages.map((s) => s.name)).toEqual(['upload', 'forward', 'readback']);
    for (const s of [...w.train.stages, ...w.infer.stages]) {
      expect(positive(s.ms), `${s.name} ${s.ms}`).toBe(true);
      expect(['timestamp-query', 'fence', 'wall']).toContain(s.method);
    }
    const gpuStages = w.train.stages.filter((s) => s.where === 'gpu');
    expect(w.train.stagedMs).toBeCloseTo(gpuStages.reduce((a, s) => a + s.ms, 0), 6);
    for (const v of [w.train.fusedMs, w.train.stepsPerSec, w.train.imagesPerSec, w.infer.fusedMs, w.infer.imagesPerSec, w.peak.gflops]) {
      expect(positive(v)).toBe(true);
    }
    expect(w.train.stepsPerSec).toBeCloseTo(1000 / w.train.fusedMs, 9);
    expect(w.timing).toBe(gpuStages.find((s) => s.name === 'forward')!.method);
    // Kernel families: the convolutions are among them and the shares add up to 1.
    expect(w.train.kernels.some((k) => k.kernel.startsWith('conv2d.'))).toBe(true);
    expect(w.train.kernels.reduce((a, k) => a + k.share, 0)).toBeCloseTo(1, 6);
    for (const v of [w.data.decodeMs, w.data.prepWasmMs, w.data.prepTsMs, w.data.headroom, w.data.firstEpochHeadroom]) expect(positive(v)).toBe(true);
    expect(w.data.keepsUp).toBe(w.data.prepWasmMs < w.train.fusedMs);
    expect(json.flops.trainStep).toBe(fcnFlops({ classes: 21, head: 'fcn32s' }, 64, 64).trainPerImage);

    // The wasm row: the trainer's step and the frame pass, on the runtime it was given.
    checkWasm(json, rt, 1, [64, 64]);
    expect(m.peak.gflops).toBeGreaterThan(0);

    expect(json.comparisons.map((c) => c.name)).toEqual(['webfcn (webgpu)', 'webfcn (wasm)', 'tfjs-wasm', 'tfjs-wasm (pixels)', 'torch']);
    type Row = BenchResult['comparisons'][0];
    const [web, own, wasm, wasmPixels, torch] = json.comparisons as [Row, Row, Row, Row, Row];
    // Each row's peak: the adapter's matmul for webfcn on WebGPU, the wasm GEMM for the CPU rows.
    expect(json.comparisons.map((c) => c.peak)).toEqual(['webgpu', 'wasm', 'wasm', 'wasm', 'wasm']);
    expect(web.trainPeakFraction).toBeCloseTo(web.trainGflops! / w.peak.gflops, 9);
    expect(own.trainPeakFraction).toBeCloseTo(own.trainGflops! / m.peak.gflops, 9);
    expect(own.inferPeakFraction).toBeCloseTo(own.inferGflops! / m.peak.gflops, 9);
    expect(torch.trainPeakFraction).toBeCloseTo(torch.trainGflops! / m.peak.gflops, 9);
    expect(own.trainStepsPerSec).toBe(m.train.stepsPerSec);
    expect(own.inferImagesPerSec).toBe(m.infer.imagesPerSec);
    expect(own.trainGflops).toBeCloseTo(json.flops.trainStep * m.train.stepsPerSec / 1e9, 9);
    // Every row carries webfcn's ratio on both backends; the rows of webfcn itself are 1 to their own backend.
    expect(web.ratios.webgpu).toEqual({ train: 1, infer: 1 });
    expect(own.ratios.wasm).toEqual({ train: 1, infer: 1 });
    expect(own.ratios.webgpu!.train).toBeCloseTo(w.train.stepsPerSec / m.train.stepsPerSec, 9);
    expect(web.ratios.wasm!.infer).toBeCloseTo(m.infer.imagesPerSec / w.infer.imagesPerSec, 9);
    // The like-for-like inference row: from host pixels, no training column.
    expect(wasmPixels.trainStepsPerSec).toBeNull();
    for (const v of [wasmPixels.inferImagesPerSec, wasmPixels.ratios.webgpu!.infer, wasmPixels.ratios.wasm!.infer]) expect(positive(v)).toBe(true);
    expect(wasmPixels.ratios.webgpu!.infer).toBeCloseTo(w.infer.imagesPerSec / wasmPixels.inferImagesPerSec!, 9);
    expect(wasmPixels.ratios.wasm!.infer).toBeCloseTo(m.infer.imagesPerSec / wasmPixels.inferImagesPerSec!, 9);
    // tfjs-wasm: inference measured; training attempted and reported as not applicable.
    expect(wasm.trainStepsPerSec).toBeNull();
    expect(wasm.ratios.wasm!.train).toBeNull();
    expect(wasm.ratios.webgpu!.train).toBeNull();
    expect(wasm.trainNote).toBe('n/a: no Conv2DBackpropFilter kernel');
    for (const v of [wasm.inferImagesPerSec, wasm.inferGflops, wasm.inferPeakFraction, wasm.ratios.webgpu!.infer, wasm.ratios.wasm!.infer]) {
      expect(positive(v)).toBe(true);
    }
    for (const v of [torch.trainStepsPerSec, torch.trainGflops, torch.trainPeakFraction, torch.ratios.webgpu!.train, torch.ratios.wasm!.train,
      torch.inferImagesPerSec, torch.inferGflops, torch.inferPeakFraction, torch.ratios.webgpu!.infer, torch.ratios.wasm!.infer]) {
      expect(positive(v)).toBe(true);
    }
    expect(torch.ratios.webgpu!.train).toBeCloseTo(w.train.stepsPerSec / torch.trainStepsPerSec!, 9);
    expect(torch.ratios.wasm!.train).toBeCloseTo(m.train.stepsPerSec / torch.trainStepsPerSec!, 9);
    expect(wasm.ratios.wasm!.infer).toBeCloseTo(m.infer.imagesPerSec / wasm.inferImagesPerSec!, 9);
    expect(json.peers.find((p) => p.peer === 'torch')!.detail).toMatch(/threads/);
    // PyTorch's best native rate: the peak the wasm GEMM is put against.
    const native = json.peers.find((p) => p.peer === 'torch')!;
    expect(positive(native.peakGflops)).toBe(true);
    expect(native.peakKernel).toMatch(/torch\.mm|conv2d/);
    expect(json.peers.find((p) => p.peer === 'tfjs-wasm')!.detail).toMatch(/\d+ threads?, (simd128|no SIMD)/);
    expect(Object.keys(json.bottleneck).sort()).toEqual(['wasm', 'webgpu']);
    expect(json.skipped).toEqual([]);

    const text = formatBench(r);
    for (const name of ['webfcn (webgpu)', 'webfcn (wasm)', 'tfjs-wasm', 'torch', 'forward', 'backward', 'optimiser', 'fused step',
      'wasm/row', 'webgpu/row', 'Peak "webgpu"', 'Peak "wasm"', 'Bottleneck (wasm)', 'Bottleneck (webgpu)', '2 threads', 'Native CPU peak (PyTorch']) {
      expect(text).toContain(name);
    }
    expect(text).toContain('n/a: no Conv2DBackpropFilter kernel');
    const svg = benchSvg(r);
    expect(svg.startsWith('<svg')).toBe(true);
    // One bar per measured value: per backend train stages + fused and infer stages + fused, and the throughputs that exist.
    const bars = (svg.match(/<rect x=/g) ?? []).length;
    expect(bars).toBe(w.train.stages.length + 1 + w.infer.stages.length + 1 + m.train.stages.length + 1 + m.infer.stages.length + 1 + 5 + 3);
  }, 600_000);

  it('runs the wasm row alone (no WebGPU device), against the wasm GEMM peak', async () => {
    const rt = await testRuntime();
    const r = await runBench({ wasm: rt }, {
      batch: 2, size: [32, 64], inferBatch: 1, inferSize: [64, 32], classes: 5, steps: 2, peers: [],
    });
    const json = JSON.parse(JSON.stringify(r)) as BenchResult;
    expect(json.webgpu).toBeNull();
    checkWasm(json, rt, 2, [32, 64]);
    expect(json.comparisons.map((c) => c.name)).toEqual(['webfcn (wasm)']);
    const [own] = json.comparisons as [BenchResult['comparisons'][0]];
    expect(own.ratios).toEqual({ wasm: { train: 1, infer: 1 } });
    expect(own.trainGflops).toBeCloseTo(2 * fcnFlops({ classes: 5, head: 'fcn32s' }, 32, 64).trainPerImage * json.wasm!.train.stepsPerSec / 1e9, 6);
    expect(own.inferGflops).toBeCloseTo(fcnFlops({ classes: 5, head: 'fcn32s' }, 64, 32).forwardPerImage * json.wasm!.infer.imagesPerSec / 1e9, 6);
    expect(Object.keys(json.bottleneck)).toEqual(['wasm']);
    const text = formatBench(r);
    expect(text).toContain('webfcn (wasm)');
    expect(text).not.toContain('webgpu/row');
    expect(text).not.toContain('Peak "webgpu"');
    const bars = (benchSvg(r).match(/<rect x=/g) ?? []).length;
    expect(bars).toBe(json.wasm!.train.stages.length + 1 + json.wasm!.infer.stages.length + 1 + 2);
    await expect(runBench({}, { batch: 1, size: [32, 32], inferBatch: 1, inferSize: [32, 32], classes: 5, steps: 1, peers: [] }))
      .rejects.toThrow(/neither a WebGPU device nor a wasm runtime/);
  }, 600_000);
});

/** The wasm row's structure: the runtime it ran on, the shapes, positive finite stage times adding up to the fused ones. */
function checkWasm(json: BenchResult, rt: WasmRuntime, B: number, size: [number, number]): void {
  const m = json.wasm!;
  expect(m.runtime).toEqual({ threads: rt.threads, simd: rt.simd, sharedMemory: rt.shared, summary: rt.describe() });
  expect(m.warmup).toBe(WASM_WARMUP);
  expect(m.peak.threads).toBe(rt.threads);
  expect(m.peak.kernel).toMatch(/^packed gemm \d+x\d+x\d+$/);
  expect(m.train.batch).toBe(B);
  expect(m.train.size).toEqual(size);
  // The trainer's step stage by stage, as the WebGPU bench lays it out; inference: the forward and the rest of the frame pass.
  expect(m.train.stages.map((s) => s.name)).toEqual(['upload', 'forward', 'loss', 'backward', 'metrics', 'optimiser', 'readback']);
  expect(m.infer.stages.map((s) => s.name)).toEqual(['forward', 'rest']);
  for (const v of [m.peak.gflops, m.train.fusedMs, m.train.stagedMs, m.train.stepsPerSec, m.train.imagesPerSec, m.infer.fusedMs, m.infer.imagesPerSec,
    ...m.train.stages.map((s) => s.ms), m.infer.stages[0]!.ms]) {
    expect(positive(v), String(v)).toBe(true);
  }
  expect(m.train.stagedMs).toBeCloseTo(m.train.stages.reduce((a, s) => a + s.ms, 0), 9);
  for (const s of m.train.stages) expect(s.share).toBeCloseTo(s.ms / m.train.stagedMs, 9);
  // Inference 'rest' is what the pass leaves after its forward: never negative, and the two add up to the pass.
  expect(m.infer.stages[1]!.ms).toBeGreaterThanOrEqual(0);
  expect(m.infer.stages[0]!.ms + m.infer.stages[1]!.ms).toBeCloseTo(m.infer.fusedMs, 9);
  for (const s of m.infer.stages) expect(s.share).toBeCloseTo(s.ms / m.infer.fusedMs, 9);
  expect(m.train.stepsPerSec).toBeCloseTo(1000 / m.train.fusedMs, 9);
  expect(m.train.imagesPerSec).toBeCloseTo(1000 * B / m.train.fusedMs, 9);
  // Kernel families: every conv pass of the network is among them, and the shares add up to 1.
  const families = m.train.kernels.map((k) => k.kernel);
  for (const k of ['conv2d.forward', 'conv2d.backward_input', 'conv2d.backward_weight', 'conv_transpose2d.forward', 'batch_norm.train', 'batch_norm.backward']) {
    expect(families).toContain(k);
  }
  expect(m.train.kernels.find((k) => k.kernel === 'conv2d.forward')!.dispatches).toBe(21);
  expect(m.train.kernels.reduce((a, k) => a + k.share, 0)).toBeCloseTo(1, 6);
  expect(json.bottleneck.wasm!.kernel).toBe(m.train.kernels[0]!.kernel);
  const top = m.train.stages.reduce((a, s) => (s.ms > a.ms ? s : a));
  expect(json.bottleneck.wasm!.stage).toBe(top.name);
}
