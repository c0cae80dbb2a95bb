// WebAssembly kernel benchmark: the packed GEMM and every distinct convolution pass of ResNet-18
// and of the FCN-32s/16s/8s heads (1×1 score convs, the k4/s2 upsamplers, the k64/s32, k32/s16 and
// k16/s8 transposed convs) on the wasm runtime, at batch 1 and 2, on 1 and 2 threads: time,
// GFLOP/s (2·MACs), GFLOP per CPU-second (all threads' CPU time: what the kernel would reach with
// the cores to itself), and each pass as a fraction of the best matmul on the same thread count.
// The issue's aims: matmul ≥ 60 GFLOP/s on two threads, every conv pass ≥ 60%.
// `npm run bench:kernels -- --backend wasm` runs this too (tools/bench-kernels.ts).
//
//   node --import ./tools/register.js tools/bench-wasm.ts [--size 160x256] [--batches 1,2] [--threads 1,2] [--reps 3] [--only NAME]
//     [--winograd auto|off] [--split-k auto|off] [--phases auto|off] [--direct-pack auto|off] [--tconv-direct auto|off] [--json]
//   (with --experimental-wasm-relaxed-simd before --import, Node 20 runs the relaxed-SIMD build;
//   --split-k off / --phases off plan every GEMM unsplit / every transposed conv without output phases;
//   --direct-pack off runs im2col into a col buffer and packs it, instead of im2col into packed panels;
//   --tconv-direct off plans the transposed convs the direct kernels serve by phases or GEMM instead)
//
// Timing: the best of --reps runs after a warm-up (the machine is shared; the best run is the
// one least disturbed), wall clock and process CPU time.
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutSize, convTranspose2dBackwardInput,
  convTranspose2dBackwardWeight, convTranspose2dForward, convTranspose2dOutSize, runSteps, wasmConvOptions,
  type Conv2dParams, type ConvTranspose2dParams, type Step,
} from '../src/backends/wasm/conv2d.js';
import { gemm, packA, packB, packedABytes, packedBBytes } from '../src/backends/wasm/gemm.js';
import { WasmRuntime } from '../src/backends/wasm/runtime.js';
import { pathToFileURL } from 'node:url';

let IH = 160, IW = 256, reps = 3, only = '';

/** Options of one run, from the command line (bench-kernels passes its own after --backend wasm). */
function parseArgs(args: string[]) {
  const opt = (name: string, dflt: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
  };
  [IH, IW] = opt('size', '160x256').split('x').map(Number) as [number, number];
  reps = Number(opt('reps', '3'));
  only = opt('only', '');
  // --batch N (bench-kernels' spelling) is --batches N.
  const batches = opt('batches', opt('batch', '1,2')).split(',').map(Number);
  const threadCounts = opt('threads', '1,2').split(',').map(Number);
  // 'auto': as the planner decides; 'off': every convolution as im2col + GEMM, unsplit, no output phases.
  const onOff = (name: string) => {
    const v = opt(name, 'auto');
    if (v !== 'auto' && v !== 'off') throw new Error(`--${name} ${v}: expected auto or off`);
    return v;
  };
  const choice = {
    winograd: onOff('winograd'), splitK: onOff('split-k'), phases: onOff('phases'), directPack: onOff('direct-pack'), tconvDirect: onOff('tconv-direct'),
  };
  wasmConvOptions.winograd = choice.winograd === 'auto';
  wasmConvOptions.splitK = choice.splitK === 'auto';
  wasmConvOptions.tconvPhases = choice.phases === 'auto';
  wasmConvOptions.directPack = choice.directPack === 'auto';
  wasmConvOptions.tconvDirect = choice.tconvDirect === 'auto';
  return { batches, threadCounts, asJson: args.includes('--json'), choice };
}

interface Shape {
  name: string;
  conv?: Conv2dParams;
  convT?: ConvTranspose2dParams;
}

/** The distinct convolutions of ResNet-18 at this input size, and of the FCN heads. */
function shapes(N: number): Shape[] {
  const out: Shape[] = [];
  const conv = (name: string, C: number, H: number, W: number, K: number, k: number, s: number, p: number) =>
    out.push({ name, conv: { N, C, H, W, K, kh: k, kw: k, strideH: s, strideW: s, padH: p, padW: p } });
  const half = (v: number) => Math.floor((v + 2 - 3) / 2) + 1;
  const h1 = half(IH), w1 = half(IW);
  const h2 = half(h1), w2 = half(w1);
  conv('stem 7x7/2 3->64', 3, IH, IW, 64, 7, 2, 3);
  conv('layer1 3x3 64', 64, h2, w2, 64, 3, 1, 1);
  let [h, w, c] = [h2, w2, 64];
  const grid: Record<number, [number, number]> = {};
  for (const [i, k] of [[2, 128], [3, 256], [4, 512]] as const) {
    const hh = half(h), ww = half(w);
    conv(`layer${i} 3x3/2 ${c}->${k}`, c, h, w, k, 3, 2, 1);
    conv(`layer${i} 3x3 ${k}`, k, hh, ww, k, 3, 1, 1);
    conv(`layer${i} 1x1/2 ${c}->${k}`, c, h, w, k, 1, 2, 0);
    [h, w, c] = [hh, ww, k];
    grid[i] = [hh, ww];
  }
  out.push({ name: 'fcn head T64/32/16 21->21', convT: { N, Cin: 21, H: h, W: w, Cout: 21, kh: 64, kw: 64, strideH: 32, strideW: 32, padH: 16, padW: 16 } });
  // FCN-16s/8s: 1×1 scores of layer3/layer2 (layer4's is conv 'score 1x1 512->21'), the ×2
  // upsamplers (k4/s2/p1) onto layer3's and layer2's grids, and the final k32/s16 and k16/s8.
  conv('score 1x1 512->21', 512, h, w, 21, 1, 1, 0);
  const [h3, w3] = grid[3]!, [h2s, w2s] = grid[2]!;
  conv('score 1x1 256->21', 256, h3, w3, 21, 1, 1, 0);
  conv('score 1x1 128->21', 128, h2s, w2s, 21, 1, 1, 0);
  const up = (name: string, H: number, W: number, k: number, s: number, p: number) =>
    out.push({ name, convT: { N, Cin: 21, H, W, Cout: 21, kh: k, kw: k, strideH: s, strideW: s, padH: p, padW: p } });
  up('fcn upscore T4/2/1 21->21 (16s/8s)', h, w, 4, 2, 1);
  up('fcn upscore T4/2/1 21->21 (8s pool4)', h3, w3, 4, 2, 1);
  up('fcn16s head T32/16/8 21->21', h3, w3, 32, 16, 8);
  up('fcn8s head T16/8/4 21->21', h2s, w2s, 16, 8, 4);
  return out.filter((s) => s.name.includes(only));
}

/**
 * Warm-up before timing: at least this many runs and this many ms. V8 first runs wasm functions
 * from its baseline compiler (Liftoff) and swaps in the optimised code once a function has used a
 * budget of work; one warm-up run left sub-millisecond kernels (the k4/s2 upsamplers) on baseline
 * code for the timed runs, 2-5x slower and different on every run, which is not what a training
 * loop (hundreds of calls) runs.
 */
const WARM_RUNS = 5, WARM_MS = 50;

/** Best wall ms and the CPU ms of that run's repetitions on average, after the warm-up. */
function time(fn: () => void): { ms: number; cpuMs: number } {
  for (let i = 0, t0 = performance.now(); i < WARM_RUNS || performance.now() - t0 < WARM_MS; i++) fn();
  let best = Infinity, cpu = 0;
  for (let r = 0; r < reps; r++) {
    const u0 = process.cpuUsage(), t0 = performance.now();
    fn();
    const dt = performance.now() - t0, u = process.cpuUsage(u0);
    best = Math.min(best, dt);
    cpu += (u.user + u.system) / 1000;
  }
  return { ms: best, cpuMs: cpu / reps };
}

function fill(rt: WasmRuntime, ptr: number, n: number, seed: number): void {
  const v = rt.f32(ptr, n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37 + seed);
}

interface Row { threads: number; batch: number; name: string; pass: string; ms: number; gflops: number; cpuGflops: number; ofMatmul: number }

/** The best matmul rate on this runtime: packed operands, the GEMM alone, over a few square-ish shapes. */
function bestMatmul(rt: WasmRuntime, rows: Row[]): void {
  for (const [M, N, K] of [[256, 1024, 576], [512, 512, 512], [128, 2560, 1152]] as const) {
    const m = rt.arena.mark();
    const [a, b, c, pa, pb] = rt.arena.plan([
      { label: 'a', bytes: M * K * 4 }, { label: 'b', bytes: K * N * 4 }, { label: 'c', bytes: M * N * 4 },
      { label: 'pa', bytes: packedABytes(M, K) }, { label: 'pb', bytes: packedBBytes(K, N) },
    ]) as number[];
    fill(rt, a!, M * K, 1);
    fill(rt, b!, K * N, 2);
    packA(rt, { ptr: a!, sr: K, sk: 1 }, M, K, pa!);
    packB(rt, { ptr: b!, sr: 1, sk: N }, K, N, pb!);
    const flop = 2 * M * N * K;
    const t = time(() => gemm(rt, { M, N, K, a: pa!, b: pb!, c: c!, ldc: N }));
    const withPack = time(() => {
      packA(rt, { ptr: a!, sr: K, sk: 1 }, M, K, pa!);
      packB(rt, { ptr: b!, sr: 1, sk: N }, K, N, pb!);
      gemm(rt, { M, N, K, a: pa!, b: pb!, c: c!, ldc: N });
    });
    const g = flop / t.ms / 1e6;
    rows.push({ threads: rt.threads, batch: 0, name: `matmul ${M}x${N}x${K}`, pass: 'gemm', ms: t.ms, gflops: g, cpuGflops: flop / t.cpuMs / 1e6, ofMatmul: NaN });
    rows.push({ threads: rt.threads, batch: 0, name: `matmul ${M}x${N}x${K}`, pass: 'pack+gemm', ms: withPack.ms, gflops: flop / withPack.ms / 1e6, cpuGflops: flop / withPack.cpuMs / 1e6, ofMatmul: NaN });
    rt.arena.release(m);
  }
}

function benchShape(rt: WasmRuntime, s: Shape, batch: number, rows: Row[]): void {
  const m = rt.arena.mark();
  let macs: number;
  let passes: [string, Step[]][];
  if (s.conv) {
    const p = s.conv;
    const { OH, OW } = conv2dOutSize(p);
    macs = p.N * p.K * p.C * p.kh * p.kw * OH * OW;
    const [x, w, b, y, dy, dx, dw, db] = rt.arena.plan([
      { label: 'x', bytes: p.N * p.C * p.H * p.W * 4 }, { label: 'w', bytes: p.K * p.C * p.kh * p.kw * 4 }, { label: 'b', bytes: p.K * 4 },
      { label: 'y', bytes: p.N * p.K * OH * OW * 4 }, { label: 'dy', bytes: p.N * p.K * OH * OW * 4 }, { label: 'dx', bytes: p.N * p.C * p.H * p.W * 4 },
      { label: 'dw', bytes: p.K * p.C * p.kh * p.kw * 4 }, { label: 'db', bytes: p.K * 4 },
    ]) as number[];
    fill(rt, x!, p.N * p.C * p.H * p.W, 1);
    fill(rt, w!, p.K * p.C * p.kh * p.kw, 2);
    fill(rt, dy!, p.N * p.K * OH * OW, 3);
    passes = [
      ['forward', conv2dForward(rt, y!, x!, w!, b!, p, s.name)],
      ['backward_input', conv2dBackwardInput(rt, dx!, dy!, w!, p, false, s.name)],
      ['backward_weight', conv2dBackwardWeight(rt, dw!, db!, dy!, x!, p, s.name)],
    ];
  } else {
    const p = s.convT!;
    const { OH, OW } = convTranspose2dOutSize(p);
    macs = p.N * p.Cin * p.Cout * p.kh * p.kw * p.H * p.W;
    const [x, w, b, y, dy, dx, dw, db] = rt.arena.plan([
      { label: 'x', bytes: p.N * p.Cin * p.H * p.W * 4 }, { label: 'w', bytes: p.Cin * p.Cout * p.kh * p.kw * 4 }, { label: 'b', bytes: p.Cout * 4 },
      { label: 'y', bytes: p.N * p.Cout * OH * OW * 4 }, { label: 'dy', bytes: p.N * p.Cout * OH * OW * 4 }, { label: 'dx', bytes: p.N * p.Cin * p.H * p.W * 4 },
      { label: 'dw', bytes: p.Cin * p.Cout * p.kh * p.kw * 4 }, { label: 'db', bytes: p.Cout * 4 },
    ]) as number[];
    fill(rt, x!, p.N * p.Cin * p.H * p.W, 1);
    fill(rt, w!, p.Cin * p.Cout * p.kh * p.kw, 2);
    fill(rt, dy!, p.N * p.Cout * OH * OW, 3);
    passes = [
      ['forward', convTranspose2dForward(rt, y!, x!, w!, b!, p, s.name)],
      ['backward_input', convTranspose2dBackwardInput(rt, dx!, dy!, w!, p, false, s.name)],
      ['backward_weight', convTranspose2dBackwardWeight(rt, dw!, db!, dy!, x!, p, s.name)],
    ];
  }
  for (const [pass, steps] of passes) {
    const t = time(() => runSteps(steps));
    const g = 2 * macs / t.ms / 1e6;
    rows.push({ threads: rt.threads, batch, name: s.name, pass, ms: t.ms, gflops: g, cpuGflops: 2 * macs / t.cpuMs / 1e6, ofMatmul: NaN });
  }
  rt.arena.release(m);
}

/** Runs the benchmark with these command-line arguments; prints a table (or JSON). */
export async function main(argv: string[]): Promise<void> {
  const { batches, threadCounts, asJson, choice } = parseArgs(argv);
  const rows: Row[] = [];
  const meta: string[] = [];
  for (const threads of threadCounts) {
    const rt = await WasmRuntime.create({ threads });
    meta.push(rt.describe());
    const first = rows.length;
    bestMatmul(rt, rows);
    for (const batch of batches) for (const s of shapes(batch)) benchShape(rt, s, batch, rows);
    // The matmul again after the passes: the machine's speed drifts (other jobs, clocks), so each
    // pass is set against the better of the two, the stricter comparison.
    const again: Row[] = [];
    bestMatmul(rt, again);
    const mine = rows.slice(first);
    for (const r of mine) {
      const twin = again.find((a) => a.name === r.name && a.pass === r.pass);
      if (twin && twin.gflops > r.gflops) Object.assign(r, twin);
    }
    const best = Math.max(...mine.filter((r) => r.batch === 0 && r.pass === 'gemm').map((r) => r.gflops));
    for (const r of mine) r.ofMatmul = r.gflops / best;
    await rt.dispose();
  }

  if (asJson) {
    console.log(JSON.stringify({ size: [IH, IW], runtimes: meta, choice, rows }, null, 2));
    return;
  }
  console.log(`wasm kernels, input ${IH}x${IW}; ${meta.join(' / ')}; Winograd ${choice.winograd}, split K ${choice.splitK}, output phases ${choice.phases}, direct pack ${choice.directPack}, direct transposed convs ${choice.tconvDirect}; best of ${reps} after a warm-up of ≥ ${WARM_RUNS} runs and ${WARM_MS} ms; each pass against the better of two matmul measurements (before and after the passes)`);
  console.log('| threads | batch | shape | pass | ms | GFLOP/s | GFLOP/CPU-s | of best matmul |');
  console.log('|---:|---:|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.threads} | ${r.batch || '-'} | ${r.name} | ${r.pass} | ${r.ms.toFixed(2)} | ${r.gflops.toFixed(1)} | ${r.cpuGflops.toFixed(1)} | ${Number.isNaN(r.ofMatmul) ? '-' : `${(100 * r.ofMatmul).toFixed(0)}%`} |`);
  }
  // Against the aims: the best matmul, and the conv passes under 60% of it (wall clock, and per CPU-second).
  for (const threads of threadCounts) {
    const mine = rows.filter((r) => r.threads === threads);
    const mm = mine.filter((r) => r.batch === 0 && r.pass === 'gemm');
    const best = Math.max(...mm.map((r) => r.gflops)), bestCpu = Math.max(...mm.map((r) => r.cpuGflops));
    const conv = mine.filter((r) => r.batch > 0);
    const low = conv.filter((r) => r.ofMatmul < 0.6).length, lowCpu = conv.filter((r) => r.cpuGflops / bestCpu < 0.6).length;
    console.log(`${threads} thread(s): best matmul ${best.toFixed(1)} GFLOP/s (${bestCpu.toFixed(1)} per CPU-second); ` +
      `conv passes under 60% of it: ${low} of ${conv.length} by wall clock, ${lowCpu} by CPU time`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
