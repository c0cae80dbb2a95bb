// The one tolerance check and the one finite-difference checker of the test suite.
import { expect } from 'vitest';
import { compare } from './gpu.js';

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Expects |got − want| ≤ atol + rtol·|want| everywhere (naming the first bad index); returns the max |error|. */
export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): number {
  const c = compare(got, want, tol.atol, tol.rtol);
  expect(c.ok, `${what}: max |err| ${c.maxAbs}, first bad index ${c.worst}: got ${c.got}, want ${c.want}`).toBe(true);
  return c.maxAbs;
}

/**
 * Central finite differences, in float64, of a scalar function of x: the gradient at every index
 * of `at` (default: all), in that order. x is perturbed in place and restored.
 */
export function finiteDiff(
  f: (x: Float64Array) => number, x: ArrayLike<number>, opts: { h?: number; at?: readonly number[] } = {},
): Float64Array {
  const h = opts.h ?? 1e-6;
  const xs = x instanceof Float64Array ? x : Float64Array.from(x);
  const at = opts.at ?? Array.from({ length: xs.length }, (_, i) => i);
  const g = new Float64Array(at.length);
  at.forEach((i, k) => {
    const v = xs[i]!;
    xs[i] = v + h;
    const up = f(xs);
    xs[i] = v - h;
    const down = f(xs);
    xs[i] = v;
    g[k] = (up - down) / (2 * h);
  });
  return g;
}
