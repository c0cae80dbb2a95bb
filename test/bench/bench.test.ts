// Smoke run of `webfcn bench` at a tiny size: every stage and comparison field is present and a
// positive finite number, the peers that are quick at this size (tfjs-wasm inference, PyTorch)
// run and report, and tfjs-wasm's missing weight-gradient kernel is reported as n/a after a real
// attempt. No timing assertions.
import { afterAll, describe, expect, it } from 'vitest';
import { benchSvg, formatBench, runBench, type BenchResult } from '../../src/bench/index.js';
import { fcnFlops } from '../../src/bench/flops.js';
import { parsePeers } from '../../src/bench/peers.js';
import { releaseGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

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
  it('reports every stage, the peers and the ratios at 1 x 64 x 64', async () => {
    const r: BenchResult = await withGpu((gpu) =>
      runBench(gpu, {
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
    const w = json.webfcn;

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

    expect(json.comparisons.map((c) => c.name)).toEqual(['webfcn', 'tfjs-wasm', 'tfjs-wasm (pixels)', 'torch']);
    type Row = BenchResult['comparisons'][0];
    const [web, wasm, wasmPixels, torch] = json.comparisons as [Row, Row, Row, Row];
    // The like-for-like inference row: from host pixels, no training column.
    expect(wasmPixels.trainStepsPerSec).toBeNull();
    for (const v of [wasmPixels.inferImagesPerSec, wasmPixels.inferRatio]) expect(positive(v)).toBe(true);
    expect(wasmPixels.inferRatio).toBeCloseTo(w.infer.imagesPerSec / wasmPixels.inferImagesPerSec!, 9);
    expect(web.trainRatio).toBe(1);
    expect(web.inferRatio).toBe(1);
    // tfjs-wasm: inference measured; training attempted and reported as not applicable.
    expect(wasm.trainStepsPerSec).toBeNull();
    expect(wasm.trainRatio).toBeNull();
    expect(wasm.trainNote).toBe('n/a: no Conv2DBackpropFilter kernel');
    for (const v of [wasm.inferImagesPerSec, wasm.inferGflops, wasm.inferPeakFraction, wasm.inferRatio]) expect(positive(v)).toBe(true);
    for (const v of [torch.trainStepsPerSec, torch.trainGflops, torch.trainPeakFraction, torch.trainRatio,
      torch.inferImagesPerSec, torch.inferGflops, torch.inferPeakFraction, torch.inferRatio]) {
      expect(positive(v)).toBe(true);
    }
    expect(torch.trainRatio).toBeCloseTo(w.train.stepsPerSec / torch.trainStepsPerSec!, 9);
    expect(wasm.inferRatio).toBeCloseTo(w.infer.imagesPerSec / wasm.inferImagesPerSec!, 9);
    expect(json.peers.find((p) => p.peer === 'torch')!.detail).toMatch(/threads/);

    const text = formatBench(r);
    for (const name of ['webfcn', 'tfjs-wasm', 'torch', 'forward', 'backward', 'optimiser', 'fused step']) expect(text).toContain(name);
    expect(text).toContain('n/a: no Conv2DBackpropFilter kernel');
    const svg = benchSvg(r);
    expect(svg.startsWith('<svg')).toBe(true);
    // One bar per measured value: train stages + fused, infer stages + fused, and the throughputs that exist.
    const bars = (svg.match(/<rect x=/g) ?? []).length;
    expect(bars).toBe(w.train.stages.length + 1 + w.infer.stages.length + 1 + 4 + 2);
  }, 600_000);
});
