// The FCN-ResNet18 architecture as data: every state-dict entry with its torchvision name and
// shape, and the head variants. Names mirror torchvision's resnet18 and the chapter's head
// (`final_conv`, `transpose_conv`) so PyTorch state dicts load with no mapping code.
import type { ParamSpec } from './params.js';
import type { HeadKind } from './run-types.js';

export type { HeadKind } from './run-types.js';

export interface FcnConfig {
  /** Number of classes K (21 for Pascal VOC). */
  classes: number;
  head: HeadKind;
}

/** Output channels of layer1..layer4. */
export const STAGE_CHANNELS = [64, 128, 256, 512] as const;

/** One conv of the network: weight (K, C, kh, kw), stride, padding, optional bias. */
export interface ConvSpec {
  name: string;
  inC: number;
  outC: number;
  k: number;
  stride: number;
  pad: number;
  bias: boolean;
}

/** A transposed conv: weight (Cin, Cout, k, k) as PyTorch's ConvTranspose2d. */
export interface DeconvSpec {
  name: string;
  channels: number;
  k: number;
  stride: number;
  pad: number;
}

export interface BlockSpec {
  prefix: string;
  conv1: ConvSpec;
  bn1: string;
  conv2: ConvSpec;
  bn2: string;
  downsample: { conv: ConvSpec; bn: string } | null;
}

export const STEM: ConvSpec = { name: 'conv1', inC: 3, outC: 64, k: 7, stride: 2, pad: 3, bias: false };

/** The eight BasicBlocks of ResNet-18, torchvision's layout. */
export function resnet18Blocks(): BlockSpec[] {
  const blocks: BlockSpec[] = [];
  let inC = 64;
  STAGE_CHANNELS.forEach((outC, stage) => {
    for (let b = 0; b < 2; b++) {
      const prefix = `layer${stage + 1}.${b}`;
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const conv = (name: string, c: number, k: number, s: number, p: number): ConvSpec => ({
        name: `${prefix}.${name}`,
        inC: c,
        outC,
        k,
        stride: s,
        pad: p,
        bias: false,
      });
      blocks.push({
        prefix,
        conv1: conv('conv1', inC, 3, stride, 1),
        bn1: `${prefix}.bn1`,
        conv2: conv('conv2', outC, 3, 1, 1),
        bn2: `${prefix}.bn2`,
        downsample: stride !== 1 || inC !== outC ? { conv: conv('downsample.0', inC, 1, stride, 0), bn: `${prefix}.downsample.1` } : null,
      });
      inC = outC;
    }
  });
  return blocks;
}

/** Head layers: 1x1 score convs and transposed convs for FCN-32s/16s/8s. */
export function headSpec(cfg: FcnConfig): { scores: ConvSpec[]; deconvs: DeconvSpec[] } {
  const K = cfg.classes;
  const score = (name: string, inC: number): ConvSpec => ({ name, inC, outC: K, k: 1, stride: 1, pad: 0, bias: true });
  const up2 = (name: string): DeconvSpec => ({ name, channels: K, k: 4, stride: 2, pad: 1 });
  switch (cfg.head) {
    case 'fcn32s':
      return { scores: [score('final_conv', 512)], deconvs: [{ name: 'transpose_conv', channels: K, k: 64, stride: 32, pad: 16 }] };
    case 'fcn16s':
      return {
        scores: [score('final_conv', 512), score('score_layer3', 256)],
        deconvs: [up2('upscore2'), { name: 'transpose_conv', channels: K, k: 32, stride: 16, pad: 8 }],
      };
    case 'fcn8s':
      return {
        scores: [score('final_conv', 512), score('score_layer3', 256), score('score_layer2', 128)],
        deconvs: [up2('upscore2'), up2('upscore_pool4'), { name: 'transpose_conv', channels: K, k: 16, stride: 8, pad: 4 }],
      };
  }
}

function bnSpecs(name: string, c: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [c], kind: 'param' },
    { name: `${name}.bias`, shape: [c], kind: 'param' },
    { name: `${name}.running_mean`, shape: [c], kind: 'stat' },
    { name: `${name}.running_var`, shape: [c], kind: 'stat' },
  ];
}

function convSpecs(c: ConvSpec): ParamSpec[] {
  const specs: ParamSpec[] = [{ name: `${c.name}.weight`, shape: [c.outC, c.inC, c.k, c.k], kind: 'param' }];
  if (c.bias) specs.push({ name: `${c.name}.bias`, shape: [c.outC], kind: 'param' });
  return specs;
}

/**
 * Every state-dict entry in torchvision order (num_batches_tracked is kept on the host and
 * written to checkpoints separately).
 */
export function fcnParamSpecs(cfg: FcnConfig): ParamSpec[] {
  const specs: ParamSpec[] = [...convSpecs(STEM), ...bnSpecs('bn1', 64)];
  for (const b of resnet18Blocks()) {
    specs.push(...convSpecs(b.conv1), ...bnSpecs(b.bn1, b.conv1.outC), ...convSpecs(b.conv2), ...bnSpecs(b.bn2, b.conv2.outC));
    if (b.downsample) specs.push(...convSpecs(b.downsample.conv), ...bnSpecs(b.downsample.bn, b.downsample.conv.outC));
  }
  const head = headSpec(cfg);
  for (const s of head.scores) specs.push(...convSpecs(s));
  for (const d of head.deconvs) {
    specs.push({ name: `${d.name}.weight`, shape: [d.channels, d.channels, d.k, d.k], kind: 'param' });
    specs.push({ name: `${d.name}.bias`, shape: [d.channels], kind: 'param' });
  }
  return specs;
}

/** The BatchNorm layers and their channels (each has a num_batches_tracked entry in state dicts). */
export function batchNorms(): Array<{ name: string; channels: number }> {
  const bns = [{ name: 'bn1', channels: 64 }];
  for (const b of resnet18Blocks()) {
    bns.push({ name: b.bn1, channels: b.conv1.outC }, { name: b.bn2, channels: b.conv2.outC });
    if (b.downsample) bns.push({ name: b.downsample.bn, channels: b.downsample.conv.outC });
  }
  return bns;
}

/** Input sides must be multiples of this (the backbone's total stride). */
export const OUTPUT_STRIDE = 32;
