// The convolution GEMM kernels and their planning: implicit GEMM (forward and gathered
// backward-input), split-K weight gradient, bias gradient, and the helpers for splitting work over
// images. conv2d.ts routes each pass here or to winograd.ts; conv_transpose2d.ts reuses both.
import igemmRegWgsl from '../../../shaders/conv2d/igemm_reg.wgsl';
import igemmTiledWgsl from '../../../shaders/conv2d/igemm_tiled.wgsl';
import wgradWgsl from '../../../shaders/conv2d/backward_weight.wgsl';
import reduceWgsl from '../../../shaders/conv2d/reduce_splits.wgsl';
import biasGradWgsl from '../../../shaders/conv2d/bias_grad.wgsl';
import weightTWgsl from '../../../shaders/conv2d/weight_t.wgsl';
import reduceOutWgsl from '../../../shaders/conv2d/reduce_out.wgsl';
import { choose, type Candidate } from '../autotune.js';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, grid1d, makeDispatch, planSteps, specialize, type Dispatch, type KernelDef } from '../kernel.js';
import { Tensor } from '../tensor.js';
import { scratch } from '../pool.js';


export interface Conv2dParams {
  N: number; C: number; H: number; W: number; K: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

/** Output spatial size: floor((H + 2P − kh)/S) + 1. */
export function conv2dOutSize(p: Conv2dParams): { OH: number; OW: number } {
  return {
    OH: Math.floor((p.H + 2 * p.padH - p.kh) / p.strideH) + 1,
    OW: Math.floor((p.W + 2 * p.padW - p.kw) / p.strideW) + 1,
  };
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Throws naming the op and every shape unless each tensor has its expected shape. */
export function checkShapes(op: string, expected: Record<string, { t: Tensor | null; shape: number[] }>, p: object): void {
  const bad = Object.entries(expected).filter(
    ([, e]) => e.t && (e.t.shape.length !== e.shape.length || e.t.shape.some((d, i) => d !== e.shape[i]) || e.t.dtype !== 'f32'),
  );
  if (bad.length === 0) return;
  const desc = Object.entries(expected)
    .map(([n, e]) => `${n} ${e.t ? fmt(e.t.shape) : 'null'}${e.t ? ` (want ${fmt(e.shape)})` : ''}`)
    .join(', ');
  throw new GpuError(`shape mismatch for ${JSON.stringify(p)}: ${desc}`, op);
}

export function checkParams(op: string, p: Record<string, number>): void {
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new GpuError(`parameter ${k} = ${v} must be a non-negative integer`, op);
  }
  for (const k of ['N', 'strideH', 'strideW', 'kh', 'kw']) {
    if (k in p && !(p[k]! >= 1)) throw new GpuError(`parameter ${k} = ${p[k]} must be >= 1`, op);
  }
}

// ---------------------------------------------------------------------------------------------
// Splitting over N: every N-indexed tensor is bound as the sub-range of images n0 .. n0+n−1.

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Bytes one scratch tensor of a convolution (split-K partial sums, Winograd's transformed tiles)
 * may take: one binding, and at most 64 MiB so that large batches split rather than allocate.
 */
export function scratchLimit(gpu: Gpu): number {
  return Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.policy.conv.maxBindingBytes ?? Infinity, 64 << 20);
}

/** Images per chunk so that every per-image-`bytes` tensor fits one binding at aligned offsets. */
export function batchChunk(gpu: Gpu, op: string, N: number, tensors: Record<string, { t: Tensor; perImage: number }>): number {
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.policy.conv.maxBindingBytes ?? Infinity);
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const entries = Object.entries(tensors);
  if (entries.every(([, e]) => e.perImage * N <= limit)) return N;
  let step = 1;
  for (const [, e] of entries) {
    const g = align / gcd(e.perImage % align || align, align);
    step = (step * g) / gcd(step, g);
  }
  const fit = Math.min(...entries.map(([, e]) => Math.floor(limit / e.perImage)));
  const n = Math.floor(fit / step) * step;
  if (n < 1) {
    const desc = entries.map(([name, e]) => `${name} ${fmt(e.t.shape)} (${e.perImage} bytes per image)`).join(', ');
    throw new GpuError(
      `cannot split over N to fit maxStorageBufferBindingSize ${limit} with offsets aligned to ${align}: ${desc}`,
      op,
    );
  }
  for (const [name, e] of entries) {
    if (e.t.offset % align !== 0) throw new GpuError(`${name} offset ${e.t.offset} is not a multiple of ${align}`, op);
  }
  return n;
}

/** The images n0 .. n0+n−1 of an (N, ...) tensor. */
export function images(t: Tensor, n0: number, n: number): Tensor {
  const per = t.size / t.shape[0]!;
  return t.view([n, ...t.shape.slice(1)], n0 * per);
}

/** A placeholder bound where a kernel's optional tensor (the bias) is absent: device scratch, never written. */
export function dummy(gpu: Gpu): Tensor {
  return scratch(gpu, 'conv2d.no-bias', 1);
}

export function relabel(d: Dispatch, label: string): Dispatch {
  return { ...d, label };
}

// ---------------------------------------------------------------------------------------------
// Implicit GEMM (forward and gathered backward-input).

export interface IgemmConfig {
  variant: 'reg' | 'tiled';
  /** Rows and output channels per thread. */
  tm: number;
  tn: number;
  /** Workgroup size (reg: wgx threads; tiled: wgx × wgy). */
  wgx: number;
  wgy: number;
}

/** The tuning table: register-blocked (no workgroup memory) and tiled, in a few sizes. */
export const IGEMM_CANDIDATES: readonly Candidate<IgemmConfig>[] = [
  { name: 'reg4x4', config: { variant: 'reg', tm: 4, tn: 4, wgx: 64, wgy: 1 } },
  { name: 'reg8x4', config: { variant: 'reg', tm: 8, tn: 4, wgx: 64, wgy: 1 } },
  { name: 'reg4x8', config: { variant: 'reg', tm: 4, tn: 8, wgx: 64, wgy: 1 } },
  { name: 'reg8x8', config: { variant: 'reg', tm: 8, tn: 8, wgx: 64, wgy: 1 } },
  { name: 'reg4x16', config: { variant: 'reg', tm: 4, tn: 16, wgx: 64, wgy: 1 } },
  { name: 'reg8x8w16', config: { variant: 'reg', tm: 8, tn: 8, wgx: 16, wgy: 1 } },
  { name: 'tiled64x64', config: { variant: 'tiled', tm: 4, tn: 4, wgx: 16, wgy: 16 } },
  { name: 'tiled64x32', config: { variant: 'tiled', tm: 4, tn: 2, wgx: 16, wgy: 16 } },
  { name: 'tiled32x32', config: { variant: 'tiled', tm: 4, tn: 4, wgx: 8, wgy: 8 } },
];

const weightTKernel: KernelDef = { name: 'conv2d.weight_t', code: weightTWgsl };
const reduceOutKernel: KernelDef = { name: 'conv2d.reduce_out', code: reduceOutWgsl };

/**
 * Untimed choice: 8×8 register blocks in workgroups of 16 on CPU adapters (4 columns when there are
 * few output channels), 64×64 tiles on GPUs. Workgroups of 16 rather than 64 because llvmpipe runs a
 * workgroup's invocations in 8-wide batches and problems with few rows per phase class leave most
 * of a 64-wide group idle (the FCN head's forward, most of all). Measurements: BENCHMARKS.md,
 * "Kernel tuning history".
 */
// SwiftShader's shader compiler takes minutes on the 8-row unrolled blocks, so it gets 4-row
// blocks; llvmpipe compiles either fast.
export const igemmDefault = (cols: number) => (software: boolean, architecture: string) =>
  !software ? 'tiled64x64' : architecture === 'swiftshader' ? (cols <= 4 ? 'reg4x4' : 'reg4x8') : cols <= 4 ? 'reg8x4' : 'reg8x8w16';

/**
 * Repeats every line that ends in `// each i<A j<B ...` for all index values (A, B: numbers or
 * names in `sizes`), substituting {i}, {j}, ...: register blocking without private arrays.
 */
export function expandEach(code: string, sizes: Record<string, number>): string {
  return code
    .split('\n')
    .flatMap((line) => {
      const m = /^(.*?)\s*\/\/ each ((?:\w+<\w+\s*)+)$/.exec(line);
      if (!m) return [line];
      let lines = [m[1]!];
      for (const spec of m[2]!.trim().split(/\s+/)) {
        const [v, lim] = spec.split('<') as [string, string];
        const n = /^\d+$/.test(lim) ? Number(lim) : sizes[lim];
        if (n === undefined) throw new Error(`expandEach: unknown size ${lim}`);
        lines = lines.flatMap((l) => Array.from({ length: n }, (_, k) => l.replaceAll(`{${v}}`, String(k))));
      }
      return lines;
    })
    .join('\n');
}

const igemmTemplates: Record<IgemmConfig['variant'], KernelDef> = {
  reg: { name: 'conv2d.igemm.reg', code: igemmRegWgsl },
  tiled: { name: 'conv2d.igemm.tiled', code: igemmTiledWgsl },
};

function igemmKernel(c: IgemmConfig, bwd: boolean): KernelDef {
  const k = specialize(igemmTemplates[c.variant], {
    name: `conv2d.igemm.${c.variant}${c.tm}x${c.tn}.wg${c.wgx}x${c.wgy}`,
    values: c.variant === 'reg' ? { TM: c.tm, TN: c.tn, WG: c.wgx } : { TM: c.tm, TN: c.tn, WGX: c.wgx, WGY: c.wgy },
    expand: c.variant === 'reg' ? (code) => expandEach(code, { TM: c.tm, TN4: c.tn / 4 }) : undefined,
  });
  return { ...k, constants: { BWD: bwd ? 1 : 0 } };
}

/** One implicit-GEMM pass, in GEMM terms (see igemm_reg.wgsl for the index maps). */
export interface IgemmProblem {
  bwd: boolean;
  inp: Tensor; // (N, Cred, IH, IW)
  w: Tensor;
  bias: Tensor | null; // (Cols)
  out: Tensor; // (N, Cols, OH, OW)
  N: number; Cred: number; IH: number; IW: number; Cols: number; OH: number; OW: number;
  SH: number; SW: number; PH: number; PW: number; KH: number; KW: number;
  wsc: number; wsr: number;
  accumulate: boolean;
  /**
   * Set for the GEMM stage of a Winograd convolution (winograd.ts): the N = `positions` "images"
   * are the transform positions, each with its own block of transformed weights, made by the
   * `weights` kernel (flip: backward-input).
   */
  wino?: { flip: boolean; positions: number; weights: KernelDef };
  /** A forward pass no gradient flows through (eval mode): Winograd may use its larger tile. */
  inference?: boolean;
}

/**
 * Loop iterations one invocation may run on a software adapter: a little under llvmpipe's 65,535
 * (the count below is exact for the register-blocked kernel; the margin covers the few loops
 * outside the reduction). Only plans that would have crossed the limit get extra splits.
 */
const SOFTWARE_LOOP_BUDGET = 60000;

/**
 * The fewest splits of `rows` output rows of `width` columns that keep a weight-gradient
 * invocation (one loop over its rows, one over each row's columns) within SOFTWARE_LOOP_BUDGET on
 * software adapters; 1 elsewhere. Throws when the scratch allows fewer than that.
 */
export function softwareRowSplits(gpu: Gpu, op: string, rows: number, width: number, maxSplits: number): number {
  if (!gpu.report.software) return 1;
  const rowsPer = Math.max(1, Math.floor(SOFTWARE_LOOP_BUDGET / (width + 1)));
  const need = ceilDiv(rows, rowsPer);
  if (need > Math.max(1, maxSplits)) {
    throw new GpuError(`${rows} rows of ${width} need ${need} splits to stay under ${SOFTWARE_LOOP_BUDGET} loop iterations; the scratch limit allows ${maxSplits}`, op);
  }
  return need;
}

/** Plans one implicit-GEMM problem with a given config (chunked over N when needed). */
export async function planIgemmWith(gpu: Gpu, op: string, pr: IgemmProblem, c: IgemmConfig, label: string): Promise<Dispatch[]> {
  const nChunk = batchChunk(gpu, op, pr.N, {
    [pr.bwd ? 'dy' : 'x']: { t: pr.inp, perImage: pr.Cred * pr.IH * pr.IW * 4 },
    [pr.bwd ? 'dx' : 'y']: { t: pr.out, perImage: pr.Cols * pr.OH * pr.OW * 4 },
  });
  const def = igemmKernel(c, pr.bwd);
  // The weights reordered to (kh, kw, Cred, ColsPad): a scratch copy refreshed by every run.
  const taps = pr.KH * pr.KW;
  const colsPad = ceilDiv(pr.Cols, 4) * 4;
  // Winograd: one (Cred, ColsPad) block of transformed weights per transform position.
  const wImage = pr.wino ? pr.Cred * colsPad : 0;
  if (pr.wino && (taps !== 1 || nChunk !== pr.N)) throw new GpuError('a Winograd GEMM must be 1×1 and fit one binding', op);
  const wtSize = (pr.wino ? pr.wino.positions : taps) * pr.Cred * colsPad;
  return planSteps(gpu, async ({ out, own }) => {
    const wtBuf = own(gpu.createBuffer(`${op}(${label}).wt`, wtSize * 4, GPUBufferUsage.STORAGE));
    const wt = new Tensor(gpu, wtBuf, [pr.wino ? pr.wino.positions : taps, pr.Cred, colsPad], 'f32', 0, false);
    const r = pr.wino
      ? await makeDispatch(gpu, pr.wino.weights, {
        bindings: { w: pr.w, wt },
        uniforms: { Cred: pr.Cred, Cols: pr.Cols, ColsPad: colsPad, wsc: pr.wsc, wsr: pr.wsr, flip: pr.wino.flip ? 1 : 0, n: wImage },
        workgroups: grid1d(gpu, wImage, 64),
        label,
      })
      : await makeDispatch(gpu, weightTKernel, {
        bindings: { w: pr.w, wt },
        uniforms: { Cred: pr.Cred, Cols: pr.Cols, ColsPad: colsPad, taps, wsc: pr.wsc, wsr: pr.wsr, n: wtSize },
        workgroups: grid1d(gpu, wtSize, 256),
        label,
      });
    out.push(relabel(r, `${op}.${pr.wino ? 'winograd_weights' : 'weights'}(${label})`));
    const phases = pr.bwd ? pr.SH * pr.SW : 1;
    const rowsPerGroup = c.wgx * c.tm;
    const colsPerGroup = c.variant === 'reg' ? c.tn : c.wgy * c.tn;
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    // Split-K over kernel rows, then over channel chunks (≥ 16 channels each), when the outputs
    // alone give too few threads to fill the adapter (deep layers at small batch, and above all
    // the FCN head's backward-input with its 86016-term sums).
    const Tmax = pr.bwd ? ceilDiv(pr.KH, pr.SH) : pr.KH;
    const rowsMax = pr.bwd ? nChunk * ceilDiv(pr.OH, pr.SH) * ceilDiv(pr.OW, pr.SW) : nChunk * pr.OH * pr.OW;
    const threads = Math.ceil((rowsMax * phases * pr.Cols) / (c.tm * c.tn));
    const target = gpu.report.software ? 1024 : 131072;
    const outSize = nChunk * pr.Cols * pr.OH * pr.OW;
    const limit = scratchLimit(gpu);
    const maxSplits = Math.max(1, Math.floor(limit / (outSize * 4)));
    const want = Math.min(maxSplits, Math.ceil(target / threads));
    const forced = gpu.policy.conv;
    let tySplits = Math.max(1, Math.min(forced.igemmSplits ?? want, Tmax, maxSplits));
    let tyPer = ceilDiv(Tmax, tySplits);
    tySplits = ceilDiv(Tmax, tyPer);
    let chSplits = forced.igemmChSplits ?? Math.floor(want / tySplits);
    chSplits = Math.max(1, Math.min(chSplits, ceilDiv(pr.Cred, forced.igemmChSplits ? 1 : 16), Math.floor(maxSplits / tySplits)));
    let chPer = ceilDiv(pr.Cred, chSplits);
    if (gpu.report.software) {
      // llvmpipe ends an invocation after 65,535 loop iterations in all, silently (README, "What CPU
      // adapters demand of kernels"): split the reduction further until one invocation's loops stay
      // within SOFTWARE_LOOP_BUDGET, whatever occupancy asked for.
      const Tx = pr.bwd ? ceilDiv(pr.KW, pr.SW) : pr.KW;
      const perTerm = c.variant === 'reg' ? 1 : 1 + c.tm + c.tn * (1 + c.tm); // the tiled kernel's inner loops
      const iterations = () => tyPer + tyPer * Tx * (1 + chPer * perTerm);
      while (iterations() > SOFTWARE_LOOP_BUDGET && (tyPer > 1 || chPer > 1)) {
        if (tyPer > 1) tyPer = ceilDiv(tyPer, 2);
        else chPer = ceilDiv(chPer, 2);
      }
      tySplits = ceilDiv(Tmax, tyPer);
      if (iterations() > SOFTWARE_LOOP_BUDGET || tySplits * ceilDiv(pr.Cred, chPer) > maxSplits) {
        throw new GpuError(
          `a ${pr.Cred}×${pr.KH}×${pr.KW} reduction needs more splits than the scratch limit ${limit} bytes allows ` +
            `to keep each invocation under ${SOFTWARE_LOOP_BUDGET} loop iterations (variant ${c.variant}${c.tm}x${c.tn})`,
          op,
        );
      }
    }
    chSplits = ceilDiv(pr.Cred, chPer);
    const splits = tySplits * chSplits;
    const part = splits > 1
      ? new Tensor(gpu, own(gpu.createBuffer(`${op}(${label}).partials`, splits * outSize * 4, GPUBufferUsage.STORAGE)), [splits * outSize], 'f32', 0, false)
      : null;
    for (let n0 = 0; n0 < pr.N; n0 += nChunk) {
      const n = Math.min(nChunk, pr.N - n0);
      const rows = pr.bwd ? n * ceilDiv(pr.OH, pr.SH) * ceilDiv(pr.OW, pr.SW) : n * pr.OH * pr.OW;
      const mGroups = ceilDiv(rows, rowsPerGroup);
      const cGroups = ceilDiv(pr.Cols, colsPerGroup);
      const groups = mGroups * cGroups * phases * splits;
      const gy = ceilDiv(groups, maxDim);
      if (gy > maxDim) throw new GpuError(`${groups} workgroups exceed ${maxDim}² even folded`, op);
      const gx = ceilDiv(groups, gy);
      const outChunk = nChunk === pr.N ? pr.out : images(pr.out, n0, n);
      const chunkOut = n * pr.Cols * pr.OH * pr.OW;
      const d = await makeDispatch(gpu, def, {
        bindings: {
          inp: nChunk === pr.N ? pr.inp : images(pr.inp, n0, n),
          wt,
          bias: pr.bias ?? dummy(gpu),
          out: part ? part.view([splits * chunkOut]) : outChunk,
        },
        uniforms: {
          N: n, Cred: pr.Cred, IH: pr.IH, IW: pr.IW, Cols: pr.Cols, OH: pr.OH, OW: pr.OW,
          SH: pr.SH, SW: pr.SW, PH: pr.PH, PW: pr.PW, KH: pr.KH, KW: pr.KW,
          mGroups, cGroups, groups,
          hasBias: pr.bias ? 1 : 0, accumulate: pr.accumulate ? 1 : 0,
          phases, tyPer, partial: part ? 1 : 0, outSize: chunkOut, tySplits, chPer, wImage,
        },
        workgroups: [gx, gy, 1],
        label,
      });
      out.push(relabel(d, `${op}(${label})`));
      if (part) {
        const r = await makeDispatch(gpu, reduceOutKernel, {
          bindings: { part: part.view([splits * chunkOut]), bias: pr.bias ?? dummy(gpu), out: outChunk },
          uniforms: { size: chunkOut, splits, Cols: pr.Cols, OHW: pr.OH * pr.OW, hasBias: pr.bias ? 1 : 0, accumulate: pr.accumulate ? 1 : 0 },
          workgroups: grid1d(gpu, chunkOut, 256),
          label,
        });
        out.push(relabel(r, `${op}.reduce(${label})`));
      }
    }
  });
}

export function scratchLike<T extends Record<string, Tensor | null>>(gpu: Gpu, ts: T): T {
  const out: Record<string, Tensor | null> = {};
  for (const [k, t] of Object.entries(ts)) out[k] = t ? Tensor.zeros(gpu, t.shape, `autotune.${k}`) : null;
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Weight gradient (split-K GEMM + reduce) and bias gradient.

export const reduceKernel: KernelDef = { name: 'conv2d.reduce_splits', code: reduceWgsl };
const biasGradKernel: KernelDef = { name: 'conv2d.bias_grad', code: biasGradWgsl };

export interface WgradConfig {
  /** Output and input channels per thread. */
  tk: number;
  tc: number;
  /** Threads (all splits together) the split count aims for: enough to fill the adapter, few enough to keep partials small. */
  target: number;
}

export const WGRAD_CANDIDATES: readonly Candidate<WgradConfig>[] = [4, 8].flatMap((tk) =>
  [4, 8].flatMap((tc) =>
    [4096, 16384, 65536, 262144].map((target) => ({ name: `wg${tk}x${tc}t${target >> 10}k`, config: { tk, tc, target } })),
  ),
);
/**
 * Untimed choice: 8×8 blocks; 8 output × 4 input channels when there are few input channels (the
 * 3-channel stem), 4×4 for few output channels. Splits: enough for 64k threads on GPUs; on CPU
 * adapters for 4k, since every split adds a partial sum to reduce. Measurements: BENCHMARKS.md,
 * "Kernel tuning history".
 */
export const wgradDefault = (p: Conv2dParams) => (software: boolean) =>
  (p.K < 8 ? 'wg4x4' : p.C < 8 ? 'wg8x4' : 'wg8x8') + (software ? 't4k' : 't64k');

const wgradTemplate: KernelDef = { name: 'conv2d.backward_weight', code: wgradWgsl };

export function wgradKernel(c: WgradConfig): KernelDef {
  return specialize(wgradTemplate, {
    name: `conv2d.backward_weight.${c.tk}x${c.tc}`,
    values: { TK: c.tk, TC: c.tc },
    expand: (code) => expandEach(code, { TK: c.tk, TC: c.tc }),
  });
}

/** dw (K,C,kh,kw) += Σ dy·im2col(x), as a conv with params p; dy (N,K,OH,OW), x (N,C,H,W). */
export async function planWgradWith(
  gpu: Gpu, op: string, dw: Tensor, dy: Tensor, x: Tensor, p: Conv2dParams, cfg: WgradConfig, label: string,
): Promise<Dispatch[]> {
  const { OH, OW } = conv2dOutSize(p);
  const nChunk = batchChunk(gpu, op, p.N, {
    dy: { t: dy, perImage: p.K * OH * OW * 4 },
    x: { t: x, perImage: p.C * p.H * p.W * 4 },
  });
  const taps = p.kh * p.kw;
  const size = p.K * p.C * taps;
  const threads = taps * ceilDiv(p.C, cfg.tc) * ceilDiv(p.K, cfg.tk);
  const rows = nChunk * OH;
  const limit = scratchLimit(gpu);
  let splits = gpu.policy.conv.wgradSplits ?? Math.ceil(cfg.target / threads);
  splits = Math.max(1, Math.min(splits, rows, Math.floor(limit / (size * 4))));
  splits = Math.max(splits, softwareRowSplits(gpu, op, rows, OW, Math.floor(limit / (size * 4))));
  const rowsPer = ceilDiv(rows, splits);
  splits = ceilDiv(rows, rowsPer);
  return planSteps(gpu, async ({ out, own }) => {
    const part = splits > 1
      ? new Tensor(gpu, own(gpu.createBuffer(`${op}(${label}).partials`, splits * size * 4, GPUBufferUsage.STORAGE)), [splits, size], 'f32', 0, false)
      : null;
    for (let n0 = 0; n0 < p.N; n0 += nChunk) {
      const n = Math.min(nChunk, p.N - n0);
      const whole = nChunk === p.N;
      const chunkRows = n * OH;
      const chunkSplits = part ? ceilDiv(chunkRows, rowsPer) : 1;
      const d = await makeDispatch(gpu, wgradKernel(cfg), {
        bindings: { dy: whole ? dy : images(dy, n0, n), x: whole ? x : images(x, n0, n), out: part ?? dw },
        uniforms: {
          N: n, C: p.C, H: p.H, W: p.W, K: p.K, OH, OW,
          SH: p.strideH, SW: p.strideW, PH: p.padH, PW: p.padW, KH: p.kh, KW: p.kw,
          cBlocks: ceilDiv(p.C, cfg.tc), kBlocks: ceilDiv(p.K, cfg.tk), threads,
          rowsPer: part ? rowsPer : chunkRows, splits: chunkSplits, accumulate: part ? 0 : 1,
          batches: 1, xBatch: 0, dyBatch: 0,
        },
        workgroups: grid1d(gpu, threads * chunkSplits, 64),
        label,
      });
      out.push(relabel(d, `${op}(${label})`));
      if (part) {
        const r = await makeDispatch(gpu, reduceKernel, {
          bindings: { part: part.view([chunkSplits * size]), dw },
          uniforms: { size, splits: chunkSplits, overwrite: 0 },
          workgroups: grid1d(gpu, size, 256),
          label,
        });
        out.push(relabel(r, `${op}.reduce(${label})`));
      }
    }
  });
}

/** db (C) += Σ_{n,h,w} g (N,C,H,W). */
export async function planBiasGrad(gpu: Gpu, op: string, db: Tensor, g: Tensor, label: string): Promise<Dispatch[]> {
  const [N, C, H, W] = g.shape as [number, number, number, number];
  const nChunk = batchChunk(gpu, op, N, { g: { t: g, perImage: C * H * W * 4 } });
  return planSteps(gpu, async ({ out }) => {
    for (let n0 = 0; n0 < N; n0 += nChunk) {
      const n = Math.min(nChunk, N - n0);
      const d = await makeDispatch(gpu, biasGradKernel, {
        bindings: { g: nChunk === N ? g : images(g, n0, n), db },
        uniforms: { N: n, C, HW: H * W },
        workgroups: grid1d(gpu, C, 1),
        label,
      });
      out.push(relabel(d, `${op}.bias(${label})`));
    }
  });
}
