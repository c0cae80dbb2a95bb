// float32 → binary16 rounding (f16 checkpoints): every half round-trips, and every midpoint between
// two neighbouring halves rounds to the one with an even mantissa (IEEE round-to-nearest-even, as
// numpy's astype(float16) and torch.half).
import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat } from '../../src/io/dtype.js';
import { f16Tensor, readSafetensors, toFloat32, writeSafetensors } from '../../src/io/safetensors.js';

describe('floatToHalf', () => {
  it('round-trips all 65,536 halves (NaN stays NaN)', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      const back = floatToHalf(x);
      if (Number.isNaN(x) ? !Number.isNaN(halfToFloat(back)) : back !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds midpoints to even, and just off a midpoint to the nearer half, in every binade', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const [a, b] = [halfToFloat(h), halfToFloat(h + 1)];
      const mid = (a + b) / 2; // exact in float32: halves have 11 significant bits
      expect(floatToHalf(mid)).toBe(h % 2 === 0 ? h : h + 1);
      expect(floatToHalf(-mid)).toBe((h % 2 === 0 ? h : h + 1) | 0x8000);
      const step = (b - a) / 8;
      expect(floatToHalf(mid - step)).toBe(h);
      expect(floatToHalf(mid + step)).toBe(h + 1);
    }
  });

  it('overflows to Infinity past the largest half and underflows to zero below half the smallest subnormal', () => {
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00); // the midpoint to 2^16 rounds to even: Infinity
    expect(floatToHalf(-1e6)).toBe(0xfc00);
    expect(floatToHalf(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even (0)
    expect(floatToHalf(2 ** -25 * 1.5)).toBe(1);
  });

  it('writes F16 safetensors that read back as the rounded values', () => {
    const v = new Float32Array([0.1, -2.5, 1e-7, 70000, 3.14159]);
    const file = readSafetensors(writeSafetensors({ w: f16Tensor(v, [5]) }), 'f16.safetensors');
    const t = file.tensors.get('w')!;
    expect(t.dtype).toBe('F16');
    expect(Array.from(toFloat32(t))).toEqual(Array.from(v, (x) => halfToFloat(floatToHalf(x))));
    expect(Math.abs(toFloat32(t)[0]! - 0.1)).toBeLessThan(0.1 * 2 ** -11);
  });
});
