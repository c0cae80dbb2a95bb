// Prediction input normalisation: the WebAssembly path (ImageNet statistics) equals the
// plain-TypeScript definition; other statistics take the TypeScript path.
import { expect, it } from 'vitest';
import { Preprocessor } from '../../src/data/preprocess.js';
import { normalizeImage } from '../../src/fcn/image.js';

it('normalizes RGB and RGBA images in wasm exactly as (p/255 - mean) / std', async () => {
  const pre = await Preprocessor.create();
  for (const channels of [3, 4]) {
    const [H, W] = [7, 13];
    const px = Uint8Array.from({ length: H * W * channels }, (_, i) => (i * 97 + 13) & 255);
    const wasm = normalizeImage(px, H, W, channels, undefined, pre);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < H * W; i++) {
        const want = (px[i * channels + c]! / 255 - mean[c]!) / std[c]!;
        // f32 arithmetic in another order than this float64 definition: a few ulps of ~2.
        expect(Math.abs(wasm[c * H * W + i]! - want)).toBeLessThan(2e-6);
      }
    }
    // A checkpoint with its own statistics goes through the TypeScript path.
    const own = normalizeImage(px, H, W, channels, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, pre);
    expect(own[0]).toBeCloseTo((px[0]! / 255 - 0.5) / 0.25, 6);
  }
});
