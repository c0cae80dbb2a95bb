// `webfcn bench`: webfcn's training step and inference pass on each backend asked for — WebGPU
// (stage by stage, by kernel) and WebAssembly (the trainer's step and the predictor's frame pass,
// op by op) — then the same model in TensorFlow.js (WebGPU, WebAssembly) and PyTorch (CPU) on the
// same machine, ratios, GFLOP/s (analytic, see flops.ts) and the fraction of a peak: the WebGPU
// rows against the adapter's best plain matmul, the CPU rows (webfcn on wasm, tfjs-wasm, PyTorch)
// against the wasm backend's best packed GEMM on the same threads. PyTorch runs on the wasm row's
// thread count when there is one (so --threads 1 compares one core with one core).
import { cpus, loadavg } from 'node:os';
import type { WasmRuntime } from '../backends/wasm/runtime.js';
import type { BackendName } from '../fcn/backend.js';
import type { Gpu } from '../gpu/device.js';
import { fcnFlops } from './flops.js';
import { isNotApplicable, runPeer, type PeerName, type PeerResult, type PeerTiming } from './peers.js';
import { benchWasm, type WasmResult } from './wasm.js';
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

/** Where webfcn runs in this bench: a WebGPU device, a wasm runtime, or both (at least one). */
export interface BenchEngines {
  gpu?: Gpu;
  wasm?: WasmRuntime;
  /** Backends that were asked for (by `auto`) but could not start, with why. */
  skipped?: string[];
}

/** webfcn on one backend / an implementation (> 1: webfcn is faster); 1 on webfcn's own row. */
export interface Ratio {
  train: number | null;
  infer: number | null;
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
  /** Which peak the fractions are of: the adapter's best WGSL matmul, or the wasm backend's best GEMM. */
  peak: BackendName;
  /** GFLOP/s as a fraction of that peak. */
  trainPeakFraction: number | null;
  inferPeakFraction: number | null;
  /** Per webfcn backend that ran: webfcn there / this implementation. */
  ratios: Partial<Record<BackendName, Ratio>>;
  trainNote?: string;
  inferNote?: string;
}

/** The largest stage of a training step and the largest kernel family. */
export interface Bottleneck {
  stage: string;
  stageShare: number;
  kernel: string;
  kernelShare: number;
}

export interface BenchResult {
  date: string;
  /** loadAvg: the 1-minute load average at the start and the end (other processes share the CPUs, and llvmpipe runs on them). */
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAvg: [number, number] };
  options: Omit<BenchOptions, 'log'>;
  flops: { forwardPerImage: number; trainPerImage: number; trainStep: number; inferPass: number };
  /** webfcn on WebGPU (null when not run). */
  webgpu: WebfcnResult | null;
  /** webfcn on WebAssembly (null when not run). */
  wasm: WasmResult | null;
  /** Backends `auto` could not start, with why. */
  skipped: string[];
  peers: PeerResult[];
  comparisons: Comparison[];
  bottleneck: Partial<Record<BackendName, Bottleneck>>;
  /** Requested peers that failed (not counting an expected 'n/a'). */
  failures: string[];
}

const rate = (t: PeerTiming): number | null => ('perSec' in t ? t.perSec : null);
const note = (t: PeerTiming): string | undefined => ('error' in t ? t.error : undefined);

/** The name of webfcn's row on a backend. */
export const webfcnRow = (b: BackendName): string => `webfcn (${b})`;

/** Runs webfcn on each engine (WebGPU first), then each peer in its own process; see the file comment. */
export async function runBench(engines: BenchEngines, o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => {});
  if (!engines.gpu && !engines.wasm) throw new Error('webfcn bench: neither a WebGPU device nor a wasm runtime to run on');
  const load0 = loadavg()[0]!;
  const shape = {
    batch: o.batch, size: o.size, inferBatch: o.inferBatch, inferSize: o.inferSize,
    classes: o.classes, steps: o.steps, stat: o.stat, memoryBudget: o.memoryBudget, log,
  };
  const web = engines.gpu ? await benchWebfcn(engines.gpu, shape) : null;
  const wasm = engines.wasm ? await benchWasm(engines.wasm, shape) : null;
  const gpuReport = engines.gpu?.report;
  const peers: PeerResult[] = [];
  const failures: string[] = [];
  for (const p of o.peers) {
    const r = await runPeer(p, {
      batch: o.batch, size: o.size, inferBatch: o.inferBatch, inferSize: o.inferSize, classes: o.classes,
      steps: o.steps, stat: o.stat ?? 'median', threads: engines.wasm?.threads,
      dawnBackend: !gpuReport || gpuReport.backend === 'browser' ? 'default' : gpuReport.backend,
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
  const own: Partial<Record<BackendName, { train: number; infer: number }>> = {};
  if (web) own.webgpu = { train: web.train.stepsPerSec, infer: web.infer.imagesPerSec };
  if (wasm) own.wasm = { train: wasm.train.stepsPerSec, infer: wasm.infer.imagesPerSec };
  const peaks: Partial<Record<BackendName, number>> = {};
  if (web) peaks.webgpu = web.peak.gflops;
  if (wasm) peaks.wasm = wasm.peak.gflops;
  // CPU implementations against the wasm GEMM when it was measured; otherwise (a WebGPU-only run)
  // against the adapter's matmul, as every row was before there was a wasm backend.
  const cpuPeak: BackendName = wasm ? 'wasm' : 'webgpu';
  const compare = (name: string, detail: string, peak: BackendName, train: number | null, infer: number | null, tn?: string, inn?: string): Comparison => {
    const trainGflops = train === null ? null : (trainStep * train) / 1e9;
    const inferGflops = infer === null ? null : (inferPass / o.inferBatch) * infer / 1e9;
    const ratios: Partial<Record<BackendName, Ratio>> = {};
    for (const b of ['webgpu', 'wasm'] as const) {
      const m = own[b];
      if (m) ratios[b] = { train: train === null ? null : m.train / train, infer: infer === null ? null : m.infer / infer };
    }
    const pk = peaks[peak];
    return {
      name, detail, peak,
      trainStepsPerSec: train, inferImagesPerSec: infer, trainGflops, inferGflops,
      trainPeakFraction: trainGflops === null || pk === undefined ? null : trainGflops / pk,
      inferPeakFraction: inferGflops === null || pk === undefined ? null : inferGflops / pk,
      ratios,
      ...(tn ? { trainNote: tn } : {}),
      ...(inn ? { inferNote: inn } : {}),
    };
  };
  const comparisons: Comparison[] = [];
  if (web) comparisons.push(compare(webfcnRow('webgpu'), `${web.adapter.backend} ${web.adapter.description}`, 'webgpu', web.train.stepsPerSec, web.infer.imagesPerSec));
  if (wasm) comparisons.push(compare(webfcnRow('wasm'), wasm.runtime.summary, 'wasm', wasm.train.stepsPerSec, wasm.infer.imagesPerSec));
  for (const p of peers) {
    const peak: BackendName = p.peer === 'tfjs-webgpu' ? 'webgpu' : cpuPeak;
    comparisons.push(compare(p.peer, p.detail, peak, rate(p.train), rate(p.infer), note(p.train), note(p.infer)));
    // The like-for-like inference: host pixels in, class ids out, as webfcn's pass is timed.
    if (p.inferPixels) {
      comparisons.push(compare(`${p.peer} (pixels)`, 'inference from host RGB bytes: upload + normalise included', peak, null,
        rate(p.inferPixels), undefined, note(p.inferPixels)));
    }
  }
  const bottleneck: Partial<Record<BackendName, Bottleneck>> = {};
  if (web) {
    const gpuStages = web.train.stages.filter((s) => s.where === 'gpu');
    const top = gpuStages.reduce((a, s) => (s.ms > a.ms ? s : a));
    const k = web.train.kernels[0]!;
    bottleneck.webgpu = { stage: top.name, stageShare: top.ms / web.train.stagedMs, kernel: k.kernel, kernelShare: k.share };
  }
  if (wasm) {
    const top = wasm.train.stages.reduce((a, s) => (s.ms > a.ms ? s : a));
    const k = wasm.train.kernels[0]!;
    bottleneck.wasm = { stage: top.name, stageShare: top.share, kernel: k.kernel, kernelShare: k.share };
  }
  return {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, platform: `${process.platform} ${process.arch}`, loadAvg: [load0, loadavg()[0]!] },
    options: { ...o, log: undefined } as Omit<BenchOptions, 'log'>,
    flops: { forwardPerImage: flops.forwardPerImage, trainPerImage: flops.trainPerImage, trainStep, inferPass },
    webgpu: web,
    wasm,
    skipped: engines.skipped ?? [],
    peers,
    comparisons,
    bottleneck,
    failures,
  };
}

const f = (v: number | null, d = 2): string => (v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(d));
const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`);
const x = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(2)}x`);

/** The human-readable report: stages, kernels, peaks, comparison table. */
export function formatBench(r: BenchResult): string {
  const L: string[] = [];
  const w = r.webgpu;
  const m = r.wasm;
  const [H, W] = r.options.size;
  const [IH, IW] = r.options.inferSize;
  const engines = [
    w && `WebGPU adapter ${w.adapter.backend} ${w.adapter.description} (${w.adapter.featureLevel}${w.adapter.software ? ', software' : ''}; ` +
      `GPU timing: ${w.timing === 'fence' ? 'submission fences (no timestamp-query)' : 'timestamp queries'})`,
    m && `${m.runtime.summary}`,
  ].filter(Boolean);
  L.push(`webfcn bench — FCN-ResNet18 (fcn32s), ${r.options.classes} classes; ${engines.join('; ')}; ` +
    `${r.machine.cpus} CPU cores (${r.machine.cpuModel}), load average ${r.machine.loadAvg.map((v) => v.toFixed(1)).join(' -> ')}; ` +
    `${r.options.stat === 'min' ? 'fastest' : 'median'} of ${r.options.steps} after a warm-up${m ? ` (wasm: ${m.warmup} warm-ups)` : ''}`);
  for (const s of r.skipped) L.push(`  skipped: ${s}`);
  const stageLine = (name: string, ms: number, share: string, how: string, note = '') =>
    `  ${name.padEnd(14)} ${ms.toFixed(2).padStart(11)} ms  ${share.padStart(6)}  ${how.padEnd(15)} ${note}`;
  if (w) {
    L.push('');
    L.push(`WebGPU training step, batch ${w.train.batch} x 3 x ${H} x ${W}${w.train.micro < w.train.batch ? ` (micro-batches of ${w.train.micro})` : ''}:`);
    for (const s of w.train.stages) {
      L.push(stageLine(s.name, s.ms, s.where === 'gpu' ? pct(s.ms / w.train.stagedMs) : '', s.method, s.note ?? ''));
    }
    L.push(stageLine('sum of GPU stages', w.train.stagedMs, '', 'separate submits'));
    L.push(stageLine('fused step', w.train.fusedMs, '', 'wall', 'Trainer.step: one encoder, upload to loss readback'));
    L.push(`  data preparation ${w.data.keepsUp ? 'keeps up' : 'does NOT keep up'}: wasm prep ${w.data.prepWasmMs.toFixed(2)} ms per batch vs ` +
      `${w.train.fusedMs.toFixed(0)} ms per step (headroom ${w.data.headroom.toFixed(1)}x; first epoch with decoding ${w.data.firstEpochHeadroom.toFixed(1)}x); ` +
      `wasm is ${(w.data.prepTsMs / w.data.prepWasmMs).toFixed(2)}x the TS twins`);
    L.push('');
    L.push('WebGPU training step by kernel (each dispatch in its own pass):');
    for (const k of w.train.kernels.slice(0, 10)) {
      L.push(`  ${k.kernel.padEnd(34)} ${String(k.dispatches).padStart(4)} dispatches ${k.ms.toFixed(2).padStart(11)} ms  ${pct(k.share).padStart(6)}`);
    }
    L.push('');
    L.push(`WebGPU inference, batch ${w.infer.batch} x 3 x ${IH} x ${IW}:`);
    for (const s of w.infer.stages) L.push(stageLine(s.name, s.ms, pct(s.ms / w.infer.stagedMs), s.method, s.note ?? ''));
    L.push(stageLine('fused pass', w.infer.fusedMs, '', 'wall', 'one encoder, upload to class-map readback'));
  }
  if (m) {
    L.push('');
    L.push(`wasm training step, batch ${m.train.batch} x 3 x ${H} x ${W}${m.train.micro < m.train.batch ? ` (micro-batches of ${m.train.micro})` : ''}, ` +
      `${m.runtime.threads} thread${m.runtime.threads === 1 ? '' : 's'}, ${m.runtime.simd}:`);
    for (const s of m.train.stages) L.push(stageLine(s.name, s.ms, pct(s.share), 'wall', s.note ?? ''));
    L.push(stageLine('sum of stages', m.train.stagedMs, '', 'op by op'));
    L.push(stageLine('fused step', m.train.fusedMs, '', 'wall', 'WasmTrainer.step + flush (what fit() runs)'));
    L.push('');
    L.push('wasm training step by kernel (each op of the forward and backward stages timed on its own):');
    for (const k of m.train.kernels.slice(0, 10)) {
      L.push(`  ${k.kernel.padEnd(34)} ${String(k.dispatches).padStart(4)} calls      ${k.ms.toFixed(2).padStart(11)} ms  ${pct(k.share).padStart(6)}`);
    }
    L.push('');
    L.push(`wasm inference, batch ${m.infer.batch} x ${IH} x ${IW} RGBA frames:`);
    for (const s of m.infer.stages) L.push(stageLine(s.name, s.ms, pct(s.share), 'wall', s.note ?? ''));
    L.push(stageLine('fused pass', m.infer.fusedMs, '', 'wall', 'predictFrames: RGBA bytes in, class ids out'));
  }
  L.push('');
  if (w) L.push(`Peak "webgpu": ${w.peak.gflops.toFixed(2)} GFLOP/s, the adapter's best plain WGSL matmul (${w.peak.kernel}); the % peak of the WebGPU rows${m ? '' : ' (and, with no wasm row, of the CPU peers)'}.`);
  if (m) {
    L.push(`Peak "wasm": ${m.peak.gflops.toFixed(2)} GFLOP/s, the wasm backend's best packed GEMM (${m.peak.kernel}, ${m.peak.threads} thread${m.peak.threads === 1 ? '' : 's'}, ` +
      `${m.runtime.simd}); the % peak of the CPU rows (webfcn wasm, tfjs-wasm, PyTorch: native code may pass it).`);
  }
  const native = r.peers.find((p) => p.peakGflops !== undefined);
  if (native) {
    L.push(`Native CPU peak (PyTorch, ${native.detail}): ${native.peakGflops!.toFixed(2)} GFLOP/s, ${native.peakKernel}` +
      `${m ? `; the wasm GEMM peak is ${pct(m.peak.gflops / native.peakGflops!)} of it` : ''}.`);
  }
  L.push(`Model: ${(r.flops.forwardPerImage / 1e9).toFixed(2)} GFLOP forward per ${H}x${W} image, ` +
    `${(r.flops.trainStep / 1e9).toFixed(2)} GFLOP per training step, ${(r.flops.inferPass / 1e9).toFixed(2)} GFLOP per inference pass (2·MACs of convs; backward = 2x forward).`);
  L.push('');
  const backends = (['wasm', 'webgpu'] as const).filter((b) => (b === 'wasm' ? m : w));
  const ratioHead = backends.map((b) => `${b}/row`);
  const head = ['implementation', 'train steps/s', 'GFLOP/s', '% peak', ...ratioHead, 'infer img/s', 'GFLOP/s', '% peak', ...ratioHead];
  const widths = [21, 13, 8, 7, ...backends.map(() => 10), 11, 8, 7, ...backends.map(() => 10)];
  const row = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  L.push(row(head));
  for (const c of r.comparisons) {
    const ratio = (what: 'train' | 'infer') => backends.map((b) => x(c.ratios[b]?.[what] ?? null));
    L.push(row([c.name, f(c.trainStepsPerSec, 3), f(c.trainGflops), pct(c.trainPeakFraction), ...ratio('train'),
      f(c.inferImagesPerSec, 3), f(c.inferGflops), pct(c.inferPeakFraction), ...ratio('infer')]));
  }
  L.push(`  ${backends.map((b) => `${b}/row: webfcn (${b}) throughput / the row's (> 1: webfcn on ${b} is faster)`).join('; ')}; % peak of the row's peak (${
    r.comparisons.map((c) => `${c.name}: ${c.peak}`).join(', ')})`);
  for (const c of r.comparisons) {
    for (const n of [c.trainNote && `train: ${c.trainNote}`, c.inferNote && `infer: ${c.inferNote}`].filter(Boolean)) L.push(`  ${c.name} ${n}`);
    if (c.detail && !c.name.startsWith('webfcn')) L.push(`  ${c.name}: ${c.detail}`);
  }
  if (r.comparisons.some((c) => c.name.endsWith('(pixels)'))) {
    L.push("  infer: webfcn and the '(pixels)' rows start from RGB(A) bytes on the host; the other tfjs rows from a float tensor already on their backend");
  }
  L.push('');
  for (const b of backends) {
    const k = r.bottleneck[b];
    if (!k) continue;
    L.push(`Bottleneck (${b}): ${k.stage} stage (${pct(k.stageShare)} of the staged step); largest kernel ${k.kernel} (${pct(k.kernelShare)}).`);
  }
  L.push(`Per-shape rates: npm run bench:kernels (WebGPU), npm run bench:wasm (wasm).`);
  if (r.failures.length) L.push(`FAILED peers: ${r.failures.join('; ')}`);
  return L.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An SVG bar chart: each backend's training-step and inference stages, and throughput per implementation. */
export function benchSvg(r: BenchResult): string {
  const w = r.webgpu;
  const m = r.wasm;
  type Panel = { title: string; unit: string; bars: Array<{ label: string; value: number | null; color: string }> };
  const panels: Panel[] = [];
  /** A backend's training-step and inference stages as two panels (`threads`: shown for the training step). */
  const stagePanels = (name: string, b: NonNullable<typeof w> | NonNullable<typeof m>, threads: string, color: (where?: string) => string): Panel[] => [{
    title: `${name} training step ${b.train.batch}x${b.train.size.join('x')}${threads}: time per stage (ms)`,
    unit: 'ms',
    bars: [
      ...b.train.stages.map((s) => ({ label: s.name, value: s.ms, color: color('where' in s ? s.where : undefined) })),
      { label: 'fused step', value: b.train.fusedMs, color: '#e15759' },
    ],
  }, {
    title: `${name} inference ${b.infer.batch}x${b.infer.size.join('x')}: time per stage (ms)`,
    unit: 'ms',
    bars: [
      ...b.infer.stages.map((s) => ({ label: s.name, value: s.ms, color: color() })),
      { label: 'fused pass', value: b.infer.fusedMs, color: '#e15759' },
    ],
  }];
  if (w) panels.push(...stagePanels('WebGPU', w, '', (where) => (where === 'host' ? '#8c8c8c' : '#4e79a7')));
  if (m) panels.push(...stagePanels('wasm', m, `, ${m.runtime.threads} threads`, () => '#f28e2b'));
  const color = (name: string) => (name.startsWith('webfcn') ? '#e15759' : '#76b7b2');
  panels.push({
    title: 'Training steps per second',
    unit: 'steps/s',
    bars: r.comparisons.map((c) => ({ label: c.name, value: c.trainStepsPerSec, color: color(c.name) })),
  }, {
    title: 'Inference images per second',
    unit: 'img/s',
    bars: r.comparisons.map((c) => ({ label: c.name, value: c.inferImagesPerSec, color: color(c.name) })),
  });
  const width = 800, labelW = 150, barMax = 470, rowH = 20, pad = 14;
  let y = 36;
  const parts: string[] = [];
  parts.push(`<text x="${pad}" y="22" font-size="14" font-weight="bold">${esc(`webfcn bench — ${[w && `WebGPU ${w.adapter.backend}${w.adapter.software ? ' (software)' : ''}`, m && `wasm ${m.runtime.simd}, ${m.runtime.threads} thread${m.runtime.threads === 1 ? '' : 's'}`].filter(Boolean).join('; ')}`)}</text>`);
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
