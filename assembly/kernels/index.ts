// Compute kernels of the WebAssembly backend, one module instantiated by every thread of the pool
// on one shared memory. Nothing here allocates (runtime `stub`): the host plans every buffer as a
// byte offset in that memory above `heapBase()` and passes offsets through the control block
// (args.ts). `run` is the single entry: the op ids below are mirrored in src/backends/wasm/ops.ts.
import { addBias, biasGrad, col2im, im2col } from './conv';
import { fill, gemm, packA, packB } from './gemm';

export const OP_GEMM = 0;
export const OP_PACK_A = 1;
export const OP_PACK_B = 2;
export const OP_FILL = 3;
export const OP_IM2COL = 4;
export const OP_COL2IM = 5;
export const OP_BIAS_GRAD = 6;
export const OP_ADD_BIAS = 7;

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
    default: unreachable();
  }
}
