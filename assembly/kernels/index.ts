// Compute kernels of the WebAssembly backend, one module instantiated by every thread of the pool
// on one shared memory. Nothing here allocates (runtime `stub`): the host plans every buffer as a
// byte offset in that memory above `heapBase()` and passes offsets through the control block
// (args.ts). `run` is the single entry: the op ids below are mirrored in src/backends/wasm/ops.ts.
import { addBias, biasGrad, col2im, im2col, im2colPack, im2colPackT } from './conv';
import { fill, gemm, packA, packB, reduceParts } from './gemm';
import {
  add, argmax, batchNormBackward, crossEntropy, normalizeRgba, scale, batchNormEval, batchNormTrain, confusion, maxPoolBackward, maxPoolForward, reluBackward, reluForward, sgd,
} from './ops';
import { cropColumns, tconvGather, tconvInputWeights, tconvPhaseWeights, tconvScatter } from './tconv';
import { tconvChannelsForward, tconvChannelsInput, tconvChannelsWeight, tconvDirectForward, tconvDirectInput, tconvDirectReduce, tconvDirectWeight, tconvPad } from './tconv-direct';
import { winogradInput, winogradOutput, winogradWeights } from './winograd';

export const OP_GEMM = 0;
export const OP_PACK_A = 1;
export const OP_PACK_B = 2;
export const OP_FILL = 3;
export const OP_IM2COL = 4;
export const OP_COL2IM = 5;
export const OP_BIAS_GRAD = 6;
export const OP_ADD_BIAS = 7;
export const OP_RELU_FORWARD = 8;
export const OP_RELU_BACKWARD = 9;
export const OP_ADD = 10;
export const OP_MAX_POOL_FORWARD = 11;
export const OP_MAX_POOL_BACKWARD = 12;
export const OP_BATCH_NORM_TRAIN = 13;
export const OP_BATCH_NORM_EVAL = 14;
export const OP_BATCH_NORM_BACKWARD = 15;
export const OP_ARGMAX = 16;
export const OP_CONFUSION = 17;
export const OP_SGD = 18;
export const OP_CROSS_ENTROPY = 19;
export const OP_SCALE = 20;
export const OP_NORMALIZE_RGBA = 21;
export const OP_WINOGRAD_WEIGHTS = 22;
export const OP_WINOGRAD_INPUT = 23;
export const OP_WINOGRAD_OUTPUT = 24;
export const OP_REDUCE_PARTS = 25;
export const OP_TCONV_PHASE_WEIGHTS = 26;
export const OP_TCONV_SCATTER = 27;
export const OP_TCONV_GATHER = 28;
export const OP_TCONV_INPUT_WEIGHTS = 29;
export const OP_CROP_COLUMNS = 30;
export const OP_IM2COL_PACK = 31;
export const OP_IM2COL_PACK_T = 32;
export const OP_TCONV_PAD = 33;
export const OP_TCONV_DIRECT_FORWARD = 34;
export const OP_TCONV_DIRECT_INPUT = 35;
export const OP_TCONV_DIRECT_REDUCE = 36;
export const OP_TCONV_DIRECT_WEIGHT = 37;
export const OP_TCONV_CHANNELS_FORWARD = 38;
export const OP_TCONV_CHANNELS_INPUT = 39;
export const OP_TCONV_CHANNELS_WEIGHT = 40;

/** First byte the host may use (past this module's static data), 64-byte aligned. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

/** 1 when this build multiplies-adds with relaxed SIMD, else 0. */
export function relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** Runs thread `tid` of `nt`'s share of op `op` with the arguments in the control block at `ctl`. */
export function run(op: i32, ctl: usize, tid: i32, nt: i32): void {
  switch (op) {
    case OP_GEMM: gemm(ctl); break;
    case OP_PACK_A: packA(ctl); break;
    case OP_PACK_B: packB(ctl); break;
    case OP_FILL: fill(ctl); break;
    case OP_IM2COL: im2col(ctl); break;
    case OP_COL2IM: col2im(ctl); break;
    case OP_BIAS_GRAD: biasGrad(ctl); break;
    case OP_ADD_BIAS: addBias(ctl); break;
    case OP_RELU_FORWARD: reluForward(ctl); break;
    case OP_RELU_BACKWARD: reluBackward(ctl); break;
    case OP_ADD: add(ctl); break;
    case OP_MAX_POOL_FORWARD: maxPoolForward(ctl); break;
    case OP_MAX_POOL_BACKWARD: maxPoolBackward(ctl); break;
    case OP_BATCH_NORM_TRAIN: batchNormTrain(ctl); break;
    case OP_BATCH_NORM_EVAL: batchNormEval(ctl); break;
    case OP_BATCH_NORM_BACKWARD: batchNormBackward(ctl); break;
    case OP_ARGMAX: argmax(ctl); break;
    case OP_CONFUSION: confusion(ctl); break;
    case OP_SGD: sgd(ctl); break;
    case OP_CROSS_ENTROPY: crossEntropy(ctl); break;
    case OP_SCALE: scale(ctl); break;
    case OP_NORMALIZE_RGBA: normalizeRgba(ctl); break;
    case OP_WINOGRAD_WEIGHTS: winogradWeights(ctl); break;
    case OP_WINOGRAD_INPUT: winogradInput(ctl); break;
    case OP_WINOGRAD_OUTPUT: winogradOutput(ctl); break;
    case OP_REDUCE_PARTS: reduceParts(ctl); break;
    case OP_TCONV_PHASE_WEIGHTS: tconvPhaseWeights(ctl); break;
    case OP_TCONV_SCATTER: tconvScatter(ctl); break;
    case OP_TCONV_GATHER: tconvGather(ctl); break;
    case OP_TCONV_INPUT_WEIGHTS: tconvInputWeights(ctl); break;
    case OP_CROP_COLUMNS: cropColumns(ctl); break;
    case OP_IM2COL_PACK: im2colPack(ctl); break;
    case OP_IM2COL_PACK_T: im2colPackT(ctl); break;
    case OP_TCONV_PAD: tconvPad(ctl); break;
    case OP_TCONV_DIRECT_FORWARD: tconvDirectForward(ctl); break;
    case OP_TCONV_DIRECT_INPUT: tconvDirectInput(ctl); break;
    case OP_TCONV_DIRECT_REDUCE: tconvDirectReduce(ctl); break;
    case OP_TCONV_DIRECT_WEIGHT: tconvDirectWeight(ctl); break;
    case OP_TCONV_CHANNELS_FORWARD: tconvChannelsForward(ctl); break;
    case OP_TCONV_CHANNELS_INPUT: tconvChannelsInput(ctl); break;
    case OP_TCONV_CHANNELS_WEIGHT: tconvChannelsWeight(ctl); break;
    default: unreachable();
  }
}
