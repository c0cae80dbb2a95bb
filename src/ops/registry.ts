// The op registry: every op of the engine, its passes, its WebGPU planners and kernel variants,
// its float64 reference and its PyTorch goldens (see types.ts). The planners are the ones the
// graph uses (src/gpu/ops/); this table only names and wires them, so a new backend adds a column
// next to `webgpu` and a new op adds an entry here.
import * as wasmConv from '../backends/wasm/conv2d.js';
import { fill as wasmFill } from '../backends/wasm/gemm.js';
import * as wasmOps from '../backends/wasm/ops.js';
import type { WasmRuntime } from '../backends/wasm/runtime.js';
import { foldNormalisation } from '../io/normalisation.js';
import { argmax } from '../gpu/ops/argmax.js';
import { add, addInto } from '../gpu/ops/add.js';
import { batchNormBackward, batchNormForward, type BatchNormParams } from '../gpu/ops/batch_norm.js';
import { confusionAccumulate } from '../gpu/ops/confusion.js';
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutSize, IGEMM_CANDIDATES, WGRAD_CANDIDATES, type Conv2dParams,
  type IgemmConfig, type WgradConfig,
} from '../gpu/ops/conv2d.js';
import {
  convTranspose2dBackwardInput, convTranspose2dBackwardWeight, convTranspose2dForward, convTranspose2dOutSize,
  type ConvTranspose2dParams,
} from '../gpu/ops/conv_transpose2d.js';
import { crossEntropyForward, crossEntropyForwardBackward } from '../gpu/ops/cross_entropy.js';
import { fill } from '../gpu/ops/fill.js';
import { argmaxPacked, normalizeRgba } from '../gpu/ops/image.js';
import { maxPool2dBackward, maxPool2dForward, maxPoolOutputSize, type MaxPoolParams } from '../gpu/ops/max_pool.js';
import { reluBackward, reluForward } from '../gpu/ops/relu.js';
import { sgdStep } from '../gpu/ops/sgd.js';
import { planSteps, type Dispatch } from '../gpu/kernel.js';
import type { Tensor } from '../gpu/tensor.js';
import { refConvBackward, refConvForward, refConvTBackward, refConvTForward } from './reference/conv.js';
import {
  addRef, argmaxPackedRef, argmaxRef, batchNormBackwardRef, batchNormEvalRef, batchNormTrainRef, confusionRef, crossEntropyRef,
  maxPoolBackwardRef, maxPoolRef, normalizeRgbaRef, reluBackwardRef, reluRef, sgdRef,
} from './reference/ops.js';
import {
  EXACT, FORWARD, GRADIENT, type GoldenCase, type HostTensors, type OpEntry, type TensorSpec, type Variant, type WasmVariant,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Helpers shared by the entries.

const f32 = (shape: readonly number[], role: TensorSpec['role'] = 'input', init?: number | string): TensorSpec =>
  typeof init === 'string' ? { shape, dtype: 'f32', role, from: init } : { shape, dtype: 'f32', role, init };
const u32 = (shape: readonly number[], role: TensorSpec['role'] = 'input', init?: number): TensorSpec => ({ shape, dtype: 'u32', role, init });
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/**
 * Seeded uniform numbers in [0, 1) (mulberry32, as the tests' randn and data/rng.ts, which sits a
 * layer above and so cannot be imported here): the registry's shape picker.
 */
export function uniform(seed: number, n: number): number[] {
  let a = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out.push(((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** pick(i, lo, hi): an integer in [lo, hi] from the i-th seeded number. */
function picker(seed: number) {
  const r = uniform(seed, 32);
  return (i: number, lo: number, hi: number) => lo + Math.floor(r[i]! * (hi - lo + 1));
}

/** The only variant of an op with one kernel per pass. */
const ONLY: readonly Variant[] = [{ name: 'default', policy: {} }];

/** A single-dispatch planner as a pass planner. */
const one = (d: Promise<Dispatch>) => d.then((x) => [x]);

// ---------------------------------------------------------------------------------------------
// The wasm column: passes call the runtime's ops (src/backends/wasm/) over tensors at byte offsets
// of its memory, planned as steps (one kernel call each for the ops that are a single call).

/** One wasm kernel call as a planned step. */
const step = (label: string, run: () => void): wasmConv.Step[] => [{ label, run }];
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Ops with one kernel per pass: on one thread (no workers) and on two (the caller and a worker on shared memory). */
const THREADED: readonly WasmVariant[] = [{ name: '1 thread', threads: 1 }, { name: '2 threads', threads: 2 }];

/**
 * Convolutions: im2col/packed GEMM with Winograd, split K and output phases off, on one and two
 * threads; Winograd F(2×2, 3×3) on, on shapes it serves (3×3 stride 1 with ≥ 8 channels each way
 * and ≥ 32 tiles: conv2d.ts useWinograd), where both the forward and the stride-1 backward-input
 * take it; split K on two threads, on shapes whose GEMMs have a long K and few tiles (gemm.ts
 * splitK); and, for transposed convolutions, output phases on k = 2·stride shapes (conv2d.ts
 * usePhases: the forward from stride 2, all three passes from stride 4), on one thread, and on
 * two with the backward-input's K split; the direct kernels (conv2d.ts useDirect: k = T·stride
 * with the width's stride and padding multiples of 4; channelsScratch: smaller width strides) on
 * one and two threads; and conv2d's forward and weight gradient with im2col writing the packed
 * panels directly (conv2d.ts directPack), on one and two threads.
 * Relaxed SIMD is not a variant here: Node 20 validates it only behind a flag, so its GEMM is
 * checked in a child process (test/wasm/runtime.test.ts).
 */
function wasmConvVariants(op: 'conv2d' | 'conv_transpose2d'): WasmVariant[] {
  // conv2d's forward and conv_transpose2d's backward-input are always a forward-shaped GEMM.
  const gemm = [op === 'conv2d' ? /^conv2d\.forward\(.*\):gemm$/ : /^conv_transpose2d\.backward_input\(.*\):gemm$/];
  const wino = op === 'conv2d'
    ? [/^conv2d\.forward\(.*\):winograd$/, /^conv2d\.backward_input\(.*\):winograd$/]
    : [/^conv_transpose2d\.forward\(.*\):winograd$/, /^conv_transpose2d\.backward_input\(.*\):winograd$/];
  const plain = { winograd: false, splitK: false, tconvPhases: false, tconvDirect: false, directPack: false };
  const variants: WasmVariant[] = [
    { name: 'gemm, 1 thread', threads: 1, ...plain, uses: gemm },
    { name: 'gemm, 2 threads', threads: 2, ...plain, uses: gemm },
    { name: 'winograd, 1 thread', threads: 1, winograd: true, splitK: false, uses: wino, shapes: 'wasmWinograd' },
    { name: 'winograd, 2 threads', threads: 2, winograd: true, splitK: false, uses: wino, shapes: 'wasmWinograd' },
  ];
  if (op === 'conv2d') {
    // im2col straight into the GEMMs' packed panels, col for the forward and colᵀ for the weight
    // gradient (any kernel, stride and padding: the random shapes).
    const direct = [/^conv2d\.forward\(.*\):im2col-packed$/, /^conv2d\.backward_weight\(.*\):im2col-packed$/];
    variants.push(
      { name: 'im2col into panels, 1 thread', threads: 1, winograd: false, splitK: false, directPack: true, uses: direct },
      { name: 'im2col into panels, 2 threads', threads: 2, winograd: false, splitK: false, directPack: true, uses: direct },
    );
    variants.push({
      name: 'split K, 2 threads', threads: 2, winograd: false, splitK: true, shapes: 'wasmSplitK',
      uses: [/^conv2d\.forward\(.*\):split-k$/, /^conv2d\.backward_weight\(.*\):split-k$/],
    });
  } else {
    const phases = [/^conv_transpose2d\.forward\(.*\):phases$/, /^conv_transpose2d\.backward_weight\(.*\):phases$/];
    variants.push(
      // Strides 2 or 4: the forward takes phases from stride 2 (4 phases) ...
      { name: 'phases forward, 1 thread', threads: 1, winograd: false, splitK: false, tconvPhases: true, tconvDirect: false, shapes: 'wasmPhases', uses: [phases[0]!] },
      // ... every pass from stride 4 both ways (16 phases).
      {
        name: 'phases, 1 thread', threads: 1, winograd: false, splitK: false, tconvPhases: true, tconvDirect: false, shapes: 'wasmPhasesSplitK',
        uses: [...phases, /^conv_transpose2d\.backward_input\(.*\):phases$/],
      },
      {
        name: 'phases + split K, 2 threads', threads: 2, winograd: false, splitK: true, tconvPhases: true, tconvDirect: false, shapes: 'wasmPhasesSplitK',
        uses: [...phases, /^conv_transpose2d\.backward_input\(.*\):phases\+split-k$/],
      },
    );
    // Direct kernels (conv2d.ts useDirect: k = T·stride, width stride and padding multiples of 4), every pass.
    const direct = ['forward', 'backward_input', 'backward_weight'].map((pass) => new RegExp(`^conv_transpose2d\\.${pass}\\(.*\\):direct$`));
    for (const threads of [1, 2]) {
      variants.push({ name: `direct, ${threads} thread${threads > 1 ? 's' : ''}`, threads, winograd: false, splitK: false, tconvPhases: true, tconvDirect: true, shapes: 'wasmDirect', uses: direct });
    }
  }
  return variants;
}

/** Cross-entropy on wasm: the per-tile partial sums live in arena scratch taken at planning. */
function wasmCrossEntropy(
  rt: WasmRuntime, losses: number, dlogits: number, logits: number, labels: number, p: wasmOps.CrossEntropyParams, label: string,
): wasmConv.Step[] {
  const scratch = rt.arena.alloc(wasmOps.crossEntropyScratchBytes(p), `${label} partial sums`);
  return step(label, () => void wasmOps.crossEntropy(rt, losses, dlogits, logits, labels, p, scratch));
}

// ---------------------------------------------------------------------------------------------
// Convolution variants: every implicit-GEMM candidate and every weight-gradient candidate is
// forced at least once (the two tables are walked side by side), the llvmpipe default reg8x8w16
// on its own, each Winograd tile with a GEMM config, and the unforced default.

const igemmLabel = (c: IgemmConfig) => `conv2d\\.igemm\\.${c.variant}${c.tm}x${c.tn}\\.wg${c.wgx}x${c.wgy}`;
const wgradLabel = (c: WgradConfig) => `conv2d\\.backward_weight\\.${c.tk}x${c.tc}`;

function convVariants(winograd: boolean): Variant[] {
  const out: Variant[] = [{ name: 'default', policy: {} }];
  const n = Math.max(IGEMM_CANDIDATES.length, WGRAD_CANDIDATES.length);
  for (let i = 0; i < n; i++) {
    const g = IGEMM_CANDIDATES[i % IGEMM_CANDIDATES.length]!;
    const w = WGRAD_CANDIDATES[i % WGRAD_CANDIDATES.length]!;
    out.push({
      name: `${g.name}+${w.name}`,
      policy: { autotune: { force: [g.name, w.name] }, conv: { winograd: false } },
      uses: [new RegExp(`^${igemmLabel(g.config)}$`), new RegExp(`^${wgradLabel(w.config)}$`)],
    });
  }
  const llvmpipe = IGEMM_CANDIDATES.find((c) => c.name === 'reg8x8w16')!;
  out.push({ name: 'reg8x8w16', policy: { autotune: { force: 'reg8x8w16' }, conv: { winograd: false } }, uses: [new RegExp(`^${igemmLabel(llvmpipe.config)}$`)] });
  if (winograd) {
    const tiles: [2 | 3 | 4, string, string][] = [[2, 'tiled64x64', 'wg8x8t16k'], [3, 'reg4x8', 'wg4x8t4k'], [4, 'reg8x8w16', 'wg8x4t4k']];
    for (const [m, g, w] of tiles) {
      out.push({
        name: `winograd${m}+${g}+${w}`,
        policy: { autotune: { force: [g, w] }, conv: { winograd: true, winogradTile: m } },
        uses: [new RegExp(`^conv2d\\.winograd_input\\.f${m}$`), new RegExp(`^${igemmLabel(IGEMM_CANDIDATES.find((c) => c.name === g)!.config)}$`)],
        shapes: 'winograd3x3',
      });
    }
  }
  return out;
}

/** The goldens of conv2d.safetensors / conv_transpose2d.safetensors: every tensor under its own name. */
function convGoldenCases<P>(meta: unknown): GoldenCase<P & { bias: boolean }>[] {
  return (meta as { name: string; params: P; bias: boolean }[]).map((c) => {
    const ins = ['x', 'w', 'dy', ...(c.bias ? ['b'] : [])];
    const outs = ['y', 'dx', 'dw', ...(c.bias ? ['db'] : [])];
    return {
      name: c.name,
      params: { ...c.params, bias: c.bias },
      inputs: Object.fromEntries(ins.map((k) => [k, `${c.name}.${k}`])),
      expected: Object.fromEntries(outs.map((k) => [k, `${c.name}.${k}`])),
    };
  });
}

const bias = (t: Record<string, Tensor>, key: string) => t[key] ?? null;
/** The op's own parameters, without the case's bias flag. */
const conv = <P extends { bias: boolean }>({ bias: _bias, ...p }: P): Omit<P, 'bias'> => p;

// ---------------------------------------------------------------------------------------------
// conv2d.

export type Conv2dCase = Conv2dParams & { bias: boolean };

export const conv2d: OpEntry<Conv2dCase> = {
  name: 'conv2d',
  passes: ['forward', 'backwardInput', 'backwardWeight'],
  writes: { forward: ['y'], backwardInput: ['dx'], backwardWeight: ['dw', 'db'] },
  tensors(p) {
    const { OH, OW } = conv2dOutSize(p);
    const t: Record<string, TensorSpec> = {
      x: f32([p.N, p.C, p.H, p.W]), w: f32([p.K, p.C, p.kh, p.kw]), dy: f32([p.N, p.K, OH, OW]),
      y: f32([p.N, p.K, OH, OW], 'output'), dx: f32([p.N, p.C, p.H, p.W], 'output'), dw: { ...f32([p.K, p.C, p.kh, p.kw], 'output'), accumulates: true },
    };
    if (p.bias) Object.assign(t, { b: f32([p.K]), db: { ...f32([p.K], 'output'), accumulates: true } });
    return t;
  },
  backends: {
    webgpu: {
      passes: {
        forward: { plan: (gpu, p, t, label) => conv2dForward(gpu, t.y!, t.x!, t.w!, bias(t, 'b'), conv(p), label) },
        backwardInput: { plan: (gpu, p, t, label) => conv2dBackwardInput(gpu, t.dx!, t.dy!, t.w!, conv(p), false, label) },
        backwardWeight: { plan: (gpu, p, t, label) => conv2dBackwardWeight(gpu, t.dw!, bias(t, 'db'), t.dy!, t.x!, conv(p), label) },
      },
      variants: convVariants(true),
    },
    wasm: {
      passes: {
        forward: { plan: (rt, p, t, label) => wasmConv.conv2dForward(rt, t.y!, t.x!, t.w!, t.b ?? 0, conv(p), label) },
        backwardInput: { plan: (rt, p, t, label) => wasmConv.conv2dBackwardInput(rt, t.dx!, t.dy!, t.w!, conv(p), false, label) },
        backwardWeight: { plan: (rt, p, t, label) => wasmConv.conv2dBackwardWeight(rt, t.dw!, t.db ?? 0, t.dy!, t.x!, conv(p), label) },
      },
      variants: wasmConvVariants('conv2d'),
    },
  },
  reference(p, i) {
    const g = refConvBackward(i.x!, i.w!, i.dy!, p);
    return { y: refConvForward(i.x!, i.w!, i.b ?? null, p), dx: g.dx, dw: g.dw, ...(p.bias ? { db: g.db } : {}) };
  },
  gradients: [
    { wrt: 'x', grad: 'dx', loss: (p, i) => dot(refConvForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
    { wrt: 'w', grad: 'dw', loss: (p, i) => dot(refConvForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
    { wrt: 'b', grad: 'db', loss: (p, i) => dot(refConvForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
  ],
  randomParams(seed, v) {
    const pick = picker(seed);
    if (v.shapes === 'wasmSplitK') {
      // 5×5 over 24+ channels (K = C·25 ≥ 600) into ≤ 5 channels at ≤ 18×18: the forward has ≤ 6 tiles,
      // and the weight gradient (K = N·OH·OW ≥ 512, ≤ 5 × ⌈C·25/128⌉ tiles) splits on two threads too.
      return { N: 2, C: pick(1, 24, 26), H: pick(2, 16, 18), W: pick(3, 16, 18), K: pick(4, 3, 5), kh: 5, kw: 5, strideH: 1, strideW: 1, padH: 2, padW: 2, bias: pick(5, 0, 1) === 1 };
    }
    if (v.shapes === 'wasmWinograd') {
      // wasm Winograd needs C, K ≥ 8 and N·⌈OH/2⌉·⌈OW/2⌉ ≥ 32 (conv2d.ts useWinograd): 8..11 channels, ≥ 11×11.
      return { N: pick(0, 1, 2), C: pick(1, 8, 11), H: pick(2, 11, 14), W: pick(3, 11, 14), K: pick(4, 8, 11), kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, bias: pick(5, 0, 1) === 1 };
    }
    if (v.shapes === 'winograd3x3') {
      return { N: pick(0, 1, 2), C: pick(1, 1, 6), H: pick(2, 1, 9), W: pick(3, 1, 9), K: pick(4, 1, 7), kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, bias: pick(5, 0, 1) === 1 };
    }
    for (let tries = 0; ; tries++) {
      const kh = pick(0, 1, 5), kw = pick(1, 1, 5);
      const p: Conv2dCase = {
        N: pick(2, 1, 3), C: pick(3, 1, 6), H: pick(4, 1, 10), W: pick(5, 1, 10), K: pick(6, 1, 9), kh, kw,
        strideH: pick(7, 1, 3), strideW: pick(8, 1, 4), padH: pick(9, 0, kh - 1), padW: pick(10, 0, kw - 1), bias: pick(11, 0, 3) > 0,
      };
      p.H = Math.max(p.H, kh - 2 * p.padH + tries);
      p.W = Math.max(p.W, kw - 2 * p.padW + tries);
      const { OH, OW } = conv2dOutSize(p);
      if (OH >= 1 && OW >= 1) return p;
    }
  },
  // Forward atol 1e-5 rather than 1e-6: outputs are f32 sums of up to C·kh·kw products of O(1)
  // values in another order than PyTorch's (|y| up to ~10: one f32 ulp is ~1e-6).
  tolerance: { y: FORWARD, dx: GRADIENT, dw: GRADIENT, db: GRADIENT },
  goldens: [{
    file: 'conv2d',
    cases: convGoldenCases,
    // Each Winograd tile too: the 3×3 stride-1 padding-1 cases run through it (the others cannot).
    variants: ['default', 'reg4x4+wg4x4t4k', 'tiled64x64+wg4x8t64k', 'reg8x8w16', 'winograd2+tiled64x64+wg8x8t16k', 'winograd3+reg4x8+wg4x8t4k', 'winograd4+reg8x8w16+wg8x4t4k'],
  }],
};

// ---------------------------------------------------------------------------------------------
// conv_transpose2d: conv2d's kernels with the roles swapped (conv_transpose2d.ts).

export type ConvTranspose2dCase = ConvTranspose2dParams & { bias: boolean };

/** Every SAMPLE-th value of a flat tensor (head21's sampled goldens). */
const sampled = (step: number) => (a: ArrayLike<number>) => Float64Array.from({ length: Math.ceil(a.length / step) }, (_, i) => a[i * step]!);
/** Sums over the trailing `inner` values of each of a.length / inner groups. */
const groupSums = (inner: number) => (a: ArrayLike<number>) =>
  Float64Array.from({ length: a.length / inner }, (_, g) => {
    let s = 0;
    for (let i = 0; i < inner; i++) s += a[g * inner + i]!;
    return s;
  });

export const convTranspose2d: OpEntry<ConvTranspose2dCase> = {
  name: 'conv_transpose2d',
  passes: ['forward', 'backwardInput', 'backwardWeight'],
  writes: { forward: ['y'], backwardInput: ['dx'], backwardWeight: ['dw', 'db'] },
  tensors(p) {
    const { OH, OW } = convTranspose2dOutSize(p);
    const t: Record<string, TensorSpec> = {
      x: f32([p.N, p.Cin, p.H, p.W]), w: f32([p.Cin, p.Cout, p.kh, p.kw]), dy: f32([p.N, p.Cout, OH, OW]),
      y: f32([p.N, p.Cout, OH, OW], 'output'), dx: f32([p.N, p.Cin, p.H, p.W], 'output'), dw: { ...f32([p.Cin, p.Cout, p.kh, p.kw], 'output'), accumulates: true },
    };
    if (p.bias) Object.assign(t, { b: f32([p.Cout]), db: { ...f32([p.Cout], 'output'), accumulates: true } });
    return t;
  },
  backends: {
    webgpu: {
      passes: {
        forward: { plan: (gpu, p, t, label) => convTranspose2dForward(gpu, t.y!, t.x!, t.w!, bias(t, 'b'), conv(p), label) },
        backwardInput: { plan: (gpu, p, t, label) => convTranspose2dBackwardInput(gpu, t.dx!, t.dy!, t.w!, conv(p), false, label) },
        backwardWeight: { plan: (gpu, p, t, label) => convTranspose2dBackwardWeight(gpu, t.dw!, bias(t, 'db'), t.dy!, t.x!, conv(p), label) },
      },
      variants: convVariants(false),
    },
    wasm: {
      passes: {
        forward: { plan: (rt, p, t, label) => wasmConv.convTranspose2dForward(rt, t.y!, t.x!, t.w!, t.b ?? 0, conv(p), label) },
        backwardInput: { plan: (rt, p, t, label) => wasmConv.convTranspose2dBackwardInput(rt, t.dx!, t.dy!, t.w!, conv(p), false, label) },
        backwardWeight: { plan: (rt, p, t, label) => wasmConv.convTranspose2dBackwardWeight(rt, t.dw!, t.db ?? 0, t.dy!, t.x!, conv(p), label) },
      },
      variants: wasmConvVariants('conv_transpose2d'),
    },
  },
  reference(p, i) {
    const g = refConvTBackward(i.x!, i.w!, i.dy!, p);
    return { y: refConvTForward(i.x!, i.w!, i.b ?? null, p), dx: g.dx, dw: g.dw, ...(p.bias ? { db: g.db } : {}) };
  },
  gradients: [
    { wrt: 'x', grad: 'dx', loss: (p, i) => dot(refConvTForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
    { wrt: 'w', grad: 'dw', loss: (p, i) => dot(refConvTForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
    { wrt: 'b', grad: 'db', loss: (p, i) => dot(refConvTForward(i.x!, i.w!, i.b ?? null, p), i.dy!) },
  ],
  randomParams(seed, v) {
    const pick = picker(seed);
    if (v.shapes === 'wasmPhases' || v.shapes === 'wasmPhasesSplitK') {
      // k = 2·stride (FCN's heads), stride 2 or 4 per axis, padding up to stride/2; 8..10 output
      // channels so that the backward-input (a conv with K = Cout·kh·kw ≥ 512 when both strides are 4) has a long K.
      // wasmPhasesSplitK: stride 4 both ways (every pass by phases; the split-K variant's backward-input needs that long K).
      const s4 = v.shapes === 'wasmPhasesSplitK';
      const sh = s4 || pick(0, 0, 1) ? 4 : 2, sw = s4 || pick(1, 0, 1) ? 4 : 2;
      return {
        N: pick(2, 1, 2), Cin: pick(3, 2, 5), H: pick(4, 1, 6), W: pick(5, 2, 7), Cout: pick(6, 8, 10), kh: 2 * sh, kw: 2 * sw,
        strideH: sh, strideW: sw, padH: pick(7, 0, sh / 2), padW: pick(8, 0, sw / 2), bias: pick(9, 0, 1) === 1,
      };
    }
    if (v.shapes === 'wasmDirect') {
      // k = T·stride with T = 2 or 3; width stride 4 or 8 with padding 0 or 4 (one or two vectors
      // per input column, every output vector kept or the window clipped), or width stride 2 with
      // padding 0 or 1 (the kernels across channels); height stride 1..4 with any padding below
      // the stride; 1..5 channels each way (the kernels' 4- and 8-channel blocks, partial).
      // Paddings shrink to keep at least one output row and one output vector.
      const sw = [2, 4, 8][pick(0, 0, 2)]!, sh = pick(1, 1, 4), Th = pick(2, 1, 3), Tw = pick(3, 2, 3);
      const H = pick(6, 1, 4), W = pick(7, 1, 5), OH0 = (H - 1 + Th) * sh, OW0 = (W - 1 + Tw) * sw;
      return {
        N: pick(4, 1, 3), Cin: pick(5, 1, 5), H, W, Cout: pick(8, 1, 5), kh: Th * sh, kw: Tw * sw, strideH: sh, strideW: sw,
        padH: Math.min(pick(9, 0, sh - 1), Math.floor((OH0 - 1) / 2)), padW: sw === 2 ? pick(10, 0, 1) : OW0 >= 12 ? pick(10, 0, 1) * 4 : 0,
        bias: pick(11, 0, 1) === 1,
      };
    }
    if (v.shapes === 'wasmWinograd') {
      // 3×3 stride 1 padding 1 keeps the size, and both the forward and backward-input are then Winograd-shaped convs (≥ 8 channels, ≥ 32 tiles).
      return { N: pick(0, 1, 2), Cin: pick(1, 8, 11), H: pick(2, 11, 14), W: pick(3, 11, 14), Cout: pick(4, 8, 11), kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, bias: pick(5, 0, 1) === 1 };
    }
    const kh = pick(0, 1, 6), kw = pick(1, 1, 6);
    const p: ConvTranspose2dCase = {
      N: pick(2, 1, 3), Cin: pick(3, 1, 5), H: pick(4, 1, 6), W: pick(5, 1, 6), Cout: pick(6, 1, 6), kh, kw,
      strideH: pick(7, 1, 4), strideW: pick(8, 1, 4), padH: 0, padW: 0, bias: pick(11, 0, 3) > 0,
    };
    const { OH, OW } = convTranspose2dOutSize(p);
    p.padH = Math.min(pick(9, 0, kh - 1), Math.floor((OH - 1) / 2));
    p.padW = Math.min(pick(10, 0, kw - 1), Math.floor((OW - 1) / 2));
    return p;
  },
  tolerance: { y: FORWARD, dx: GRADIENT, dw: GRADIENT, db: GRADIENT },
  goldens: [
    { file: 'conv_transpose2d', cases: convGoldenCases, variants: ['default', 'reg4x4+wg4x4t4k', 'tiled64x64+wg4x8t64k', 'reg8x8w16'] },
    {
      // The real FCN head at the chapter's feature size (tools/golden/head.py): 21 → 21 channels,
      // k64/s32/p16, 1 × 21 × 10 × 15 → 320 × 480. Inputs are generated from seeds (the file
      // holds only the results, sampled); tolerances come from how far PyTorch's own float32
      // result is from float64 (metadata torchF32Error): 4x that, at least the standard ones.
      file: 'head21',
      variants: ['default'],
      cases(meta) {
        const m = meta as {
          params: ConvTranspose2dParams; sample: number; seeds: Record<'x' | 'w' | 'b' | 'dy', number>; wRange: number;
          torchF32Error: Record<string, number>; scale: Record<string, number>;
        };
        const { params: p, sample } = m;
        const { OH, OW } = convTranspose2dOutSize(p);
        const tol = (k: string, base: { atol: number; rtol: number }) => ({ atol: Math.max(base.atol, 4 * m.torchF32Error[k]!), rtol: base.rtol });
        return [{
          name: 'head21',
          params: { ...p, bias: true },
          inputs: {
            x: `seed:${m.seeds.x}`, w: `seed:${m.seeds.w}:${-m.wRange}:${m.wRange}`, b: `seed:${m.seeds.b}`, dy: `seed:${m.seeds.dy}`,
          },
          expected: { y: 'y.sample', dx: 'dx', dw: 'dw.sample', db: 'db', 'y#sum': 'y.channel_sum', 'dw#sum': 'dw.pair_sum' },
          reduce: {
            y: sampled(sample), dw: sampled(sample),
            'y#sum': groupSums(OH * OW), 'dw#sum': groupSums(p.kh * p.kw),
          },
          tolerance: {
            y: tol('y.sample', FORWARD), dx: tol('dx', GRADIENT), dw: tol('dw.sample', GRADIENT), db: tol('db', GRADIENT),
            'y#sum': tol('y.channel_sum', GRADIENT), 'dw#sum': tol('dw.pair_sum', GRADIENT),
          },
        }];
      },
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// batch_norm: train forward (batch statistics, running-statistics update), its backward, and the
// eval forward (running statistics; checked on their own copies, which eval must leave alone).

export type BatchNormCase = BatchNormParams;

export const batchNorm: OpEntry<BatchNormCase> = {
  name: 'batch_norm',
  passes: ['forwardTrain', 'backward', 'forwardEval'],
  writes: {
    forwardTrain: ['y', 'mean', 'invstd', 'running_mean', 'running_var'],
    backward: ['dx', 'dweight', 'dbias'],
    forwardEval: ['y_eval'],
  },
  tensors(p) {
    const act = [p.N, p.C, p.H, p.W];
    const c = [p.C];
    return {
      x: f32(act), weight: f32(c), bias: f32(c), dy: f32(act), running_mean0: f32(c), running_var0: f32(c),
      y: f32(act, 'output'), mean: f32(c, 'output'), invstd: f32(c, 'output'),
      // In-place state: starts at running_mean0 / running_var0.
      running_mean: f32(c, 'output', 'running_mean0'), running_var: f32(c, 'output', 'running_var0'),
      dx: f32(act, 'output', 123), dweight: { ...f32(c, 'output', 0.5), accumulates: true }, dbias: { ...f32(c, 'output', 0.5), accumulates: true }, y_eval: f32(act, 'output'),
    };
  },
  backends: {
    webgpu: {
      passes: {
        forwardTrain: {
          plan: (gpu, p, t, label) => batchNormForward(gpu, t.y!, t.x!, t.weight!, t.bias!, t.running_mean!, t.running_var!,
            { mean: t.mean!, invstd: t.invstd! }, 'train', p, label),
        },
        backward: {
          plan: (gpu, p, t, label) => batchNormBackward(gpu, t.dx!, t.dweight!, t.dbias!, t.dy!, t.x!, t.weight!, { mean: t.mean!, invstd: t.invstd! }, p, label),
        },
        forwardEval: {
          plan: (gpu, p, t, label) => batchNormForward(gpu, t.y_eval!, t.x!, t.weight!, t.bias!, t.running_mean0!, t.running_var0!,
            { mean: t.mean!, invstd: t.invstd! }, 'eval', p, label),
        },
      },
      variants: [
        { name: 'default', policy: {} },
        { name: 'cpu', policy: { batchNorm: { cpuVariants: true } }, uses: [/^batch_norm\.stats\.wg8$/, /^batch_norm\.finalize\.wg1$/] },
        { name: 'gpu', policy: { batchNorm: { cpuVariants: false } }, uses: [/^batch_norm\.stats$/, /^batch_norm\.finalize$/] },
      ],
    },
    wasm: {
      passes: {
        forwardTrain: {
          plan: (rt, p, t, label) => step(`batch_norm.forward_train(${label})`, () => wasmOps.batchNormTrain(rt, t.y!, t.x!, {
            weight: t.weight!, bias: t.bias!, runningMean: t.running_mean!, runningVar: t.running_var!, saveMean: t.mean!, saveInvstd: t.invstd!,
          }, p, p.eps, p.momentum)),
        },
        backward: {
          plan: (rt, p, t, label) => step(`batch_norm.backward(${label})`, () => wasmOps.batchNormBackward(rt, t.dx!, t.dweight!, t.dbias!, t.dy!, t.x!,
            { weight: t.weight!, saveMean: t.mean!, saveInvstd: t.invstd! }, p)),
        },
        forwardEval: {
          plan: (rt, p, t, label) => step(`batch_norm.forward_eval(${label})`, () => wasmOps.batchNormEval(rt, t.y_eval!, t.x!,
            { weight: t.weight!, bias: t.bias!, runningMean: t.running_mean0!, runningVar: t.running_var0! }, p, p.eps)),
        },
      },
      variants: THREADED,
    },
  },
  reference(p, i) {
    const t = batchNormTrainRef(i.x!, i.weight!, i.bias!, p);
    const g = batchNormBackwardRef(i.dy!, i.x!, i.weight!, p);
    const momentum = p.momentum ?? 0.1;
    return {
      y: t.y, mean: t.mean, invstd: t.invstd,
      running_mean: Float64Array.from(i.running_mean0!, (v, c) => (1 - momentum) * v + momentum * t.mean[c]!),
      running_var: Float64Array.from(i.running_var0!, (v, c) => (1 - momentum) * v + momentum * t.varUnbiased[c]!),
      dx: g.dx, dweight: Float64Array.from(g.dw, (v) => v + 0.5), dbias: Float64Array.from(g.db, (v) => v + 0.5),
      y_eval: batchNormEvalRef(i.x!, i.weight!, i.bias!, i.running_mean0!, i.running_var0!, p),
    };
  },
  gradients: [
    { wrt: 'x', grad: 'dx', loss: (p, i) => dot(batchNormTrainRef(i.x!, i.weight!, i.bias!, p).y, i.dy!) },
    { wrt: 'weight', grad: 'dweight', loss: (p, i) => dot(batchNormTrainRef(i.x!, i.weight!, i.bias!, p).y, i.dy!) },
    { wrt: 'bias', grad: 'dbias', loss: (p, i) => dot(batchNormTrainRef(i.x!, i.weight!, i.bias!, p).y, i.dy!) },
  ],
  randomParams(seed) {
    const pick = picker(seed);
    // Small chunks so that even tiny planes need several reduction workgroups.
    return { N: pick(0, 1, 3), C: pick(1, 1, 5), H: pick(2, 1, 7), W: pick(3, 2, 7), chunk: [16, 64, 4096][pick(4, 0, 2)] };
  },
  randomInputs(p, seed) {
    const n = p.N * p.C * p.H * p.W;
    const r = uniform(seed, 2 * n + 4 * p.C);
    const at = (k: number, lo: number, hi: number) => lo + (hi - lo) * r[k]!;
    return {
      x: Float32Array.from({ length: n }, (_, k) => at(k, -2, 2)),
      dy: Float32Array.from({ length: n }, (_, k) => at(n + k, -1, 1)),
      weight: Float32Array.from({ length: p.C }, (_, c) => at(2 * n + c, 0.5, 1.5)),
      bias: Float32Array.from({ length: p.C }, (_, c) => at(2 * n + p.C + c, -0.5, 0.5)),
      running_mean0: Float32Array.from({ length: p.C }, (_, c) => at(2 * n + 2 * p.C + c, -0.2, 0.2)),
      running_var0: Float32Array.from({ length: p.C }, (_, c) => at(2 * n + 3 * p.C + c, 0.5, 1.5)),
    };
  },
  tolerance: {
    y: FORWARD, mean: { atol: 1e-6, rtol: 1e-5 }, invstd: { atol: 1e-6, rtol: 1e-4 },
    running_mean: { atol: 1e-6, rtol: 1e-5 }, running_var: { atol: 1e-6, rtol: 1e-4 },
    dx: GRADIENT, dweight: GRADIENT, dbias: GRADIENT, y_eval: { atol: 1e-5, rtol: 1e-4 },
  },
  goldens: [{
    file: 'ops_batch_norm',
    cases: (meta) => (meta as ({ name: string } & BatchNormParams)[]).map((c) => ({
      name: c.name,
      params: { N: c.N, C: c.C, H: c.H, W: c.W },
      inputs: {
        x: `${c.name}.x`, weight: `${c.name}.weight`, bias: `${c.name}.bias`, dy: `${c.name}.dy`,
        running_mean0: `${c.name}.running_mean0`, running_var0: `${c.name}.running_var0`,
      },
      expected: {
        y: `${c.name}.y`, mean: `${c.name}.mean`, invstd: `${c.name}.invstd`, running_mean: `${c.name}.running_mean`,
        running_var: `${c.name}.running_var`, dx: `${c.name}.dx`, dweight: `${c.name}.dweight`, dbias: `${c.name}.dbias`,
        y_eval: `${c.name}.y_eval`,
      },
      // dweight and dbias accumulate onto 0.5 (their init): the goldens are the gradients alone.
      reduce: { dweight: (full) => Float64Array.from(full, (v) => v - 0.5), dbias: (full) => Float64Array.from(full, (v) => v - 0.5) },
      // 'offset' normalises x ≈ 100 ± 0.01: one f32 ulp of x (7.6e-6) is 1e-3 of a standard
      // deviation, so y (values ~1) can only match to that level (test/gpu/batch_norm.test.ts
      // checks its dx against float64 instead).
      tolerance: c.name === 'offset' ? { y: { atol: 1e-3, rtol: 1e-3 } } : undefined,
    })),
  }],
};

// ---------------------------------------------------------------------------------------------
// Elementwise ops and pooling.

interface Flat { n: number }

export const relu: OpEntry<Flat> = {
  name: 'relu',
  passes: ['forward', 'backward'],
  writes: { forward: ['y'], backward: ['dx'] },
  tensors: (p) => ({ x: f32([p.n]), dy: f32([p.n]), y: f32([p.n], 'output'), dx: f32([p.n], 'output') }),
  backends: {
    webgpu: {
      passes: {
        forward: { plan: (gpu, _p, t, label) => one(reluForward(gpu, t.y!, t.x!, label)) },
        backward: { plan: (gpu, _p, t, label) => one(reluBackward(gpu, t.dx!, t.dy!, t.y!, label)) },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forward: { plan: (rt, p, t, label) => step(`relu.forward(${label})`, () => wasmOps.reluForward(rt, t.y!, t.x!, p.n)) },
        backward: { plan: (rt, p, t, label) => step(`relu.backward(${label})`, () => wasmOps.reluBackward(rt, t.dx!, t.dy!, t.y!, p.n)) },
      },
      variants: THREADED,
    },
  },
  reference: (_p, i) => {
    const y = reluRef(i.x!);
    return { y, dx: reluBackwardRef(i.dy!, y) };
  },
  gradients: [{ wrt: 'x', grad: 'dx', loss: (_p, i) => dot(reluRef(i.x!), i.dy!) }],
  // Sizes around the 4-elements-per-invocation and 256-wide workgroup boundaries.
  randomParams: (seed) => ({ n: [1, 3, 4, 5, 1023, 1025, 4099][picker(seed)(0, 0, 6)]! }),
  tolerance: { y: EXACT, dx: EXACT },
  goldens: [],
};

interface Shape3 { shape: readonly number[] }

export const addOp: OpEntry<Shape3> = {
  name: 'add',
  passes: ['forward', 'accumulate'],
  writes: { forward: ['sum'], accumulate: ['acc'] },
  tensors: (p) => ({ a: f32(p.shape), b: f32(p.shape), sum: f32(p.shape, 'output'), acc: { ...f32(p.shape, 'output', 0.25), accumulates: true } }),
  backends: {
    webgpu: {
      passes: {
        forward: { plan: (gpu, _p, t, label) => one(add(gpu, t.sum!, t.a!, t.b!, label)) },
        accumulate: { plan: (gpu, _p, t, label) => one(addInto(gpu, t.acc!, t.a!, label)) },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forward: { plan: (rt, p, t, label) => step(`add.forward(${label})`, () => wasmOps.add(rt, t.sum!, t.a!, t.b!, count(p.shape))) },
        accumulate: { plan: (rt, p, t, label) => step(`add.accumulate(${label})`, () => wasmOps.add(rt, t.acc!, t.acc!, t.a!, count(p.shape))) },
      },
      variants: THREADED,
    },
  },
  reference: (_p, i) => ({ sum: addRef(i.a!, i.b!), acc: Float64Array.from(i.a!, (v) => v + 0.25) }),
  randomParams: (seed) => {
    const pick = picker(seed);
    return { shape: [pick(0, 1, 4), pick(1, 1, 9), pick(2, 1, 33)] };
  },
  // f32 sums of two f32 values: one rounding, as PyTorch's.
  tolerance: { sum: { atol: 0, rtol: 6e-8 }, acc: { atol: 0, rtol: 6e-8 } },
  goldens: [{
    file: 'ops_add',
    cases: (meta) => (meta as { shape: number[] }[]).map((c) => ({
      name: 'add', params: { shape: c.shape }, inputs: { a: 'a', b: 'b' }, expected: { sum: 'sum' },
    })),
  }],
};

export const fillOp: OpEntry<Flat & { value: number }> = {
  name: 'fill',
  passes: ['forward'],
  writes: { forward: ['t'] },
  tensors: (p) => ({ t: f32([p.n], 'output', 7) }),
  backends: {
    webgpu: { passes: { forward: { plan: (gpu, p, t, label) => one(fill(gpu, t.t!, p.value, label)) } }, variants: ONLY },
    wasm: { passes: { forward: { plan: (rt, p, t, label) => step(`fill.forward(${label})`, () => wasmFill(rt, t.t!, p.n, p.value)) } }, variants: THREADED },
  },
  reference: (p) => ({ t: new Float64Array(p.n).fill(p.value) }),
  randomParams: (seed) => {
    const pick = picker(seed);
    return { n: [1, 5, 1024, 1027][pick(0, 0, 3)]!, value: [0, -1.5, 3.25][pick(1, 0, 2)]! };
  },
  tolerance: { t: EXACT },
  goldens: [],
};

export type MaxPoolCase = MaxPoolParams;

export const maxPool: OpEntry<MaxPoolCase> = {
  name: 'max_pool',
  passes: ['forward', 'backward'],
  writes: { forward: ['y', 'indices'], backward: ['dx'] },
  tensors(p) {
    const [OH, OW] = maxPoolOutputSize(p);
    const o = [p.N, p.C, OH, OW];
    return { x: f32([p.N, p.C, p.H, p.W]), dy: f32(o), y: f32(o, 'output'), indices: u32(o, 'output'), dx: f32([p.N, p.C, p.H, p.W], 'output', 7) };
  },
  backends: {
    webgpu: {
      passes: {
        forward: { plan: (gpu, p, t, label) => one(maxPool2dForward(gpu, t.y!, t.indices!, t.x!, p, label)) },
        backward: { plan: (gpu, p, t, label) => one(maxPool2dBackward(gpu, t.dx!, t.dy!, t.indices!, p, label)) },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forward: { plan: (rt, p, t, label) => step(`max_pool.forward(${label})`, () => wasmOps.maxPoolForward(rt, t.y!, t.indices!, t.x!, p)) },
        backward: { plan: (rt, p, t, label) => step(`max_pool.backward(${label})`, () => wasmOps.maxPoolBackward(rt, t.dx!, t.dy!, t.indices!, p)) },
      },
      variants: THREADED,
    },
  },
  reference(p, i) {
    const r = maxPoolRef(i.x!, p);
    return { y: r.y, indices: r.indices, dx: maxPoolBackwardRef(i.dy!, r.indices, p) };
  },
  gradients: [{ wrt: 'x', grad: 'dx', loss: (p, i) => dot(maxPoolRef(i.x!, p).y, i.dy!) }],
  randomParams(seed) {
    const pick = picker(seed);
    const k = pick(0, 1, 4);
    const p: MaxPoolCase = { N: pick(1, 1, 2), C: pick(2, 1, 3), H: pick(3, 1, 9), W: pick(4, 1, 9), k, stride: pick(5, 1, 3), pad: pick(6, 0, Math.floor(k / 2)) };
    p.H = Math.max(p.H, k - 2 * p.pad);
    p.W = Math.max(p.W, k - 2 * p.pad);
    return p;
  },
  randomInputs(p, seed) {
    // Distinct values (a scaled permutation), so the argmax is stable under finite differences.
    const n = p.N * p.C * p.H * p.W;
    const [OH, OW] = maxPoolOutputSize(p);
    const r = uniform(seed, n + 1);
    const shift = Math.floor(r[n]! * n);
    return {
      x: Float32Array.from({ length: n }, (_, i) => (((i * 7 + shift) % n) - n / 2) * 0.125),
      dy: Float32Array.from({ length: p.N * p.C * OH * OW }, (_, i) => 2 * r[i % n]! - 1),
    };
  },
  // Max and index selection are exact; dx sums at most ceil(k/S)² values.
  tolerance: { y: EXACT, indices: EXACT, dx: { atol: 1e-6, rtol: 1e-6 } },
  goldens: [{
    file: 'ops_max_pool',
    cases: (meta) => (meta as ({ name: string } & MaxPoolParams)[]).map((c) => ({
      name: c.name,
      params: { N: c.N, C: c.C, H: c.H, W: c.W, k: c.k, stride: c.stride, pad: c.pad },
      inputs: { x: `${c.name}.x`, dy: `${c.name}.dy` },
      expected: { y: `${c.name}.y`, indices: `${c.name}.indices`, dx: `${c.name}.dx` },
    })),
  }],
};

// ---------------------------------------------------------------------------------------------
// Loss, class ids, metrics, optimiser, image normalisation.

export interface CrossEntropyCase { N: number; K: number; H: number; W: number; reduction: 'sum' | 'mean' }

export const crossEntropy: OpEntry<CrossEntropyCase> = {
  name: 'cross_entropy',
  passes: ['forwardBackward', 'forward'],
  writes: { forwardBackward: ['losses', 'dlogits'], forward: ['losses_eval'] },
  tensors: (p) => ({
    logits: f32([p.N, p.K, p.H, p.W]), labels: u32([p.N, p.H, p.W]),
    losses: f32([p.N], 'output', 9), dlogits: f32([p.N, p.K, p.H, p.W], 'output', 9), losses_eval: f32([p.N], 'output'),
  }),
  backends: {
    webgpu: {
      passes: {
        forwardBackward: { plan: (gpu, p, t, label) => crossEntropyForwardBackward(gpu, t.losses!, t.dlogits!, t.logits!, t.labels!, p, label) },
        forward: { plan: (gpu, p, t, label) => crossEntropyForward(gpu, t.losses_eval!, t.logits!, t.labels!, p, label) },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forwardBackward: { plan: (rt, p, t, label) => wasmCrossEntropy(rt, t.losses!, t.dlogits!, t.logits!, t.labels!, p, `cross_entropy.forward_backward(${label})`) },
        forward: { plan: (rt, p, t, label) => wasmCrossEntropy(rt, t.losses_eval!, 0, t.logits!, t.labels!, p, `cross_entropy.forward(${label})`) },
      },
      variants: THREADED,
    },
  },
  reference(p, i) {
    const r = crossEntropyRef(i.logits!, i.labels!, p);
    return { losses: r.losses, losses_eval: r.losses, dlogits: p.reduction === 'sum' ? r.dSum : r.dMean };
  },
  gradients: [{
    wrt: 'logits', grad: 'dlogits',
    loss: (p, i) => {
      const r = crossEntropyRef(i.logits!, i.labels!, p);
      return p.reduction === 'sum' ? r.sumLoss : r.meanLoss;
    },
  }],
  randomParams(seed) {
    const pick = picker(seed);
    // Up to 391 pixels: more than one 256-pixel chunk per image.
    return { N: pick(0, 1, 3), K: pick(1, 2, 7), H: pick(2, 1, 23), W: pick(3, 1, 17), reduction: pick(4, 0, 1) ? 'mean' : 'sum' };
  },
  randomInputs(p, seed) {
    const r = uniform(seed, p.N * p.K * p.H * p.W + p.N * p.H * p.W);
    const nl = p.N * p.K * p.H * p.W;
    return {
      logits: Float32Array.from({ length: nl }, (_, i) => 8 * r[i]! - 4),
      // One label in five ignored (255).
      labels: Uint32Array.from({ length: p.N * p.H * p.W }, (_, i) => (r[nl + i]! < 0.2 ? 255 : Math.floor(r[nl + i]! * 7.99) % p.K)),
    };
  },
  tolerance: { losses: { atol: 1e-6, rtol: 1e-4 }, losses_eval: { atol: 1e-6, rtol: 1e-4 }, dlogits: { atol: 1e-6, rtol: 1e-3 } },
  goldens: [{
    file: 'ops_cross_entropy',
    cases: (meta) => (meta as { name: string; N: number; K: number; H: number; W: number }[]).flatMap((c) => (['sum', 'mean'] as const).map((reduction) => ({
      name: `${c.name} (${reduction})`,
      params: { N: c.N, K: c.K, H: c.H, W: c.W, reduction },
      inputs: { logits: `${c.name}.logits`, labels: `${c.name}.labels` },
      expected: { losses: `${c.name}.losses`, losses_eval: `${c.name}.losses`, dlogits: `${c.name}.dlogits_${reduction}` },
    }))),
  }],
};

/** argmax over channels: one u32 class id per pixel, or (packed, the inference output) four u8 ids per u32. */
export interface ArgmaxCase { N: number; K: number; H: number; W: number; TH: number; TW: number }

export const argmaxOp: OpEntry<ArgmaxCase> = {
  name: 'argmax',
  passes: ['forward'],
  writes: { forward: ['pred', 'packed'] },
  tensors: (p) => ({
    logits: f32([p.N, p.K, p.TH, p.TW]),
    pred: u32([p.N, p.TH, p.TW], 'output', 77),
    packed: u32([Math.ceil((p.N * p.H * p.W) / 4)], 'output', 77),
  }),
  backends: {
    webgpu: {
      passes: {
        forward: {
          plan: (gpu, p, t, label) => planSteps(gpu, async ({ out }) => {
            out.push(await argmax(gpu, t.pred!, t.logits!, label));
            out.push(await argmaxPacked(gpu, t.packed!, t.logits!, p.H, p.W, label));
          }),
        },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forward: {
          plan: (rt, p, t, label) => [
            ...step(`argmax.forward(${label})`, () => wasmOps.argmax(rt, t.pred!, t.logits!, { N: p.N, K: p.K, H: p.TH, W: p.TW })),
            ...step(`argmax.forward_u8(${label})`, () => wasmOps.argmaxU8(rt, t.packed!, t.logits!, p)),
          ],
        },
      },
      // Both outputs on every variant; the packed u8 step must have been planned and run.
      variants: THREADED.map((v) => ({ ...v, uses: [/^argmax\.forward_u8\(.*\):$/] })),
    },
  },
  reference: (p, i) => ({ pred: argmaxRef(i.logits!, { N: p.N, K: p.K, H: p.TH, W: p.TW }), packed: argmaxPackedRef(i.logits!, p) }),
  randomParams(seed) {
    const pick = picker(seed);
    const H = pick(0, 1, 9), W = pick(1, 1, 9);
    return { N: pick(2, 1, 3), K: pick(3, 1, 21), H, W, TH: H + pick(4, 0, 2), TW: W + pick(5, 0, 2) };
  },
  randomInputs(p, seed) {
    // Integers in {-1, 0, 1}: many ties, which must go to the lowest class.
    const r = uniform(seed, p.N * p.K * p.TH * p.TW);
    return { logits: Float32Array.from(r, (v) => Math.floor(v * 3) - 1) };
  },
  tolerance: { pred: EXACT, packed: EXACT },
  goldens: [{
    file: 'ops_argmax',
    cases: (meta) => (meta as { name: string; N: number; K: number; H: number; W: number }[]).map((c) => ({
      name: c.name,
      params: { N: c.N, K: c.K, H: c.H, W: c.W, TH: c.H, TW: c.W },
      inputs: { logits: `${c.name}.logits` },
      expected: { pred: `${c.name}.pred`, packed: `${c.name}.pred` },
      reduce: { packed: (full) => unpack(full, c.N * c.H * c.W) },
    })),
  }],
};

/** The u8 ids of a packed argmax, as numbers. */
function unpack(words: ArrayLike<number>, n: number): Uint32Array {
  const bytes = new Uint8Array(Uint32Array.from(words).buffer);
  return Uint32Array.from(bytes.subarray(0, n));
}

export interface ConfusionCase { n: number; K: number }

export const confusion: OpEntry<ConfusionCase> = {
  name: 'confusion',
  passes: ['accumulate'],
  writes: { accumulate: ['conf'] },
  tensors: (p) => ({ pred: u32([p.n]), labels: u32([p.n]), conf: { ...u32([p.K * p.K], 'output', 3), accumulates: true } }),
  backends: {
    webgpu: {
      passes: { accumulate: { plan: (gpu, p, t, label) => one(confusionAccumulate(gpu, t.conf!, t.pred!, t.labels!, p.K, label)) } },
      // K·K ≤ 1024 bins in workgroup memory, else global atomics: the entry point follows K.
      variants: ONLY,
    },
    wasm: {
      passes: {
        accumulate: { plan: (rt, p, t, label) => step(`confusion.accumulate(${label})`, () => wasmOps.confusion(rt, t.conf!, t.pred!, t.labels!, p.n, p.K)) },
      },
      variants: THREADED,
    },
  },
  reference: (p, i) => ({ conf: Uint32Array.from(confusionRef(i.pred!, i.labels!, p.K), (v) => v + 3) }),
  randomParams(seed) {
    const pick = picker(seed);
    return { n: pick(0, 1, 9000), K: [1, 2, 5, 21, 32, 33][pick(1, 0, 5)]! };
  },
  randomInputs(p, seed) {
    const r = uniform(seed, 2 * p.n);
    return {
      pred: Uint32Array.from({ length: p.n }, (_, i) => Math.floor(r[i]! * p.K)),
      // Labels ≥ K (255 and K itself) are skipped.
      labels: Uint32Array.from({ length: p.n }, (_, i) => (r[p.n + i]! < 0.1 ? 255 : r[p.n + i]! < 0.15 ? p.K : Math.floor(r[p.n + i]! * p.K))),
    };
  },
  tolerance: { conf: EXACT },
  goldens: [],
};

export interface SgdCase { n: number; lr: number; weightDecay: number; momentum: number; nesterov: boolean; maxChunk?: number }

export const sgd: OpEntry<SgdCase> = {
  name: 'sgd',
  passes: ['step'],
  writes: { step: ['params', 'buf'] },
  tensors: (p) => ({ params0: f32([p.n]), grads: f32([p.n]), buf0: f32([p.n]), params: f32([p.n], 'output', 'params0'), buf: f32([p.n], 'output', 'buf0') }),
  backends: {
    webgpu: {
      passes: {
        step: {
          plan: (gpu, p, t, label) => sgdStep(gpu, t.params!, t.grads!, p.momentum !== 0 ? t.buf! : null, p, label),
        },
      },
      variants: ONLY,
    },
    wasm: {
      passes: {
        step: { plan: (rt, p, t, label) => step(`sgd.step(${label})`, () => wasmOps.sgdStep(rt, t.params!, t.grads!, p.momentum !== 0 ? t.buf! : 0, p.n, p)) },
      },
      variants: THREADED,
    },
  },
  reference(p, i) {
    const params = Float64Array.from(i.params0!);
    const buf = Float64Array.from(i.buf0!);
    sgdRef(params, i.grads!, buf, p);
    return { params, buf };
  },
  randomParams(seed) {
    const pick = picker(seed);
    const momentum = [0, 0.9][pick(1, 0, 1)]!;
    return {
      n: pick(0, 1, 3000), lr: [0.1, 0.01][pick(2, 0, 1)]!, weightDecay: [0, 1e-3][pick(3, 0, 1)]!, momentum,
      nesterov: momentum > 0 && pick(4, 0, 1) === 1, maxChunk: pick(5, 0, 1) ? 64 : undefined,
    };
  },
  tolerance: { params: { atol: 1e-7, rtol: 1e-6 }, buf: { atol: 1e-7, rtol: 1e-6 } },
  goldens: [{
    file: 'ops_sgd',
    special: 'four steps with the learning rate rewritten between them (setSgdLearningRate): test/gpu/sgd.test.ts',
  }],
};

export interface NormalizeCase { N: number; H: number; W: number; TH: number; TW: number; mean: readonly number[]; std: readonly number[] }

export const normalize: OpEntry<NormalizeCase> = {
  name: 'image.normalize_rgba',
  passes: ['forward'],
  writes: { forward: ['out'] },
  tensors: (p) => ({ rgba: u32([p.N, p.H, p.W]), out: f32([p.N, 3, p.TH, p.TW], 'output', 5) }),
  backends: {
    webgpu: {
      passes: { forward: { plan: (gpu, p, t, label) => one(normalizeRgba(gpu, t.out!, t.rgba!, p.H, p.W, p.mean, p.std, label)) } },
      variants: ONLY,
    },
    wasm: {
      passes: {
        forward: {
          plan: (rt, p, t, label) => {
            const { scale, bias: shift } = foldNormalisation(p.mean, p.std);
            return step(`image.normalize_rgba.forward(${label})`, () => wasmOps.normalizeRgba(rt, t.out!, t.rgba!, p, scale, shift));
          },
        },
      },
      variants: THREADED,
    },
  },
  reference: (p, i) => ({ out: normalizeRgbaRef(i.rgba!, p, p.mean, p.std) }),
  randomParams(seed) {
    const pick = picker(seed);
    const H = pick(0, 1, 17), W = pick(1, 1, 17);
    return { N: pick(2, 1, 3), H, W, TH: H + pick(3, 0, 3), TW: W + pick(4, 0, 3), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  },
  randomInputs(p, seed) {
    return { rgba: Uint32Array.from(uniform(seed, p.N * p.H * p.W), (v) => Math.floor(v * 4294967296) >>> 0) };
  },
  // Two f32 roundings (v·scale, + bias) of values up to ~2.6: a few ulps.
  tolerance: { out: { atol: 1e-6, rtol: 1e-6 } },
  goldens: [],
};

/** Every op, in the order a training step first meets them. */
export const OPS: readonly OpEntry<never>[] = [
  normalize, conv2d, batchNorm, relu, maxPool, addOp, convTranspose2d, crossEntropy, argmaxOp, confusion, fillOp, sgd,
] as unknown as readonly OpEntry<never>[];
