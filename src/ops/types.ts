// The op registry's types: one entry per op, naming its passes and, per backend, the planner that
// turns shapes into runnable steps plus the kernel variants (tuning candidates) it can be forced
// to. The float64 reference and the PyTorch goldens hang off the same entry, so one generic test
// (test/ops/registry.test.ts) walks every op × pass × backend × variant. Adding a backend adds a
// column (a key of `backends`); adding an op adds an entry.
import type { Step } from '../backends/wasm/conv2d.js';
import type { SimdLevel, WasmRuntime } from '../backends/wasm/runtime.js';
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/kernel.js';
import type { PolicyOverrides } from '../gpu/policy.js';
import type { Tensor } from '../gpu/tensor.js';

/** Compute backends: WGSL on WebGPU, and AssemblyScript SIMD kernels on WebAssembly (src/backends/wasm/). */
export type Backend = 'webgpu' | 'wasm';

/**
 * Pass names, one spelling everywhere: `backwardWeight` is what files and kernels abbreviate as
 * `wgrad` and what labels spell `backward_weight` (PASS_LABELS maps them).
 */
export type PassName =
  | 'forward'
  | 'forwardTrain'
  | 'forwardEval'
  | 'forwardBackward'
  | 'backward'
  | 'backwardInput'
  | 'backwardWeight'
  | 'accumulate'
  | 'step';

export type Dtype = 'f32' | 'u32';

/** One tensor of an op case: inputs are given, outputs start at `init` (default 0) and are compared. */
export interface TensorSpec {
  shape: readonly number[];
  dtype: Dtype;
  role: 'input' | 'output';
  /** An output's starting value: every element `init` (default 0) ... */
  init?: number;
  /** ... or a copy of this input (state updated in place: running statistics, parameters). */
  from?: string;
  /** The op adds into this output (gradients): the reference's value includes the starting value. */
  accumulates?: boolean;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Host data of one case, by tensor name. */
export type HostTensors = Record<string, Float32Array | Uint32Array>;

/** A forced kernel choice of one backend: the policy that forces it and the kernels that prove it ran. */
export interface Variant {
  name: string;
  policy: PolicyOverrides;
  /** Each must match the pipeline label of some planned dispatch: the forced kernels did run. */
  uses?: readonly RegExp[];
  /** Shapes the variant needs to be exercised at all (Winograd: 3×3, stride 1, padding 1). */
  shapes?: 'winograd3x3';
}

/** One pass on the WebGPU backend: plans dispatches over the case's tensors. */
export interface WebgpuPass<P> {
  plan(gpu: Gpu, p: P, t: Record<string, Tensor>, label: string): Promise<Dispatch[]>;
}

export interface WebgpuColumn<P> {
  passes: Partial<Record<PassName, WebgpuPass<P>>>;
  /** Every kernel variant / tuning candidate the planners can be forced to (at least one: 'default'). */
  variants: readonly Variant[];
}

/**
 * A wasm runtime configuration a case runs under: the thread count (1: no workers; 2: the caller
 * and one worker on shared memory), the SIMD level, and whether 3×3 stride-1 convolutions may take
 * Winograd (wasmConvOptions.winograd).
 */
export interface WasmVariant {
  name: string;
  threads: number;
  /** Required SIMD level (default: whatever the runtime picks; the test checks the runtime has it). */
  simd?: SimdLevel;
  winograd?: boolean;
  /** Whether GEMMs with too few tiles for the pool split their K (wasmConvOptions.splitK; default: as planned). */
  splitK?: boolean;
  /** Whether k = T·stride transposed convolutions run by output phases (wasmConvOptions.tconvPhases; default: as planned). */
  tconvPhases?: boolean;
  /** Whether such transposed convolutions with width stride and padding multiples of 4 run by direct kernels (wasmConvOptions.tconvDirect). */
  tconvDirect?: boolean;
  /** Whether forward-shaped GEMMs build their packed columns straight from x (wasmConvOptions.directPack; default: as planned). */
  directPack?: boolean;
  /** Each must match `<step label>:<step variant>` of some planned step: the forced kernels did run. */
  uses?: readonly RegExp[];
  /**
   * Shapes the variant needs (wasmWinograd: 3×3 stride 1 with channels and tiles enough for
   * Winograd; wasmSplitK: a long K and few tiles, so the forward and weight-gradient GEMMs split
   * their K on two threads; wasmPhases: transposed convolutions with k = 2·stride, stride 2 or 4;
   * wasmPhasesSplitK: the same with stride 4, where every pass takes phases and the backward-input's
   * K is long enough to split; wasmDirect: k = T·stride with the width's stride and padding
   * multiples of 4, where every pass runs by direct kernels).
   */
  shapes?: 'wasmWinograd' | 'wasmSplitK' | 'wasmPhases' | 'wasmPhasesSplitK' | 'wasmDirect';
}

/**
 * One pass on the wasm backend: plans steps over the case's tensors, given as byte offsets into the
 * runtime's memory; scratch the plan needs comes from the runtime's arena.
 */
export interface WasmPass<P> {
  plan(rt: WasmRuntime, p: P, t: Record<string, number>, label: string): Step[];
}

export interface WasmColumn<P> {
  passes: Partial<Record<PassName, WasmPass<P>>>;
  variants: readonly WasmVariant[];
  /** Outputs this column does not produce, with the reason (they are not compared on wasm). */
  skips?: Record<string, string>;
}

/** A golden case: parameters, the golden tensor feeding each op tensor, and the golden tensor each output is checked against. */
export interface GoldenCase<P> {
  name: string;
  params: P;
  inputs: Record<string, string>;
  expected: Record<string, string>;
  /** Per-output tolerance overrides for this case (with the reason in the entry's comment). */
  tolerance?: Record<string, Tolerance>;
  /** Outputs whose golden is a reduction of the op tensor (sampled, summed); maps the op's full result to it. */
  reduce?: Record<string, (full: Float32Array | Uint32Array) => ArrayLike<number>>;
}

export interface GoldenSource<P> {
  /** test/golden/<file>.safetensors, written by tools/golden/. */
  file: string;
  /** The cases of the file, from its metadata; absent when the op's own test reads it (say why in `special`). */
  cases?: (meta: unknown) => GoldenCase<P>[];
  special?: string;
  /** Variants to run the goldens under (default: every variant of the backend). */
  variants?: readonly string[];
  /** The same on wasm (default: every wasm variant). */
  wasmVariants?: readonly string[];
}

/** A float64 scalar of the inputs whose gradient the reference states (finite differences check it). */
export interface GradientCheck<P> {
  wrt: string;
  grad: string;
  loss(p: P, inputs: Record<string, Float64Array>): number;
}

export interface OpEntry<P = unknown> {
  name: string;
  /** Its passes, in the order a step runs them. */
  passes: readonly PassName[];
  /** Which tensors each pass writes. */
  writes: Partial<Record<PassName, readonly string[]>>;
  tensors(p: P): Record<string, TensorSpec>;
  backends: { webgpu: WebgpuColumn<P>; wasm: WasmColumn<P> };
  /** The float64 reference: every output from the inputs (outputs that accumulate start at their init). */
  reference(p: P, inputs: Record<string, Float64Array>): Record<string, ArrayLike<number>>;
  gradients?: readonly GradientCheck<P>[];
  /** Tiny random parameters for seed (for a variant that needs particular shapes). */
  randomParams(seed: number, variant: { shapes?: Variant['shapes'] | WasmVariant['shapes'] }): P;
  /** Random inputs (default: uniform in [−1, 1) for f32, per tensor). */
  randomInputs?(p: P, seed: number): HostTensors;
  /** Tolerance per output against the float64 reference and the goldens (default: STANDARD). */
  tolerance?: Record<string, Tolerance>;
  goldens: readonly GoldenSource<P>[];
}

/** tinygrad's helper_test_op tolerances: forward atol 1e-6 / rtol 1e-3 (here 1e-5, see each entry), gradients 1e-4 / 1e-3. */
export const FORWARD: Tolerance = { atol: 1e-5, rtol: 1e-3 };
export const GRADIENT: Tolerance = { atol: 1e-4, rtol: 1e-3 };
export const EXACT: Tolerance = { atol: 0, rtol: 0 };

/**
 * The spellings of pass names in dispatch labels, WGSL file names and tuning-family names
 * (snake case, and the `wgrad` of the weight-gradient tuning tables WGRAD_CANDIDATES / 'conv2d.wgrad'),
 * mapped to the pass they mean. The registry test checks every planned dispatch label against it.
 */
export const PASS_LABELS: Record<string, PassName> = {
  forward: 'forward',
  backward: 'backward',
  backward_input: 'backwardInput',
  backward_weight: 'backwardWeight',
  wgrad: 'backwardWeight',
  forward_backward: 'forwardBackward',
};
