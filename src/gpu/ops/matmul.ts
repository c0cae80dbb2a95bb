// Plain matmul C (M,N) = A (M,K) · B (K,N), row-major f32: the speed baseline that
// `bench:kernels` compares the convolution kernels against (same adapter, equal FLOPs).
// Variants, as for the convolutions: register-blocked without workgroup memory ('reg' 4×4, needs
// M, N, K multiples of 4; 'reg8' 8×8, M and N multiples of 8), and workgroup-memory tiled +
// register-blocked ('tiled').
import regWgsl from '../../../shaders/matmul/reg.wgsl';
import tiledWgsl from '../../../shaders/matmul/tiled.wgsl';
import reg8Wgsl from '../../../shaders/matmul/reg8.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { ceilDiv, grid1d, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { expandEach } from './conv2d.js';

export type MatmulVariant = 'reg' | 'reg8' | 'tiled';

const kernels: Record<MatmulVariant, KernelDef> = {
  reg: { name: 'matmul.reg', code: regWgsl },
  reg8: { name: 'matmul.reg8', code: expandEach(reg8Wgsl, {}) },
  tiled: { name: 'matmul.tiled', code: tiledWgsl },
};

/** Plans c (M,N) = a (M,K) · b (K,N); overwrites c. */
export async function matmul(gpu: Gpu, c: Tensor, a: Tensor, b: Tensor, variant: MatmulVariant = 'reg', label?: string): Promise<Dispatch> {
  const op = `matmul.${variant}`;
  const [M, K] = a.shape as [number, number];
  const [K2, N] = b.shape as [number, number];
  if (a.shape.length !== 2 || b.shape.length !== 2 || K2 !== K || c.shape.length !== 2 || c.shape[0] !== M || c.shape[1] !== N) {
    throw new GpuError(`shapes a [${a.shape}] · b [${b.shape}] -> c [${c.shape}] do not chain`, op);
  }
  if (variant === 'reg' && (M % 4 || N % 4 || K % 4)) throw new GpuError(`M ${M}, N ${N}, K ${K} must be multiples of 4`, op);
  if (variant === 'reg8' && (M % 8 || N % 8 || K % 4)) throw new GpuError(`M ${M}, N ${N} must be multiples of 8 and K ${K} of 4`, op);
  if (variant === 'reg8') {
    return makeDispatch(gpu, kernels.reg8, {
      bindings: { a, b, c },
      uniforms: { M, N, K, nBlocks: N / 8 },
      workgroups: grid1d(gpu, (M / 8) * (N / 8), 64),
      label,
    });
  }
  if (variant === 'reg') {
    return makeDispatch(gpu, kernels.reg, {
      bindings: { a, b, c },
      uniforms: { M, N, K, nBlocks: N / 4 },
      workgroups: grid1d(gpu, (M / 4) * (N / 4), 64),
      label,
    });
  }
  const nTiles = ceilDiv(N, 64);
  const groups = ceilDiv(M, 64) * nTiles;
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const gy = ceilDiv(groups, maxDim);
  return makeDispatch(gpu, kernels.tiled, {
    bindings: { a, b, c },
    uniforms: { M, N, K, nBlocks: nTiles },
    workgroups: [ceilDiv(groups, gy), gy, 1],
    label,
  });
}
