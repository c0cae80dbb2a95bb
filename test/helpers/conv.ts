// Shared by the convolution tests (conv2d, conv_transpose2d, winograd): tolerance checks that
// report the largest error, and the reset of every test override of the convolution planner.
import { expect } from 'vitest';
import { configureAutotune } from '../../src/gpu/autotune.js';
import { convOptions } from '../../src/gpu/ops/conv2d.js';
import { compare } from './gpu.js';

/** Expects |got − want| ≤ atol + rtol·|want| everywhere (naming the first bad index); returns the max |error|. */
export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: { atol: number; rtol: number }): number {
  const c = compare(got, want, tol.atol, tol.rtol);
  expect(c.ok, `${what}: max |err| ${c.maxAbs}, first bad index ${c.worst}: got ${c.got}, want ${c.want}`).toBe(true);
  return c.maxAbs;
}

/** Undoes what a test forced: autotune choices, binding limits, split counts, Winograd tiles. */
export function resetConvOverrides(): void {
  configureAutotune({ force: null });
  for (const k of ['maxBindingBytes', 'wgradSplits', 'igemmSplits', 'igemmChSplits', 'winograd', 'winogradTile'] as const) delete convOptions[k];
}
