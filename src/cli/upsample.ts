// `webfcn upsample`: the chapter's demo: a transposed convolution initialised with
// bilinear_kernel(3, 3, 2s) (stride s, padding s/2) enlarges an image s times on the GPU.
import { readFileSync } from 'node:fs';
import { decodeImage, encodePngRgb } from '../data/codec.js';
import { acquireGpu } from '../gpu/device.js';
import { submit, disposeDispatch } from '../gpu/kernel.js';
import { Tensor } from '../gpu/tensor.js';
import { convTranspose2dForward } from '../gpu/ops/conv_transpose2d.js';
import { writeFileAtomic } from '../io/atomic.js';
import { bilinearKernel } from '../fcn/init.js';
import { parseIntFlag, UsageError } from './args.js';

export const upsampleHelp = `webfcn upsample --input IMG --out IMG.png [--scale 2]

The chapter's bilinear upsampling by a transposed convolution, run on the GPU. Kernel 2s, stride s,
padding s/2, weights bilinear_kernel: the output is s times the input's height and width.

  --input IMG   a JPEG or PNG image
  --out IMG     the enlarged image (PNG)
  --scale S     an even factor, 2..32 (default 2)`;

export const upsampleOptions = { input: { type: 'string' }, out: { type: 'string' }, scale: { type: 'string' } } as const;

/** Upsamples (3, H, W) floats by `scale` on the GPU; returns (3, sH, sW). */
export async function bilinearUpsample(gpu: Awaited<ReturnType<typeof acquireGpu>>, x: Float32Array, H: number, W: number, scale: number): Promise<Float32Array> {
  const k = 2 * scale;
  const p = { N: 1, Cin: 3, H, W, Cout: 3, kh: k, kw: k, strideH: scale, strideW: scale, padH: scale / 2, padW: scale / 2 };
  const xt = Tensor.from(gpu, x, [1, 3, H, W], 'upsample.input');
  const wt = Tensor.from(gpu, bilinearKernel(3, 3, k), [3, 3, k, k], 'upsample.weight');
  const yt = Tensor.zeros(gpu, [1, 3, H * scale, W * scale], 'upsample.output');
  const ds = await convTranspose2dForward(gpu, yt, xt, wt, null, p, 'upsample');
  try {
    submit(gpu, ds, 'upsample');
    return await yt.read();
  } finally {
    for (const d of ds) disposeDispatch(gpu, d);
    for (const t of [xt, wt, yt]) t.dispose();
  }
}

export async function upsample(v: Record<string, string | boolean | undefined>): Promise<void> {
  if (!v.input || !v.out) throw new UsageError('--input IMG and --out IMG.png are required');
  const scale = parseIntFlag('scale', (v.scale as string) ?? '2', 2, 32);
  if (scale % 2) throw new UsageError(`--scale must be even (padding s/2 must be whole); got ${scale}`);
  const file = v.input as string;
  const img = decodeImage(readFileSync(file), file);
  const { height: H, width: W, channels: C } = img;
  const x = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) x[c * H * W + i] = img.data[i * C + c]! / 255;
  const gpu = await acquireGpu();
  try {
    const t0 = performance.now();
    const y = await bilinearUpsample(gpu, x, H, W, scale);
    const [OH, OW] = [H * scale, W * scale];
    const rgb = new Uint8Array(OH * OW * 3);
    for (let c = 0; c < 3; c++) for (let i = 0; i < OH * OW; i++) rgb[i * 3 + c] = Math.max(0, Math.min(255, Math.round(y[c * OH * OW + i]! * 255)));
    await writeFileAtomic(v.out as string, encodePngRgb(rgb, OH, OW));
    console.log(`input image shape: ${H}x${W}, output image shape: ${OH}x${OW} (${(performance.now() - t0).toFixed(0)} ms on ${gpu.report.backend}) -> ${v.out}`);
  } finally {
    gpu.dispose();
  }
}
