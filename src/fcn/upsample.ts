// The chapter's bilinear upsampling demo: a transposed convolution with kernel 2s, stride s,
// padding s/2 and bilinear_kernel(3, 3, 2s) weights enlarges an image s times, on either backend.
// One function for the `webfcn upsample` command and the engine's upsample().
import { convTranspose2dForward as wasmConvTranspose2dForward, runSteps } from '../backends/wasm/conv2d.js';
import type { Gpu } from '../gpu/device.js';
import { disposeDispatch, submit } from '../gpu/kernel.js';
import { convTranspose2dForward } from '../gpu/ops/conv_transpose2d.js';
import { Tensor } from '../gpu/tensor.js';
import { bilinearKernel } from './init.js';
import type { Compute } from './compute.js';

/** 8-bit pixels (height, width, channels) row-major; channels 3 (RGB) or 4 (RGBA, alpha ignored). */
export interface Pixels {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** Throws (naming the option `scale`) unless s is an even integer in [2, 32]. */
export function checkUpsampleScale(s: number): number {
  if (!(Number.isInteger(s) && s >= 2 && s <= 32)) throw new RangeError(`scale must be an integer in [2, 32], got ${s}`);
  if (s % 2) throw new RangeError(`scale must be even (padding s/2 must be whole), got ${s}`);
  return s;
}

/** Upsamples (3, H, W) floats by `scale`; returns (3, sH, sW). */
async function bilinearUpsample(compute: Compute, x: Float32Array, H: number, W: number, scale: number): Promise<Float32Array> {
  checkUpsampleScale(scale);
  const k = 2 * scale;
  const p = { N: 1, Cin: 3, H, W, Cout: 3, kh: k, kw: k, strideH: scale, strideW: scale, padH: scale / 2, padW: scale / 2 };
  if (compute.backend === 'wasm') {
    const { rt } = compute;
    const mark = rt.arena.mark();
    try {
      const [xp, wp, yp] = rt.arena.plan([
        { label: 'upsample.input', bytes: x.length * 4 },
        { label: 'upsample.weight', bytes: 9 * k * k * 4 },
        { label: 'upsample.output', bytes: 3 * H * W * scale * scale * 4 },
      ]) as [number, number, number];
      rt.write(xp, x);
      rt.write(wp, bilinearKernel(3, 3, k));
      runSteps(wasmConvTranspose2dForward(rt, yp, xp, wp, 0, p, 'upsample'));
      return rt.read(yp, 3 * H * W * scale * scale);
    } finally {
      rt.arena.release(mark);
    }
  }
  return bilinearUpsampleGpu(compute.gpu, x, H, W, p);
}

async function bilinearUpsampleGpu(gpu: Gpu, x: Float32Array, H: number, W: number, p: { N: number; Cin: number; H: number; W: number; Cout: number; kh: number; kw: number; strideH: number; strideW: number; padH: number; padW: number }): Promise<Float32Array> {
  const k = p.kh, scale = p.strideH;
  const xt = Tensor.from(gpu, x, [1, 3, H, W], 'upsample.input'); // (1, 3, H, W)
  const wt = Tensor.from(gpu, bilinearKernel(3, 3, k), [3, 3, k, k], 'upsample.weight'); // (Cin, Cout, k, k)
  const yt = Tensor.zeros(gpu, [1, 3, H * scale, W * scale], 'upsample.output'); // (1, 3, sH, sW)
  let ds;
  try {
    ds = await convTranspose2dForward(gpu, yt, xt, wt, null, p, 'upsample');
  } catch (e) {
    for (const t of [xt, wt, yt]) t.dispose();
    throw e;
  }
  try {
    submit(gpu, ds, 'upsample');
    return await yt.read();
  } finally {
    for (const d of ds) disposeDispatch(gpu, d);
    for (const t of [xt, wt, yt]) t.dispose();
  }
}

/** An image enlarged `scale` times: RGBA (sH, sW, 4) u8, alpha 255. */
export async function upsampleImage(compute: Compute, image: Pixels, scale: number): Promise<{ data: Uint8Array; height: number; width: number }> {
  checkUpsampleScale(scale);
  const { height: H, width: W, channels: C, data: px } = image;
  const x = new Float32Array(3 * H * W); // (3, H, W) in [0, 1]
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) x[c * H * W + i] = px[i * C + c]! / 255;
  const y = await bilinearUpsample(compute, x, H, W, scale);
  const [OH, OW] = [H * scale, W * scale];
  const data = new Uint8Array(OH * OW * 4);
  for (let i = 0; i < OH * OW; i++) {
    for (let c = 0; c < 3; c++) data[4 * i + c] = Math.max(0, Math.min(255, Math.round(y[c * OH * OW + i]! * 255)));
    data[4 * i + 3] = 255;
  }
  return { data, height: OH, width: OW };
}
