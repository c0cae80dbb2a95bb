// The GPU-side frame pipeline (predictFrames): RGBA u8 frames normalised on the GPU exactly as the
// WebAssembly normaliser does, the network, and argmax into packed u8 class ids; and the wasm
// backend's (normalise, network and argmax into u8 ids in wasm) against the host's argmax of its logits.
import { afterAll, describe, expect, it } from 'vitest';
import { Preprocessor } from '../../src/data/preprocess.js';
import { normalizeImage } from '../../src/fcn/image.js';
import { FcnModel, initialState } from '../../src/fcn/model.js';
import { argmaxClasses, predictClasses, predictFrames, predictLogits } from '../../src/fcn/predict.js';
import { WasmFcnModel } from '../../src/fcn/wasm/model.js';
import { disposeDispatch, submit } from '../../src/gpu/kernel.js';
import { argmaxPacked, normalizeRgba } from '../../src/gpu/ops/image.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { IMAGENET } from '../../src/io/normalisation.js';
import { randn, releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';
import { testRuntime } from '../helpers/wasm.js';

afterAll(releaseGpu);

const frameBytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 97 + seed * 31 + ((i * i) >> 3)) & 255);

describe('frame kernels', () => {
  it('normalises packed RGBA like the WebAssembly normaliser, zero in the padding', async () => {
    const pre = await Preprocessor.create();
    await withGpu(async (gpu) => {
      const [N, H, W, TH, TW] = [2, 5, 7, 8, 9];
      const px = frameBytes(N * H * W * 4, 1);
      const rgba = Tensor.from(gpu, new Uint32Array(px.buffer), [N, H, W], 'rgba');
      const out = Tensor.zeros(gpu, [N, 3, TH, TW], 'out');
      const d = await normalizeRgba(gpu, out, rgba, H, W, IMAGENET.mean, IMAGENET.std, 'test');
      submit(gpu, [d]);
      const got = await out.read();
      disposeDispatch(gpu, d);
      for (let n = 0; n < N; n++) {
        const want = normalizeImage(px.subarray(n * H * W * 4, (n + 1) * H * W * 4), H, W, 4, undefined, pre);
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < TH; y++) {
            for (let x = 0; x < TW; x++) {
              const g = got[((n * 3 + c) * TH + y) * TW + x]!;
              // One multiply and one add, each rounded to f32 as in wasm; a GPU compiler may fuse
              // them into one fma (one rounding fewer): at most 1 ulp of values below 2.7.
              if (y < H && x < W) expect(Math.abs(g - want[(c * H + y) * W + x]!), `${n},${c},${y},${x}`).toBeLessThanOrEqual(2.4e-7);
              else expect(g).toBe(0);
            }
          }
        }
      }
      rgba.dispose();
      out.dispose();
    });
  });

  it('packs argmax class ids four per word over the unpadded pixels, ties to the lowest class', async () => {
    await withGpu(async (gpu) => {
      const [N, K, H, W, TH, TW] = [3, 5, 3, 5, 4, 7]; // 45 pixels: the last word is partly used
      const lv = randn(N * K * TH * TW, 41);
      for (let i = 0; i < lv.length; i += 7) lv[i] = lv[i + TH * TW] ?? lv[i]!; // ties across classes
      const logits = Tensor.from(gpu, lv, [N, K, TH, TW], 'logits');
      const words = Math.ceil((N * H * W) / 4);
      const out = Tensor.zeros(gpu, [words], 'ids', 'u32');
      const d = await argmaxPacked(gpu, out, logits, H, W, 'test');
      submit(gpu, [d]);
      const got = new Uint8Array((await out.readU32()).buffer);
      disposeDispatch(gpu, d);
      for (let n = 0; n < N; n++) {
        const all = argmaxClasses(lv.subarray(n * K * TH * TW, (n + 1) * K * TH * TW), K, TH, TW);
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(got[(n * H + y) * W + x], `${n},${y},${x}`).toBe(all[y * TW + x]);
      }
      for (let i = N * H * W; i < words * 4; i++) expect(got[i]).toBe(0);
      const small = Tensor.zeros(gpu, [3], 'small', 'u32');
      await expect(argmaxPacked(gpu, small, logits, H, W)).rejects.toThrow(/12 words/);
      small.dispose();
      logits.dispose();
      out.dispose();
    });
  });
});

describe('predictFrames', () => {
  it('gives the class maps predictClasses gives for the same frames, in one batch', async () => {
    const gpu = await testGpu();
    const pre = await Preprocessor.create();
    const model = new FcnModel(gpu, { classes: 4, head: 'fcn32s' });
    model.initialise({ seed: 9 });
    const [N, H, W] = [2, 45, 70]; // one 64 x 96 plan, padded
    const frames = frameBytes(N * H * W * 4, 3);
    const got = await predictFrames(model, frames, N, H, W);
    expect(got.length).toBe(N * H * W);
    for (let n = 0; n < N; n++) {
      const one = frames.subarray(n * H * W * 4, (n + 1) * H * W * 4);
      const want = await predictClasses(model, normalizeImage(one, H, W, 4, undefined, pre), H, W);
      let differ = 0;
      for (let i = 0; i < H * W; i++) if (got[n * H * W + i] !== want[i]) differ++;
      expect(differ, `frame ${n}`).toBe(0);
    }
    expect(new Set(got).size).toBeGreaterThan(1);
    await expect(predictFrames(model, frames.subarray(4), N, H, W)).rejects.toThrow(/frames have 25196 bytes, expected 2x45x70x4/);
    await model.dispose();
  });
});

describe('predictFrames and predictClasses on the wasm backend', () => {
  it.each([1, 2])('give the host argmax of the network logits, u8 ids straight from wasm (%i thread(s))', async (threads) => {
    const pre = await Preprocessor.create();
    const model = new WasmFcnModel(await testRuntime(threads), { classes: 5, head: 'fcn32s' });
    try {
      model.loadState(initialState(model.config, { seed: 9 }));
      const [N, H, W] = [2, 45, 70]; // one 64 x 96 plan, padded; 2·45·70 ids fill whole words
      const frames = frameBytes(N * H * W * 4, 5);
      const got = await predictFrames(model, frames, N, H, W);
      expect(got.length).toBe(N * H * W);
      for (let n = 0; n < N; n++) {
        const image = normalizeImage(frames.subarray(n * H * W * 4, (n + 1) * H * W * 4), H, W, 4, undefined, pre);
        // The host argmax (argmaxClasses) of the logits: an independent twin of the kernel.
        const want = argmaxClasses(await predictLogits(model, image, H, W), model.config.classes, H, W);
        const classes = await predictClasses(model, image, H, W);
        let differFrames = 0, differClasses = 0;
        for (let i = 0; i < H * W; i++) {
          if (got[n * H * W + i] !== want[i]) differFrames++;
          if (classes[i] !== want[i]) differClasses++;
        }
        expect(differFrames, `predictFrames, frame ${n}`).toBe(0);
        expect(differClasses, `predictClasses, frame ${n}`).toBe(0);
      }
      expect(new Set(got).size).toBeGreaterThan(1);
      // An odd pixel count (the last word half used) on a fresh plan.
      const odd = await predictFrames(model, frames.subarray(0, 33 * 31 * 4), 1, 33, 31);
      const image = normalizeImage(frames.subarray(0, 33 * 31 * 4), 33, 31, 4, undefined, pre);
      expect(Array.from(odd)).toEqual(Array.from(argmaxClasses(await predictLogits(model, image, 33, 31), model.config.classes, 33, 31)));
    } finally {
      await model.dispose();
    }
  });
});
