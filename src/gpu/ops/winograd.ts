// Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
// for the 3×3, stride-1, padding-1 convolutions that make up most of ResNet-18: forward,
// backward-input (the same correlation with the filter rotated by 180° and the channel roles
// swapped) and backward-weight. F(m×m, 3×3) computes an m×m output tile from an (m+2)² input patch
// with (m+2)² multiply-adds per (input, output) channel pair instead of 9m²: 2.25x fewer for
// F(2×2, 3×3), 3.24x for F(3×3, 3×3), 4x for F(4×4, 3×3). The transforms around the GEMM are memory-bound
// elementwise passes; winograd_transforms.ts writes their straight-line code.
//
//   1. weights  u(p, ch, col) = G g Gᵀ       (winograd_weight.wgsl, every run: weights change each step)
//   2. input    v(p, ch, t)   = Bᵀ d B       (winograd_input.wgsl), p < P = (m+2)² positions, t = tiles
//   3. GEMM     m(p, col, t)  = Σ_ch v(p, ch, t) · u(p, ch, col)
//               — the implicit-GEMM kernels of conv_gemm.ts as a 1×1 convolution over P "images"
//               whose weights differ per image (their wImage stride), so both kernel variants,
//               split-K and autotuning come for free. Tiles are padded to a multiple of the
//               kernel's row block so that no thread's rows straddle two positions.
//   4. output   y = Aᵀ m A (+ bias, + old y)   (winograd_output.wgsl)
//
// The weight gradient runs the same algebra backwards (y = Aᵀ(U ⊙ V)A, U = G g Gᵀ):
//   ∂L/∂(U ⊙ V) = A dy Aᵀ  (winograd_dy.wgsl),  ∂L/∂U(p) = Σ_t ∂L/∂(U ⊙ V)(p, ·, t) · V(p, ·, t)
//   (the weight-gradient kernel over P independent positions), ∂L/∂g = Gᵀ ∂L/∂U G (winograd_backward_weight.wgsl).
//
// v, m and ∂L/∂U live in device-wide scratch (pool.ts holdScratch) shared by every Winograd pass
// and freed with the last plan that uses them; batches whose transformed tiles would not fit one
// binding are processed in chunks of images.
import dyWgsl from '../../../shaders/conv2d/winograd_dy.wgsl';
import inputWgsl from '../../../shaders/conv2d/winograd_input.wgsl';
import outputWgsl from '../../../shaders/conv2d/winograd_output.wgsl';
import weightWgsl from '../../../shaders/conv2d/winograd_weight.wgsl';
import wgradWgsl from '../../../shaders/conv2d/winograd_backward_weight.wgsl';
import { choose } from '../autotune.js';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, grid1d, makeDispatch, planSteps, specialize, type Dispatch, type KernelDef, type PlanScope } from '../kernel.js';
import { holdScratch } from '../pool.js';
import type { Tensor } from '../tensor.js';
import {
  batchChunk, conv2dOutSize, dummy, igemmDefault, IGEMM_CANDIDATES, images, planIgemmWith, reduceKernel,
  relabel, scratchLike, scratchLimit, softwareRowSplits, WGRAD_CANDIDATES, wgradDefault, wgradKernel,
  type Conv2dParams, type IgemmConfig, type IgemmProblem, type WgradConfig,
} from './conv_gemm.js';
import {
  dyTransform, filterGradTransform, inputTransform, outputTransform, weightTransform, WINOGRAD, type WinogradTile,
} from './winograd_transforms.js';

export type { WinogradTile } from './winograd_transforms.js';

interface Kernels { input: KernelDef; output: KernelDef; weights: KernelDef; dy: KernelDef; wgrad: KernelDef }
const kernelCache = new Map<WinogradTile, Kernels>();
/** The WGSL templates; kernels() writes each tile's constants and transforms into them. */
const templates: Kernels = {
  input: { name: 'conv2d.winograd_input', code: inputWgsl },
  output: { name: 'conv2d.winograd_output', code: outputWgsl },
  weights: { name: 'conv2d.winograd_weight', code: weightWgsl },
  dy: { name: 'conv2d.winograd_dy', code: dyWgsl },
  wgrad: { name: 'conv2d.winograd_backward_weight', code: wgradWgsl },
};

/** The five transform kernels of F(m×m, 3×3): the WGSL templates with their transforms written in. */
function kernels(m: WinogradTile): Kernels {
  let k = kernelCache.get(m);
  if (k) return k;
  const w = WINOGRAD[m];
  const P = w.n * w.n;
  const fill = (template: KernelDef, values: Record<string, number>, body: string): KernelDef =>
    specialize(template, { name: `${template.name}.f${m}`, values, inserts: { transform: body } });
  k = {
    input: fill(templates.input, { MT: m, P },
      inputTransform(w, (i, j) => `ld(base, y0 + ${i}, x0 + ${j})`, (p, v) => `v[${p}u * plane + o] = ${v};`)),
    output: fill(templates.output, { MT: m },
      outputTransform(w, (p) => `m[${p}u * plane + s]`, (i, j, v) => `put(o, oy + ${i}u, ox + ${j}u, ${v}, b);`)),
    weights: fill(templates.weights, { P },
      weightTransform(w, (i, j) => `tap(base, ${3 * i + j}u)`, (p, v) => `wt[${p}u * plane + i] = ${v};`)),
    dy: fill(templates.dy, { MT: m },
      dyTransform(w, (i, j) => `ld(base, y0 + ${i}u, x0 + ${j}u)`, (p, v) => `dm[${p}u * plane + i] = ${v};`)),
    wgrad: fill(templates.wgrad, {},
      filterGradTransform(w, (p) => `du[${p}u * params.KC + i]`, (i, j, v) => `dw[o + ${3 * i + j}u] += ${v};`)),
  };
  kernelCache.set(m, k);
  return k;
}

/**
 * Cost per (input, output) channel pair of a pass over N images with an OH × OW output, in
 * multiply-add units: the GEMM's products — (m+2)² per tile for F(m×m, 3×3), 9 per pixel direct —
 * plus the filters' transformed copy, written and read once per pass, weighted by
 * WEIGHT_TRAFFIC. That second term is what makes F(4×4) (36 values per filter) lose to F(2×2)
 * (16) on small images with many channels (layer4) while it wins on large ones (layer1);
 * WEIGHT_TRAFFIC = 10 orders the tiles as measured on llvmpipe (`bench:kernels --winograd
 * off|2|3|4`; the times: BENCHMARKS.md, "Kernel tuning history").
 */
const WEIGHT_TRAFFIC = 10;
const passCost = (m: 0 | WinogradTile, N: number, OH: number, OW: number) =>
  m === 0
    ? N * 9 * OH * OW + 9 * WEIGHT_TRAFFIC
    : N * (m + 2) ** 2 * ceilDiv(OH, m) * ceilDiv(OW, m) + (m + 2) ** 2 * WEIGHT_TRAFFIC;

/**
 * The tile for a 3×3 stride-1 padding-1 convolution over N images with an OH × OW output and
 * Cin → Cout channels, or 0 for the direct kernels. `force` true: Winograd wherever the shape
 * allows (tile: `tile`, or the cheaper one by passCost); false: never; unset: the cheapest by
 * passCost when there are at least 16 channels on each side (below that the input and output
 * transforms cost more than the GEMM saves) and it costs at most 80% of the direct pass.
 *
 * Training forward passes (`forward`) choose between F(2×2) and F(3×3); F(4×4) only when `tile`
 * asks for it. Eval-mode forward passes, which no gradient flows through, choose like backward
 * passes. The reason is accuracy: F(4×4)'s transforms round about 10x more than F(2×2)'s, and an
 * activation's error moves ReLU and max-pool decisions on near-ties, which changes which gradients
 * flow (it doubled the stem gradient's error against float64 at the chapter size); F(3×3) stays at
 * the direct kernels' accuracy. Measurements: BENCHMARKS.md, "Kernel tuning history".
 */
export function winogradTile(
  p: {
    kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; N: number; OH: number; OW: number;
    same: boolean; Cin: number; Cout: number; forward: boolean;
  },
  force?: boolean, tile?: WinogradTile,
): 0 | WinogradTile {
  if (force === false) return 0;
  if (!(p.kh === 3 && p.kw === 3 && p.sh === 1 && p.sw === 1 && p.ph === 1 && p.pw === 1 && p.same)) return 0;
  const cost = (m: 0 | WinogradTile) => passCost(m, p.N, p.OH, p.OW);
  // The cheapest allowed tile; ties go to the smaller (more accurate) one.
  const allowed: WinogradTile[] = p.forward ? [2, 3] : [2, 3, 4];
  const best: WinogradTile = tile ?? allowed.reduce((a, m) => (cost(m) < cost(a) ? m : a));
  if (force) return best;
  return p.Cin >= 16 && p.Cout >= 16 && cost(best) <= 0.8 * cost(0) ? best : 0;
}

/** The tile for an implicit-GEMM pass (forward or backward-input), or 0. */
export function useWinograd(pr: IgemmProblem, force?: boolean, tile?: WinogradTile): 0 | WinogradTile {
  if (pr.wino) return 0;
  return winogradTile({
    kh: pr.KH, kw: pr.KW, sh: pr.SH, sw: pr.SW, ph: pr.PH, pw: pr.PW, N: pr.N, OH: pr.OH, OW: pr.OW,
    same: pr.IH === pr.OH && pr.IW === pr.OW, Cin: pr.Cred, Cout: pr.Cols, forward: !pr.bwd && !pr.inference,
  }, force, tile);
}

/** The tile for a convolution's weight gradient, or 0. */
export function useWinogradWgrad(p: Conv2dParams, force?: boolean, tile?: WinogradTile): 0 | WinogradTile {
  const { OH, OW } = conv2dOutSize(p);
  return winogradTile({
    kh: p.kh, kw: p.kw, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW, N: p.N, OH, OW,
    same: OH === p.H && OW === p.W, Cin: p.C, Cout: p.K, forward: false,
  }, force, tile);
}

/** Rows of the GEMM one thread (reg) or workgroup (tiled) owns: the tile padding unit. */
const rowBlock = (c: IgemmConfig) => (c.variant === 'reg' ? c.tm : c.wgx * c.tm);

/**
 * Images per chunk: as many as fit one binding for the activations (batchChunk) and for the
 * transformed tiles (`transformed(n)` bytes), at offsets aligned for every activation.
 */
function winogradChunk(
  gpu: Gpu, op: string, N: number, acts: Record<string, { t: Tensor; perImage: number }>, transformed: (n: number) => number,
): number {
  const limit = scratchLimit(gpu);
  let n = batchChunk(gpu, op, N, acts);
  while (n > 1 && transformed(n) > limit) n--;
  if (transformed(n) > limit) {
    throw new GpuError(`one image's Winograd transform (${transformed(1)} bytes) exceeds the binding limit ${limit}`, op);
  }
  if (n >= N) return N;
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const per = Object.values(acts).map((a) => a.perImage);
  for (let k = n; k >= 1; k--) if (per.every((b) => (k * b) % align === 0)) return k;
  throw new GpuError(`no chunk of images keeps Winograd offsets aligned to ${align} (per-image bytes ${per.join(', ')})`, op);
}

/** Shared scratch `name` of `floats` elements, held by the plan being built (let go with it, or on failure). */
function held(gpu: Gpu, scope: PlanScope, name: string, floats: number): Tensor {
  const h = holdScratch(gpu, name, floats);
  scope.hold(h.release);
  return h.tensor;
}

/** Plans a forward or backward-input pass as F(m×m, 3×3) with GEMM config `c`. */
export async function planWinogradWith(
  gpu: Gpu, op: string, pr: IgemmProblem, m: WinogradTile, c: IgemmConfig, label: string,
): Promise<Dispatch[]> {
  const ks = kernels(m);
  const P = (m + 2) ** 2;
  const TH = ceilDiv(pr.OH, m);
  const TW = ceilDiv(pr.OW, m);
  const unit = rowBlock(c);
  const tpad = (n: number) => Math.ceil((n * TH * TW) / unit) * unit;
  const nChunk = winogradChunk(gpu, op, pr.N, {
    [pr.bwd ? 'dy' : 'x']: { t: pr.inp, perImage: pr.Cred * pr.IH * pr.IW * 4 },
    [pr.bwd ? 'dx' : 'y']: { t: pr.out, perImage: pr.Cols * pr.OH * pr.OW * 4 },
  }, (n) => P * Math.max(pr.Cred, pr.Cols) * tpad(n) * 4);

  return planSteps(gpu, async (scope) => {
    const { out } = scope;
    const v0 = held(gpu, scope, 'winograd.v', P * pr.Cred * tpad(nChunk));
    const m0 = held(gpu, scope, 'winograd.m', P * pr.Cols * tpad(nChunk));
    for (let n0 = 0; n0 < pr.N; n0 += nChunk) {
      const k = Math.min(nChunk, pr.N - n0);
      const whole = nChunk === pr.N;
      const T = k * TH * TW;
      const Tpad = tpad(k);
      const v = v0.view([P, pr.Cred, 1, Tpad]);
      const mm = m0.view([P, pr.Cols, 1, Tpad]);
      const d = await makeDispatch(gpu, ks.input, {
        bindings: { x: whole ? pr.inp : images(pr.inp, n0, k), v },
        uniforms: { C: pr.Cred, H: pr.IH, W: pr.IW, TH, TW, T, Tpad, n: pr.Cred * Tpad },
        workgroups: grid1d(gpu, pr.Cred * Tpad, 64),
        label,
      });
      out.push(relabel(d, `${op}.winograd_input(${label})`));
      out.push(...(await planIgemmWith(gpu, op, {
        bwd: false, inp: v, w: pr.w, bias: null, out: mm,
        N: P, Cred: pr.Cred, IH: 1, IW: Tpad, Cols: pr.Cols, OH: 1, OW: Tpad,
        SH: 1, SW: 1, PH: 0, PW: 0, KH: 1, KW: 1,
        wsc: pr.wsc, wsr: pr.wsr, accumulate: false, wino: { flip: pr.bwd, positions: P, weights: ks.weights },
      }, c, label)));
      const o = await makeDispatch(gpu, ks.output, {
        bindings: { m: mm, bias: pr.bias ?? dummy(gpu), out: whole ? pr.out : images(pr.out, n0, k) },
        uniforms: {
          Cols: pr.Cols, OH: pr.OH, OW: pr.OW, TH, TW, T, Tpad, n: pr.Cols * T,
          hasBias: pr.bias ? 1 : 0, accumulate: pr.accumulate ? 1 : 0,
        },
        workgroups: grid1d(gpu, pr.Cols * T, 64),
        label,
      });
      out.push(relabel(o, `${op}.winograd_output(${label})`));
    }
  });
}

/** Chooses the GEMM's config (autotune, timing the whole Winograd pipeline) and plans the pass. */
export async function planWinograd(gpu: Gpu, op: string, pr: IgemmProblem, m: WinogradTile, label: string): Promise<Dispatch[]> {
  const shapeKey = [`winograd${m}`, pr.bwd ? 'bwd' : 'fwd', pr.N, pr.Cred, pr.IH, pr.IW, pr.Cols].join(',');
  const chosen = await choose(gpu, 'conv2d.igemm', shapeKey, IGEMM_CANDIDATES, igemmDefault(pr.Cols), async (c) => {
    const s = scratchLike(gpu, { inp: pr.inp, w: pr.w, out: pr.out, bias: pr.bias });
    const dispatches = await planWinogradWith(gpu, op, { ...pr, ...s, accumulate: false }, m, c, 'autotune');
    return { dispatches, release: () => Object.values(s).forEach((t: Tensor | null) => t?.dispose()) };
  });
  return planWinogradWith(gpu, op, pr, m, chosen.config, label);
}

// ---------------------------------------------------------------------------------------------
// Weight gradient.

/** dw (K, C, 3, 3) += Σ dy·im2col(x) in the F(m×m, 3×3) domain, with weight-gradient config `cfg`. */
export async function planWinogradWgradWith(
  gpu: Gpu, op: string, dw: Tensor, dy: Tensor, x: Tensor, p: Conv2dParams, m: WinogradTile, cfg: WgradConfig, label: string,
): Promise<Dispatch[]> {
  const ks = kernels(m);
  const P = (m + 2) ** 2;
  const { OH, OW } = conv2dOutSize(p);
  const TH = ceilDiv(OH, m);
  const TW = ceilDiv(OW, m);
  const nChunk = winogradChunk(gpu, op, p.N, {
    dy: { t: dy, perImage: p.K * OH * OW * 4 },
    x: { t: x, perImage: p.C * p.H * p.W * 4 },
  }, (n) => P * Math.max(p.C, p.K) * n * TH * TW * 4);
  const limit = scratchLimit(gpu);

  const KC = p.K * p.C;
  const size = P * KC;
  const threads = ceilDiv(p.C, cfg.tc) * ceilDiv(p.K, cfg.tk);
  const splitsFor = (rows: number) => {
    let splits = gpu.policy.conv.wgradSplits ?? Math.ceil(cfg.target / (threads * P));
    splits = Math.max(1, Math.min(splits, rows, Math.floor(limit / (size * 4))));
    splits = Math.max(splits, softwareRowSplits(gpu, op, rows, TW, Math.floor(limit / (size * 4))));
    const rowsPer = ceilDiv(rows, splits);
    return { splits: ceilDiv(rows, rowsPer), rowsPer };
  };
  return planSteps(gpu, async (scope) => {
    const { out } = scope;
    const du = held(gpu, scope, 'winograd.du', size);
    const v0 = held(gpu, scope, 'winograd.v', P * p.C * nChunk * TH * TW);
    const dm0 = held(gpu, scope, 'winograd.m', P * p.K * nChunk * TH * TW);
    const maxSplits = splitsFor(nChunk * TH).splits;
    const part0 = maxSplits > 1 ? held(gpu, scope, 'winograd.partials', maxSplits * size) : null;
    for (let n0 = 0; n0 < p.N; n0 += nChunk) {
      const k = Math.min(nChunk, p.N - n0);
      const whole = nChunk === p.N;
      const T = k * TH * TW;
      const rows = k * TH;
      const { splits, rowsPer } = splitsFor(rows);
      const v = v0.view([P * p.C * T]);
      const dm = dm0.view([P * p.K * T]);
      const part = splits > 1 ? part0!.view([splits * size]) : null;
      const d1 = await makeDispatch(gpu, ks.input, {
        bindings: { x: whole ? x : images(x, n0, k), v },
        uniforms: { C: p.C, H: p.H, W: p.W, TH, TW, T, Tpad: T, n: p.C * T },
        workgroups: grid1d(gpu, p.C * T, 64),
        label,
      });
      out.push(relabel(d1, `${op}.winograd_input(${label})`));
      const d2 = await makeDispatch(gpu, ks.dy, {
        bindings: { dy: whole ? dy : images(dy, n0, k), dm },
        uniforms: { K: p.K, OH, OW, TH, TW, T, n: p.K * T },
        workgroups: grid1d(gpu, p.K * T, 64),
        label,
      });
      out.push(relabel(d2, `${op}.winograd_dy(${label})`));
      // The weight-gradient kernel over P positions: each a 1×1 "convolution" of the (rows, TW)
      // tile grid, dy := ∂L/∂(U ⊙ V)(p), x := V(p), out := ∂L/∂U(p) (overwritten).
      const d3 = await makeDispatch(gpu, wgradKernel(cfg), {
        bindings: { dy: dm, x: v, out: part ?? du },
        uniforms: {
          N: 1, C: p.C, H: rows, W: TW, K: p.K, OH: rows, OW: TW,
          SH: 1, SW: 1, PH: 0, PW: 0, KH: 1, KW: 1,
          cBlocks: ceilDiv(p.C, cfg.tc), kBlocks: ceilDiv(p.K, cfg.tk), threads,
          rowsPer, splits, accumulate: 0,
          batches: P, xBatch: p.C * T, dyBatch: p.K * T,
        },
        workgroups: grid1d(gpu, threads * splits * P, 64),
        label,
      });
      out.push(relabel(d3, `${op}(${label})`));
      if (part) {
        const r = await makeDispatch(gpu, reduceKernel, {
          bindings: { part, dw: du },
          uniforms: { size, splits, overwrite: 1 },
          workgroups: grid1d(gpu, size, 256),
          label,
        });
        out.push(relabel(r, `${op}.reduce(${label})`));
      }
      const d4 = await makeDispatch(gpu, ks.wgrad, {
        bindings: { du, dw },
        uniforms: { KC },
        workgroups: grid1d(gpu, KC, 64),
        label,
      });
      out.push(relabel(d4, `${op}.winograd_wgrad(${label})`));
    }
  });
}

/** Chooses the weight-gradient config (autotune over the whole pipeline) and plans dw in the Winograd domain. */
export async function planWinogradWgrad(
  gpu: Gpu, op: string, dw: Tensor, dy: Tensor, x: Tensor, p: Conv2dParams, m: WinogradTile, label: string,
): Promise<Dispatch[]> {
  const shapeKey = [`winograd${m}`, ...Object.values(p)].join(',');
  const chosen = await choose(gpu, 'conv2d.wgrad', shapeKey, WGRAD_CANDIDATES, wgradDefault(p), async (t) => {
    const s = scratchLike(gpu, { dw, dy, x });
    const dispatches = await planWinogradWgradWith(gpu, op, s.dw, s.dy, s.x, p, m, t, 'autotune');
    return { dispatches, release: () => Object.values(s).forEach((t) => t.dispose()) };
  });
  return planWinogradWgradWith(gpu, op, dw, dy, x, p, m, chosen.config, label);
}
