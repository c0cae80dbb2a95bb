// Softmax over channels (confidence masks) against a float64 reference on random logits, with a
// padded plan cropped to the image as segment() uses it.
import { afterAll, describe, expect, it } from 'vitest';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { softmaxChannels } from '../../src/gpu/ops/softmax.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { compare, randn, releaseGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

/** float64 softmax over k of logits (N, K, TH, TW), cropped to H × W: (N, K, H, W). */
function softmaxRef(l: Float32Array, N: number, K: number, TH: number, TW: number, H: number, W: number): Float64Array {
  const out = new Float64Array(N * K * H * W);
  for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const at = (k: number) => l[((n * K + k) * TH + y) * TW + x]!;
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, at(k));
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(at(k) - m);
    for (let k = 0; k < K; k++) out[((n * K + k) * H + y) * W + x] = Math.exp(at(k) - m) / s;
  }
  return out;
}

describe('softmax over channels on the GPU', () => {
  const cases = [
    { N: 1, K: 1, TH: 4, TW: 4, H: 4, W: 4, scale: 5 },
    { N: 2, K: 3, TH: 8, TW: 16, H: 5, W: 13, scale: 8 },
    { N: 1, K: 21, TH: 32, TW: 32, H: 31, W: 29, scale: 30 },
  ];
  for (const c of cases) {
    it(`matches float64 (${c.N}x${c.K}x${c.TH}x${c.TW} cropped to ${c.H}x${c.W}, logits in ±${c.scale})`, async () => {
      await withGpu(async (gpu) => {
        const data = randn(c.N * c.K * c.TH * c.TW, 7 + c.K, -c.scale, c.scale);
        const logits = Tensor.from(gpu, data, [c.N, c.K, c.TH, c.TW], 'logits');
        const probs = Tensor.zeros(gpu, [c.N, c.K, c.H, c.W], 'probs');
        const d = await softmaxChannels(gpu, probs, logits, c.H, c.W);
        try {
          submit(gpu, [d]);
          const got = await probs.read();
          const want = softmaxRef(data, c.N, c.K, c.TH, c.TW, c.H, c.W);
          // Probabilities in [0, 1]: WGSL's exp is within 3 + 2·|x| ULP (|x| ≤ 2·scale here) and the
          // sum of ≤ 21 terms adds a few ULP more, so 2e-6 absolute / 1e-4 relative bounds f32 error.
          const r = compare(got, want, 2e-6, 1e-4);
          expect(r.ok, `max |diff| ${r.maxAbs}`).toBe(true);
          for (let p = 0; p < c.N * c.H * c.W; p++) {
            const n = Math.floor(p / (c.H * c.W));
            let s = 0;
            for (let k = 0; k < c.K; k++) s += got[(n * c.K + k) * c.H * c.W + (p % (c.H * c.W))]!;
            expect(Math.abs(s - 1)).toBeLessThan(1e-5);
          }
        } finally {
          disposeDispatch(gpu, d);
          logits.dispose();
          probs.dispose();
        }
      });
    });
  }

  it('does not overflow for large logits, and rejects mismatched shapes before any GPU work', async () => {
    await withGpu(async (gpu) => {
      const logits = Tensor.from(gpu, new Float32Array([1000, 0.5, 999, -0.5]), [1, 2, 1, 2], 'logits');
      const probs = Tensor.zeros(gpu, [1, 2, 1, 2], 'probs');
      const d = await softmaxChannels(gpu, probs, logits, 1, 2);
      submit(gpu, [d]);
      const got = Array.from(await probs.read());
      const e = 1 / (1 + Math.exp(-1));
      expect(compare(got, [e, e, 1 - e, 1 - e], 1e-6, 1e-5).ok).toBe(true);
      disposeDispatch(gpu, d);
      await expect(softmaxChannels(gpu, probs, logits, 2, 2)).rejects.toThrow(/softmax\.channels: logits must be f32 \(N, K ≤ 256, TH ≥ 2/);
      const wrong = Tensor.zeros(gpu, [1, 2, 1, 1], 'wrong');
      await expect(softmaxChannels(gpu, wrong, logits, 1, 2)).rejects.toThrow(/probs must be f32 \[1, 2, 1, 2\], got f32 \[1, 2, 1, 1\]/);
      for (const t of [logits, probs, wrong]) t.dispose();
    });
  });
});
