// `webfcn upsample`: the chapter's demo: a transposed convolution initialised with
// bilinear_kernel(3, 3, 2s) (stride s, padding s/2) enlarges an image s times on the GPU.
import { readFileSync } from 'node:fs';
import { decodeImage, encodePngRgb } from '../data/codec.js';
import { computeLabel, openCompute } from './compute.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkUpsampleScale, upsampleImage } from '../fcn/upsample.js';
import { toRgb } from '../report/grid.js';
import { UsageError } from './args.js';

export const upsampleHelp = `webfcn upsample --input IMG --out IMG.png [--scale 2]

The chapter's bilinear upsampling by a transposed convolution, run on the GPU. Kernel 2s, stride s,
padding s/2, weights bilinear_kernel: the output is s times the input's height and width.

  --input IMG   a JPEG or PNG image
  --out IMG     the enlarged image (PNG)
  --scale S     an even factor, 2..32 (default 2)`;

export const upsampleOptions = { input: { type: 'string' }, out: { type: 'string' }, scale: { type: 'string' } } as const;

export async function upsample(v: Record<string, string | boolean | undefined>): Promise<void> {
  if (!v.input || !v.out) throw new UsageError('--input IMG and --out IMG.png are required');
  const raw = (v.scale as string | undefined) ?? '2';
  const scale = Number(raw);
  try {
    checkUpsampleScale(scale);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message.replace(/, got .*$/, '')}; got '${raw}'`);
  }
  const file = v.input as string;
  const img = decodeImage(readFileSync(file), file);
  const { height: H, width: W } = img;
  const compute = await openCompute(v);
  try {
    const t0 = performance.now();
    const { data, height: OH, width: OW } = await upsampleImage(compute, img, scale);
    await writeFileAtomic(v.out as string, encodePngRgb(toRgb(data, OH, OW, 4).data, OH, OW));
    console.log(`input image shape: ${H}x${W}, output image shape: ${OH}x${OW} (${(performance.now() - t0).toFixed(0)} ms on ${computeLabel(compute)}) -> ${v.out}`);
  } finally {
    compute.dispose();
  }
}
