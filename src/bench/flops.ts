// Analytic FLOP counts of FCN-ResNet18, the same for every implementation compared: 2·MACs of
// every convolution and transposed convolution (BatchNorm, ReLU, pooling, adds and the loss are
// left out: they are a few percent of the total and memory-bound). A training step is counted as
// 3x the forward pass (backward ≈ 2x forward: one input-gradient and one weight-gradient
// convolution per forward convolution).
import { conv2dOutSize } from '../gpu/ops/conv2d.js';
import { headSpec, resnet18Blocks, STEM, type ConvSpec, type FcnConfig } from '../fcn/spec.js';

export interface FlopCount {
  /** Forward FLOPs of one image at H x W. */
  forwardPerImage: number;
  /** Training FLOPs of one image (3x forward). */
  trainPerImage: number;
  /** Per layer: name and forward MACs of one image. */
  layers: Array<{ name: string; macs: number }>;
}

/** Counts 2·MACs of every conv/deconv of FCN-ResNet18 (`cfg`) on one 3 x H x W image. */
export function fcnFlops(cfg: FcnConfig, H: number, W: number): FlopCount {
  const layers: FlopCount['layers'] = [];
  const shapes = new Map<string, [number, number]>();
  const conv = (c: ConvSpec, h: number, w: number): [number, number] => {
    const { OH, OW } = conv2dOutSize({ N: 1, C: c.inC, H: h, W: w, K: c.outC, kh: c.k, kw: c.k, strideH: c.stride, strideW: c.stride, padH: c.pad, padW: c.pad });
    layers.push({ name: c.name, macs: OH * OW * c.outC * c.inC * c.k * c.k });
    return [OH, OW];
  };
  let [h, w] = conv(STEM, H, W);
  // 3x3 / 2 / 1 max pool
  h = Math.floor((h + 2 - 3) / 2) + 1;
  w = Math.floor((w + 2 - 3) / 2) + 1;
  for (const b of resnet18Blocks()) {
    const [h1, w1] = conv(b.conv1, h, w);
    conv(b.conv2, h1, w1);
    if (b.downsample) conv(b.downsample.conv, h, w);
    [h, w] = [h1, w1];
    shapes.set(b.prefix, [h, w]);
  }
  const head = headSpec(cfg);
  const stageHW = [shapes.get('layer4.1')!, shapes.get('layer3.1')!, shapes.get('layer2.1')!];
  head.scores.forEach((s, i) => conv(s, ...stageHW[i]!));
  // Transposed convs: every (input pixel, tap) pair, clipped taps included (what the kernels and
  // PyTorch's col2im compute); their inputs are the score maps at 1/32, 1/16, 1/8.
  head.deconvs.forEach((d, i) => {
    const [ih, iw] = stageHW[Math.min(i, stageHW.length - 1)]!;
    const scale = 2 ** i; // each 2x deconv doubles the map the next one reads
    layers.push({ name: d.name, macs: ih * scale * iw * scale * d.channels * d.channels * d.k * d.k });
  });
  const macs = layers.reduce((a, l) => a + l.macs, 0);
  return { forwardPerImage: 2 * macs, trainPerImage: 6 * macs, layers };
}
