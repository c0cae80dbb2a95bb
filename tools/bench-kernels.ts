// Convolution kernel benchmark: every distinct conv shape of ResNet-18 on B×3×H×W images
// (the FCN backbone) plus FCN's k64/s32/p16 transposed-conv head, forward, backward-input and
// backward-weight; time, GFLOP/s (2·MACs) and the ratio to the best plain matmul of equal
// FLOPs on the same adapter. Each kernel family is timed in every variant of its tuning table
// and the best is reported with its name.
//
//   node --import ./tools/register.js tools/bench-kernels.ts [--batch 1] [--size 320x480] [--reps 5] [--json] [--quick] [--only NAME] [--all] [--min] [--inner N] [--winograd auto|off|2|3|4]
//
// Timing: GPU timestamp queries around the compute pass when the adapter has 'timestamp-query',
// otherwise wall time fenced by queue.onSubmittedWorkDone; the median (or with --min the best) of
// --reps runs after a warm-up.
//
// --backend wasm times the same passes (and FCN-16s/8s's head layers) on the WebAssembly backend
// instead, against its best packed matmul, on 1 and 2 threads (tools/bench-wasm.ts, which takes
// the remaining options: --batch/--batches, --size, --threads, --reps, --only, --winograd auto|off,
// --split-k auto|off, --phases auto|off, --json; the size defaults to 160x256 there).
import { acquireGpu, type Gpu } from '../src/gpu/device.js';
import { disposeDispatch, encode, submit, type Dispatch } from '../src/gpu/kernel.js';
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutSize,
  IGEMM_CANDIDATES,
  WGRAD_CANDIDATES,
  type Conv2dParams,
} from '../src/gpu/ops/conv2d.js';
import {
  convTranspose2dBackwardInput,
  convTranspose2dBackwardWeight,
  convTranspose2dForward,
  convTranspose2dOutSize,
  type ConvTranspose2dParams,
} from '../src/gpu/ops/conv_transpose2d.js';
import { matmul, type MatmulVariant } from '../src/gpu/ops/matmul.js';
import { Tensor } from '../src/gpu/tensor.js';

const args = process.argv.slice(2);
const backendAt = args.indexOf('--backend');
const backend = backendAt >= 0 ? args[backendAt + 1] : 'webgpu';
if (backend !== 'webgpu' && backend !== 'wasm') throw new Error(`--backend ${backend}: expected webgpu or wasm`);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const batch = Number(opt('batch', '1'));
const [IH, IW] = opt('size', '320x480').split('x').map(Number) as [number, number];
const reps = Number(opt('reps', '5'));
const asJson = args.includes('--json');
const quick = args.includes('--quick'); // only the default variant of each family
const only = opt('only', ''); // only shapes whose name contains this
const allVariants = args.includes('--all'); // print every variant, not just the best
const useMin = args.includes('--min'); // best of --reps instead of the median (for shared, noisy machines)
// Each timed run encodes the dispatches this many times in one pass and reports the time per
// repetition: GPU kernels take tens of microseconds, below the timestamp quantisation.
const innerArg = Number(opt('inner', '0'));
// Winograd for the 3×3 stride-1 convolutions: 'auto' (per shape, as in training), 'off', or a forced tile.
const winograd = opt('winograd', 'auto');
if (!['auto', 'off', '2', '3', '4'].includes(winograd)) throw new Error(`--winograd ${winograd}: expected auto, off, 2, 3 or 4`);
let inner = 1;
/** The --winograd choice, applied to the device's policy once it is acquired. */
const winogradPolicy = winograd === 'off' ? { winograd: false }
  : winograd === 'auto' ? {} : { winograd: true, winogradTile: Number(winograd) as 2 | 3 | 4 };

interface Shape {
  name: string;
  conv?: Conv2dParams;
  convT?: ConvTranspose2dParams;
}

/** The distinct convolutions of ResNet-18 at this input size, and the FCN head. */
function shapes(): Shape[] {
  const out: Shape[] = [];
  const conv = (name: string, C: number, H: number, W: number, K: number, k: number, s: number, p: number) =>
    out.push({ name, conv: { N: batch, C, H, W, K, kh: k, kw: k, strideH: s, strideW: s, padH: p, padW: p } });
  const half = (v: number) => Math.floor((v + 2 - 3) / 2) + 1;
  const h1 = half(IH), w1 = half(IW); // after the stem
  const h2 = half(h1), w2 = half(w1); // after max-pool
  conv('stem 7x7/2 3->64', 3, IH, IW, 64, 7, 2, 3);
  conv('layer1 3x3 64', 64, h2, w2, 64, 3, 1, 1);
  let [h, w, c] = [h2, w2, 64];
  for (const [i, k] of [[2, 128], [3, 256], [4, 512]] as const) {
    const hh = half(h), ww = half(w);
    conv(`layer${i} 3x3/2 ${c}->${k}`, c, h, w, k, 3, 2, 1);
    conv(`layer${i} 3x3 ${k}`, k, hh, ww, k, 3, 1, 1);
    conv(`layer${i} 1x1/2 ${c}->${k}`, c, h, w, k, 1, 2, 0);
    [h, w, c] = [hh, ww, k];
  }
  out.push({
    name: 'fcn head T64/32/16 21->21',
    convT: { N: batch, Cin: 21, H: h, W: w, Cout: 21, kh: 64, kw: 64, strideH: 32, strideW: 32, padH: 16, padW: 16 },
  });
  return out;
}

/**
 * Times several planned dispatch lists, interleaved (one run of each per round, so load from
 * other processes hits all alike), after a warm-up round; per list, the median (or best) ms.
 */
async function timeMany(gpu: Gpu, lists: Dispatch[][]): Promise<number[]> {
  const ts = gpu.device.features.has('timestamp-query');
  const qs = ts ? gpu.device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = ts ? gpu.createBuffer('bench.ts', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null;
  const read = ts ? gpu.createBuffer('bench.ts.read', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST) : null;
  const run = async (ds: Dispatch[]): Promise<number> => {
    const t0 = performance.now();
    if (!qs) {
      const enc = gpu.device.createCommandEncoder({ label: 'bench' });
      const pass = enc.beginComputePass({ label: 'bench' });
      for (let k = 0; k < inner; k++) encode(pass, ds);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / inner;
    }
    const enc = gpu.device.createCommandEncoder({ label: 'bench' });
    const pass = enc.beginComputePass({ label: 'bench', timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    for (let k = 0; k < inner; k++) encode(pass, ds);
    pass.end();
    enc.resolveQuerySet(qs, 0, 2, resolve!, 0);
    enc.copyBufferToBuffer(resolve!, 0, read!, 0, 16);
    gpu.device.queue.submit([enc.finish()]);
    await read!.mapAsync(GPUMapMode.READ);
    const [a, b] = new BigInt64Array(read!.getMappedRange().slice(0));
    read!.unmap();
    return Number(b! - a!) / 1e6 / inner;
  };
  for (const ds of lists) await run(ds);
  gpu.check();
  const times: number[][] = lists.map(() => []);
  for (let i = 0; i < reps; i++) for (let j = 0; j < lists.length; j++) times[j]!.push(await run(lists[j]!));
  gpu.check();
  qs?.destroy();
  if (resolve) gpu.destroyBuffer(resolve);
  if (read) gpu.destroyBuffer(read);
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return useMin ? t[0]! : t[Math.floor(t.length / 2)]!;
  });
}

/** Plain matmuls (both variants) of a cube shape with about `macs` multiply-adds, to time next to a conv. */
async function planMatmuls(gpu: Gpu, macs: number) {
  const d = Math.max(64, Math.round(Math.cbrt(macs) / 64) * 64);
  const ts = [Tensor.zeros(gpu, [d, d], 'a'), Tensor.zeros(gpu, [d, d], 'b'), Tensor.zeros(gpu, [d, d], 'c')] as const;
  const variants = gpu.report.software ? (['reg', 'reg8'] as MatmulVariant[]) : (['reg', 'reg8', 'tiled'] as MatmulVariant[]);
  const lists = await Promise.all(variants.map(async (v) => [await matmul(gpu, ts[2], ts[0], ts[1], v, 'bench')]));
  return {
    d,
    variants,
    lists,
    release: () => {
      lists.flat().forEach((x) => disposeDispatch(gpu, x));
      ts.forEach((t) => t.dispose());
    },
  };
}

/** Checks the baseline matmul once on a small problem, so the ratios compare against a correct kernel. */
async function checkMatmul(gpu: Gpu): Promise<void> {
  const M = 72, K = 36, N = 80;
  const av = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
  const bv = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
  for (const v of ['reg', 'reg8', 'tiled'] as MatmulVariant[]) {
    const a = Tensor.from(gpu, av, [M, K], 'a'), b = Tensor.from(gpu, bv, [K, N], 'b'), c = Tensor.zeros(gpu, [M, N], 'c');
    const d = await matmul(gpu, c, a, b, v);
    submit(gpu, [d]);
    const got = await c.read();
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[i * K + k]! * bv[k * N + j]!;
        if (got[i * N + j] !== s) throw new Error(`matmul.${v} wrong at (${i}, ${j}): ${got[i * N + j]} vs ${s}`);
      }
    disposeDispatch(gpu, d);
    [a, b, c].forEach((t) => t.dispose());
  }
}

interface Row {
  shape: string;
  op: string;
  variant: string;
  ms: number;
  gflops: number;
  matmulGflops: number;
  matmul: string;
  ratio: number;
}

async function main(): Promise<void> {
  const gpu = await acquireGpu();
  inner = innerArg || (gpu.report.software ? 1 : 20);
  gpu.policy.autotune.mode = 'off';
  Object.assign(gpu.policy.conv, winogradPolicy);
  await checkMatmul(gpu);
  // Workgroup-memory tiling is 3-4x slower on CPU adapters: not worth timing there.
  // ('default' = the untimed per-adapter choice.) On CPU adapters only a few variants are worth timing.
  const sw = gpu.report.software;
  const igemm = quick ? ['default'] : IGEMM_CANDIDATES.filter((c) => !sw || c.config.variant === 'reg').map((c) => c.name);
  const wgrad = quick
    ? ['default']
    : WGRAD_CANDIDATES.filter((c) => !sw || ['wg4x4t16k', 'wg8x4t16k', 'wg8x8t4k', 'wg8x8t16k', 'wg8x8t64k', 'wg4x8t16k'].includes(c.name)).map((c) => c.name);
  const rows: Row[] = [];
  const log = (s: string) => (asJson ? process.stderr.write(`${s}\n`) : console.log(s));
  log(`adapter: ${gpu.report.backend} ${gpu.report.description || gpu.report.device} (software=${gpu.report.software}); ` +
    `timing: ${gpu.device.features.has('timestamp-query') ? 'timestamp queries' : 'fences'}; batch ${batch}, ${IH}x${IW}, ${useMin ? 'best' : 'median'} of ${reps} runs of ${inner} repetitions`);
  log(`${'shape'.padEnd(28)} ${'op'.padEnd(8)} ${'variant'.padEnd(11)} ${'ms'.padStart(9)} ${'GFLOP/s'.padStart(8)} ${'matmul'.padStart(8)} ${'ratio'.padStart(6)}`);
  const t0 = performance.now();
  for (const s of shapes().filter((x) => x.name.includes(only))) {
    let xShape: number[], wShape: number[], yShape: number[], macs: number;
    if (s.conv) {
      const p = s.conv;
      const { OH, OW } = conv2dOutSize(p);
      xShape = [p.N, p.C, p.H, p.W];
      wShape = [p.K, p.C, p.kh, p.kw];
      yShape = [p.N, p.K, OH, OW];
      macs = p.N * p.K * OH * OW * p.C * p.kh * p.kw;
    } else {
      const p = s.convT!;
      const { OH, OW } = convTranspose2dOutSize(p);
      xShape = [p.N, p.Cin, p.H, p.W];
      wShape = [p.Cin, p.Cout, p.kh, p.kw];
      yShape = [p.N, p.Cout, OH, OW];
      macs = p.N * p.Cin * p.H * p.W * p.Cout * p.kh * p.kw; // every (input, tap) pair, clipped ones included
    }
    const x = Tensor.zeros(gpu, xShape, 'x');
    const w = Tensor.zeros(gpu, wShape, 'w');
    const b = Tensor.zeros(gpu, [yShape[1]!], 'b');
    const y = Tensor.zeros(gpu, yShape, 'y');
    const dx = Tensor.zeros(gpu, xShape, 'dx');
    const dw = Tensor.zeros(gpu, wShape, 'dw');
    const mm = await planMatmuls(gpu, macs);
    const ops: Array<[string, string[], () => Promise<Dispatch[]>]> = s.conv
      ? [
          ['fwd', igemm, () => conv2dForward(gpu, y, x, w, b, s.conv!, 'bench')],
          ['bwd-in', igemm, () => conv2dBackwardInput(gpu, dx, y, w, s.conv!, false, 'bench')],
          ['bwd-w', wgrad, () => conv2dBackwardWeight(gpu, dw, null, y, x, s.conv!, 'bench')],
        ]
      : [
          ['fwd', igemm, () => convTranspose2dForward(gpu, y, x, w, b, s.convT!, 'bench')],
          ['bwd-in', igemm, () => convTranspose2dBackwardInput(gpu, dx, y, w, s.convT!, false, 'bench')],
          ['bwd-w', wgrad, () => convTranspose2dBackwardWeight(gpu, dw, null, y, x, s.convT!, 'bench')],
        ];
    for (const [op, variants, plan] of ops) {
      const lists: Dispatch[][] = [];
      for (const v of variants) {
        gpu.policy.autotune.force = v === 'default' ? null : v;
        lists.push(await plan());
      }
      const ms = await timeMany(gpu, [...lists, ...mm.lists]);
      lists.flat().forEach((d) => disposeDispatch(gpu, d));
      const mmMs = Math.min(...ms.slice(variants.length));
      const mmGflops = (2 * mm.d ** 3) / mmMs / 1e6;
      const mmName = `${mm.variants[ms.slice(variants.length).indexOf(mmMs)]} ${mm.d}³`;
      let best: Row | null = null;
      variants.forEach((v, i) => {
        const gflops = (2 * macs) / ms[i]! / 1e6;
        if (allVariants) log(`  ${s.name} ${op} ${v}: ${ms[i]!.toFixed(2)} ms, ${gflops.toFixed(2)} GFLOP/s`);
        if (!best || ms[i]! < best.ms) {
          best = { shape: s.name, op, variant: v, ms: ms[i]!, gflops, matmulGflops: mmGflops, matmul: mmName, ratio: gflops / mmGflops };
        }
      });
      const r = best! as Row;
      rows.push(r);
      log(`${s.name.padEnd(28)} ${op.padEnd(8)} ${r.variant.padEnd(11)} ${r.ms.toFixed(2).padStart(9)} ${r.gflops.toFixed(1).padStart(8)} ` +
        `${r.matmulGflops.toFixed(1).padStart(8)} ${(r.ratio * 100).toFixed(0).padStart(5)}%  (${mmName})`);
    }
    mm.release();
    [x, w, b, y, dx, dw].forEach((t) => t.dispose());
  }
  gpu.policy.autotune.force = null;
  delete gpu.policy.conv.wgradSplits;
  const worst = rows.reduce((a, r) => (r.ratio < a.ratio ? r : a));
  log(`worst: ${worst.shape} ${worst.op} at ${(worst.ratio * 100).toFixed(0)}% of matmul; total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (asJson) console.log(JSON.stringify({ adapter: gpu.report.description || gpu.report.device, batch, size: [IH, IW], rows }, null, 1));
  gpu.dispose();
}

if (backend === 'wasm') {
  const wasm = await import('./bench-wasm.js');
  await wasm.main(args.filter((_, i) => i !== backendAt && i !== backendAt + 1));
} else {
  await main();
}
