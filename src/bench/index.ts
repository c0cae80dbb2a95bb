// `webfcn bench`: webfcn's training step and inference pass broken into stages, the same model
// in TensorFlow.js (WebGPU, WebAssembly) and PyTorch (CPU) on the same machine, ratios, GFLOP/s
// (analytic, see flops.ts) and the fraction of the adapter's plain-matmul peak.
import { cpus, loadavg } from 'node:os';
import type { Gpu } from '../gpu/device.js';
import { fcnFlops } from './flops.js';
import { isNotApplicable, runPeer, type PeerName, type PeerResult, type PeerTiming } from './peers.js';
import { benchWebfcn, type WebfcnResult } from './webfcn.js';

export interface BenchOptions {
  batch: number;
  size: [number, number];
  inferBatch: number;
  inferSize: [number, number];
  classes: number;
  steps: number;
  /** Report the median of the timed repetitions, or the fastest (default median). */
  stat?: 'median' | 'min';
  peers: PeerName[];
  /** Peers that may be missing on this machine without failing the run (the defaults). */
  optionalPeers?: PeerName[];
  memoryBudget?: number;
  peerTimeoutSec?: number;
  log?: (s: string) => void;
}

/** Throughput and efficiency of one implementation, and webfcn's ratio to it. */
export interface Comparison {
  name: string;
  detail: string;
  /** Training steps per second (null: not measured, with the reason in trainNote). */
  trainStepsPerSec: number | null;
  inferImagesPerSec: number | null;
  trainGflops: number | null;
  inferGflops: number | null;
  /** GFLOP/s as a fraction of the adapter's best plain matmul. */
  trainPeakFraction: number | null;
  inferPeakFraction: number | null;
  /** webfcn / this implementation (> 1: webfcn is faster); 1 for webfcn itself. */
  trainRatio: number | null;
  inferRatio: number | null;
  trainNote?: string;
  inferNote?: string;
}

export interface BenchResult {
  date: string;
  /** loadAvg: the 1-minute load average at the start and the end (other processes share the CPUs, and llvmpipe runs on them). */
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAvg: [number, number] };
  options: Omit<BenchOptions, 'log'>;
  flops: { forwardPerImage: number; trainPerImage: number; trainStep: number; inferPass: number };
  webfcn: WebfcnResult;
  peers: PeerResult[];
  comparisons: Comparison[];
  /** The largest GPU stage of the training step and the largest kernel family. */
  bottleneck: { stage: string; stageShare: number; kernel: string; kernelShare: number };
  /** Requested peers that failed (not counting an expected 'n/a'). */
  failures: string[];
}

const rate = (t: PeerTiming): number | null => ('perSec' in t ? t.perSec : null);
const note = (t: PeerTiming): string | undefined => ('error' in t ? t.error : undefined);

/** Runs webfcn on `gpu`, then each peer in its own process; see the file comment. */
export async function runBench(gpu: Gpu, o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => {});
  const load0 = loadavg()[0]!;
  const web = await benchWebfcn(gpu, {
    batch: o.batch, size: o.size, inferBatch: o.inferBatch, inferSize: o.inferSize,
    classes: o.classes, steps: o.steps, stat: o.stat, memoryBudget: o.memoryBudget, log,
  });
  const peers: PeerResult[] = [];
  const failures: string[] = [];
  for (const p of o.peers) {
    const r = await runPeer(p, {
      batch: o.batch, size: o.size, inferBatch: o.inferBatch, inferSize: o.inferSize, classes: o.classes,
      steps: o.steps, stat: o.stat ?? 'median', dawnBackend: gpu.report.backend === 'browser' ? 'default' : gpu.report.backend,
      timeoutSec: o.peerTimeoutSec, log,
    });
    log(`peer ${p}: ${r.error ?? 'done'} (${r.wallSec.toFixed(1)} s)`);
    const optional = o.optionalPeers?.includes(p) && /unavailable|not found/.test(r.error ?? '');
    if (r.error && !optional) failures.push(`${p}: ${r.error}`);
    for (const [what, t] of [['train', r.train], ['infer', r.infer]] as const) {
      if (!r.error && 'error' in t && !isNotApplicable(t)) failures.push(`${p} ${what}: ${t.error}`);
    }
    peers.push(r);
  }

  const flops = fcnFlops({ classes: o.classes, head: 'fcn32s' }, o.size[0], o.size[1]);
  const inferFlops = fcnFlops({ classes: o.classes, head: 'fcn32s' }, o.inferSize[0], o.inferSize[1]);
  const trainStep = flops.trainPerImage * o.batch;
  const inferPass = inferFlops.forwardPerImage * o.inferBatch;
  const peak = web.peak.gflops;
  const webTrain = web.train.stepsPerSec;
  const webInfer = web.infer.imagesPerSec;
  const compare = (name: string, detail: string, train: number | null, infer: number | null, tn?: string, inn?: string): Comparison => {
    const trainGflops = train === null ? null : (trainStep * train) / 1e9;
    const inferGflops = infer === null ? null : (inferPass / o.inferBatch) * infer / 1e9;
    return {
      name, detail,
      trainStepsPerSec: train, inferImagesPerSec: infer, trainGflops, inferGflops,
      trainPeakFraction: trainGflops === null ? null : trainGflops / peak,
      inferPeakFraction: inferGflops === null ? null : inferGflops / peak,
      trainRatio: train === null ? null : webTrain / train,
      inferRatio: infer === null ? null : webInfer / infer,
      ...(tn ? { trainNote: tn } : {}),
      ...(inn ? { inferNote: inn } : {}),
    };
  };
  const comparisons = [
    compare('webfcn', `${web.adapter.backend} ${web.adapter.description}`, webTrain, webInfer),
    ...peers.flatMap((p) => [
      compare(p.peer, p.detail, rate(p.train), rate(p.infer), note(p.train), note(p.infer)),
      // The like-for-like inference: host pixels in, class ids out, as webfcn's pass is timed.
      ...(p.inferPixels ? [compare(`${p.peer} (pixels)`, 'inference from host RGB bytes: upload + normalise included', null,
        rate(p.inferPixels), undefined, note(p.inferPixels))] : []),
    ]),
  ];
  const gpuStages = web.train.stages.filter((s) => s.where === 'gpu');
  const top = gpuStages.reduce((a, s) => (s.ms > a.ms ? s : a));
  const k = web.train.kernels[0]!;
  return {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, platform: `${process.platform} ${process.arch}`, loadAvg: [load0, loadavg()[0]!] },
    options: { ...o, log: undefined } as Omit<BenchOptions, 'log'>,
    flops: { forwardPerImage: flops.forwardPerImage, trainPerImage: flops.trainPerImage, trainStep, inferPass },
    webfcn: web,
    peers,
    comparisons,
    bottleneck: { stage: top.name, stageShare: top.ms / web.train.stagedMs, kernel: k.kernel, kernelShare: k.share },
    failures,
  };
}

const f = (v: number | null, d = 2): string => (v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(d));
const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`);
const x = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(2)}x`);

/** The human-readable report: stages, kernels, data, comparison table. */
export function formatBench(r: BenchResult): string {
  const w = r.webfcn;
  const L: string[] = [];
  const [H, W] = w.train.size;
  const [IH, IW] = w.infer.size;
  L.push(`webfcn bench — FCN-ResNet18 (fcn32s), ${r.options.classes} classes; adapter ${w.adapter.backend} ${w.adapter.description} ` +
    `(${w.adapter.featureLevel}${w.adapter.software ? ', software' : ''}); GPU timing: ${w.timing === 'fence' ? 'submission fences (no timestamp-query)' : 'timestamp queries'}; ` +
    `${r.machine.cpus} CPU cores (${r.machine.cpuModel}), load average ${r.machine.loadAvg.map((v) => v.toFixed(1)).join(' -> ')}; ` +
    `${r.options.stat === 'min' ? 'fastest' : 'median'} of ${r.options.steps} after a warm-up`);
  L.push('');
  L.push(`Training step, batch ${w.train.batch} x 3 x ${H} x ${W}${w.train.micro < w.train.batch ? ` (micro-batches of ${w.train.micro})` : ''}:`);
  const stageLine = (name: string, ms: number, share: string, how: string, note = '') =>
    `  ${name.padEnd(14)} ${ms.toFixed(2).padStart(11)} ms  ${share.padStart(6)}  ${how.padEnd(15)} ${note}`;
  for (const s of w.train.stages) {
    L.push(stageLine(s.name, s.ms, s.where === 'gpu' ? pct(s.ms / w.train.stagedMs) : '', s.method, s.note ?? ''));
  }
  L.push(stageLine('sum of GPU stages', w.train.stagedMs, '', 'separate submits'));
  L.push(stageLine('fused step', w.train.fusedMs, '', 'wall', 'Trainer.step: one encoder, upload to loss readback'));
  L.push(`  data preparation ${w.data.keepsUp ? 'keeps up' : 'does NOT keep up'}: wasm prep ${w.data.prepWasmMs.toFixed(2)} ms per batch vs ` +
    `${w.train.fusedMs.toFixed(0)} ms per step (headroom ${w.data.headroom.toFixed(1)}x; first epoch with decoding ${w.data.firstEpochHeadroom.toFixed(1)}x); ` +
    `wasm is ${(w.data.prepTsMs / w.data.prepWasmMs).toFixed(2)}x the TS twins`);
  L.push('');
  L.push('Training step by kernel (each dispatch in its own pass):');
  for (const k of w.train.kernels.slice(0, 10)) {
    L.push(`  ${k.kernel.padEnd(34)} ${String(k.dispatches).padStart(4)} dispatches ${k.ms.toFixed(2).padStart(11)} ms  ${pct(k.share).padStart(6)}`);
  }
  L.push('');
  L.push(`Inference, batch ${w.infer.batch} x 3 x ${IH} x ${IW}:`);
  for (const s of w.infer.stages) L.push(stageLine(s.name, s.ms, pct(s.ms / w.infer.stagedMs), s.method, s.note ?? ''));
  L.push(stageLine('fused pass', w.infer.fusedMs, '', 'wall', 'one encoder, upload to class-map readback'));
  L.push('');
  L.push(`Peak: ${w.peak.gflops.toFixed(2)} GFLOP/s (${w.peak.kernel}). Model: ${(r.flops.forwardPerImage / 1e9).toFixed(2)} GFLOP forward per ${H}x${W} image, ` +
    `${(r.flops.trainStep / 1e9).toFixed(2)} GFLOP per training step, ${(r.flops.inferPass / 1e9).toFixed(2)} GFLOP per inference pass (2·MACs of convs; backward = 2x forward).`);
  L.push('');
  const head = ['implementation', 'train steps/s', 'GFLOP/s', '% peak', 'webfcn/peer', 'infer img/s', 'GFLOP/s', '% peak', 'webfcn/peer'];
  const widths = [20, 13, 8, 7, 11, 11, 8, 7, 11];
  const row = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  L.push(row(head));
  for (const c of r.comparisons) {
    L.push(row([c.name, f(c.trainStepsPerSec, 3), f(c.trainGflops), pct(c.trainPeakFraction), x(c.trainRatio),
      f(c.inferImagesPerSec, 3), f(c.inferGflops), pct(c.inferPeakFraction), x(c.inferRatio)]));
  }
  for (const c of r.comparisons) {
    for (const n of [c.trainNote && `train: ${c.trainNote}`, c.inferNote && `infer: ${c.inferNote}`].filter(Boolean)) L.push(`  ${c.name} ${n}`);
    if (c.detail && c.name !== 'webfcn') L.push(`  ${c.name}: ${c.detail}`);
  }
  if (r.comparisons.some((c) => c.name.endsWith('(pixels)'))) {
    L.push("  infer: webfcn and the '(pixels)' rows start from RGB(A) bytes on the host; the other tfjs rows from a float tensor already on their backend");
  }
  L.push('');
  L.push(`Bottleneck: ${r.bottleneck.stage} stage (${pct(r.bottleneck.stageShare)} of the staged step); ` +
    `largest kernel ${r.bottleneck.kernel} (${pct(r.bottleneck.kernelShare)}). See npm run bench:kernels for per-shape rates.`);
  if (r.failures.length) L.push(`FAILED peers: ${r.failures.join('; ')}`);
  return L.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An SVG bar chart: training-step stages, inference stages, and throughput per implementation. */
export function benchSvg(r: BenchResult): string {
  const w = r.webfcn;
  const panels: Array<{ title: string; unit: string; bars: Array<{ label: string; value: number | null; color: string }> }> = [
    {
      title: `Training step ${w.train.batch}x${w.train.size.join('x')}: time per stage (ms)`,
      unit: 'ms',
      bars: [
        ...w.train.stages.map((s) => ({ label: s.name, value: s.ms, color: s.where === 'host' ? '#8c8c8c' : '#4e79a7' })),
        { label: 'fused step', value: w.train.fusedMs, color: '#e15759' },
      ],
    },
    {
      title: `Inference ${w.infer.batch}x${w.infer.size.join('x')}: time per stage (ms)`,
      unit: 'ms',
      bars: [
        ...w.infer.stages.map((s) => ({ label: s.name, value: s.ms, color: '#4e79a7' })),
        { label: 'fused pass', value: w.infer.fusedMs, color: '#e15759' },
      ],
    },
    {
      title: 'Training steps per second',
      unit: 'steps/s',
      bars: r.comparisons.map((c) => ({ label: c.name, value: c.trainStepsPerSec, color: c.name === 'webfcn' ? '#e15759' : '#76b7b2' })),
    },
    {
      title: 'Inference images per second',
      unit: 'img/s',
      bars: r.comparisons.map((c) => ({ label: c.name, value: c.inferImagesPerSec, color: c.name === 'webfcn' ? '#e15759' : '#76b7b2' })),
    },
  ];
  const width = 760, labelW = 120, barMax = 470, rowH = 20, pad = 14;
  let y = 36;
  const parts: string[] = [];
  parts.push(`<text x="${pad}" y="22" font-size="14" font-weight="bold">${esc(`webfcn bench — ${w.adapter.backend} ${w.adapter.description}`)}</text>`);
  for (const p of panels) {
    parts.push(`<text x="${pad}" y="${y + 14}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    y += 22;
    const max = Math.max(...p.bars.map((b) => b.value ?? 0), 1e-9);
    for (const b of p.bars) {
      const len = b.value === null ? 0 : Math.max(1, (b.value / max) * barMax);
      parts.push(`<text x="${pad + labelW - 6}" y="${y + 14}" font-size="12" text-anchor="end">${esc(b.label)}</text>`);
      if (b.value !== null) parts.push(`<rect x="${pad + labelW}" y="${y + 3}" width="${len.toFixed(1)}" height="${rowH - 6}" fill="${b.color}"/>`);
      const v = b.value === null ? 'n/a' : `${b.value < 1 ? b.value.toPrecision(3) : b.value.toFixed(b.value < 100 ? 2 : 0)} ${p.unit}`;
      parts.push(`<text x="${pad + labelW + len + 6}" y="${y + 14}" font-size="11">${esc(v)}</text>`);
      y += rowH;
    }
    y += 12;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 8}" viewBox="0 0 ${width} ${y + 8}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
