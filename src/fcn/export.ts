// A checkpoint in the formats other frameworks run:
//  - PyTorch `.pth`: a torch.save archive of the state dict (src/io/torch-writer.ts) in the chapter's
//    nn.Sequential key layout ('0.weight', '4.0.conv1.weight', …, 'final_conv.*', 'transpose_conv.*')
//    or torchvision's ('conv1.weight', 'layer1.0.conv1.weight', …), BatchNorm's num_batches_tracked
//    as int64. `torch.load(path, weights_only=True)` + `load_state_dict(strict=True)` accept it.
//  - ONNX (opset 17): the eval-mode network as a graph (src/io/onnx.ts) with dynamic batch, height
//    and width: Conv, BatchNormalization (or folded into the convs), Relu, MaxPool, Add, and
//    ConvTranspose for the head, the FCN-16s/8s skips included. Input 'images' (N, 3, H, W) is
//    normalised as webfcn normalises (the mean/std are in the model's metadata); output 'logits'
//    (N, K, H, W). H and W must be multiples of 32, as for webfcn's own network.
import { OnnxGraphBuilder } from '../io/onnx.js';
import { writePth } from '../io/torch-writer.js';
import type { StateTensor } from '../io/state_dict.js';
import { CHAPTER_RENAMES } from './keys.js';
import type { Checkpoint } from './checkpoint.js';
import { batchNorms, fcnParamSpecs, headSpec, resnet18Blocks, STEM, type ConvSpec, type DeconvSpec } from './spec.js';
import type { ExportFormat, ExportLayout, ExportOptions } from './run-types.js';

export type { ExportFormat, ExportLayout, ExportOptions } from './run-types.js';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['pth', 'onnx'];
export const EXPORT_LAYOUTS: readonly ExportLayout[] = ['chapter', 'torchvision'];

/** The ONNX operator set the export targets. */
export const ONNX_OPSET = 17;

/** BatchNorm's epsilon in every layer (PyTorch's default, as the graph planner uses). */
const BN_EPS = 1e-5;

export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

/** The chapter's layout for FCN-32s (the chapter's own network), torchvision's for the skip variants. */
export function defaultLayout(ck: Checkpoint): ExportLayout {
  return ck.meta.config.head === 'fcn32s' ? 'chapter' : 'torchvision';
}

/** Canonical → chapter name: the chapter's Sequential indices for the backbone, head names unchanged. */
function chapterName(name: string): string {
  for (const [index, module] of CHAPTER_RENAMES) if (name.startsWith(`${module}.`)) return index + name.slice(module.length);
  return name;
}

/** The whole state dict as PyTorch holds it, in state_dict() order, named in `layout`. */
export function torchStateDict(ck: Checkpoint, layout: ExportLayout = defaultLayout(ck)): Array<[string, StateTensor]> {
  const cfg = ck.meta.config;
  if (layout === 'chapter' && cfg.head !== 'fcn32s') {
    throw new ExportError(`the chapter's nn.Sequential has no skip connections, so an ${cfg.head} model has no chapter layout: use the torchvision layout`);
  }
  const rename = layout === 'chapter' ? chapterName : (n: string) => n;
  const out: Array<[string, StateTensor]> = [];
  const nbt = BigInt(Math.max(0, Math.trunc(ck.state.numBatchesTracked)));
  for (const s of fcnParamSpecs(cfg)) {
    const data = ck.state.tensors.get(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!data) throw new ExportError(`the checkpoint has no '${s.name}'`);
    if (data.length !== n) throw new ExportError(`'${s.name}' has ${data.length} values, the model needs [${s.shape}]`);
    out.push([rename(s.name), { dtype: 'F32', shape: [...s.shape], data }]);
    if (s.name.endsWith('.running_var')) {
      out.push([rename(s.name.replace(/running_var$/, 'num_batches_tracked')), { dtype: 'I64', shape: [], data: new BigInt64Array([nbt]) }]);
    }
  }
  return out;
}

/** A torch.save archive of the checkpoint's weights in `layout`. */
export function encodePthExport(ck: Checkpoint, layout: ExportLayout = defaultLayout(ck)): Uint8Array {
  return writePth(torchStateDict(ck, layout));
}

/** The eval-mode network as an ONNX model (opset 17, dynamic N, H, W). */
export function encodeOnnxExport(ck: Checkpoint, opts: { foldBatchNorm?: boolean } = {}): Uint8Array {
  const cfg = ck.meta.config;
  const K = cfg.classes;
  const fold = opts.foldBatchNorm ?? false;
  const t = (name: string): Float32Array => {
    const v = ck.state.tensors.get(name);
    if (!v) throw new ExportError(`the checkpoint has no '${name}'`);
    return v;
  };
  const g = new OnnxGraphBuilder(`fcn_resnet18_${cfg.head}`);
  let x = g.input('images', ['batch', 3, 'height', 'width']);
  const bnNames = new Set(batchNorms().map((b) => b.name));

  const convAttrs = (k: number, stride: number, pad: number) => ({ kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], group: 1 });

  /** Conv (+ BatchNorm, as a node or folded into the conv's weight and bias). */
  const convBn = (c: ConvSpec, input: string, bn: string | null): string => {
    const w = t(`${c.name}.weight`);
    const shape = [c.outC, c.inC, c.k, c.k];
    if (bn && !bnNames.has(bn)) throw new ExportError(`'${bn}' is not a BatchNorm of the model`);
    if (bn && fold) {
      // y = γ (conv(x) + b − μ) / √(σ² + ε) + β  ⇒  w' = w·s, b' = (b − μ)·s + β, s = γ / √(σ² + ε); in float64, rounded once.
      const gamma = t(`${bn}.weight`), beta = t(`${bn}.bias`), mean = t(`${bn}.running_mean`), vr = t(`${bn}.running_var`);
      const bias = c.bias ? t(`${c.name}.bias`) : null;
      const per = c.inC * c.k * c.k;
      const wf = new Float32Array(w.length);
      const bf = new Float32Array(c.outC);
      for (let o = 0; o < c.outC; o++) {
        const s = gamma[o]! / Math.sqrt(vr[o]! + BN_EPS);
        for (let i = 0; i < per; i++) wf[o * per + i] = w[o * per + i]! * s;
        bf[o] = ((bias ? bias[o]! : 0) - mean[o]!) * s + beta[o]!;
      }
      const wi = g.initializer(`${c.name}.weight`, shape, wf);
      const bi = g.initializer(`${c.name}.bias`, [c.outC], bf);
      return g.node({ op: 'Conv', name: c.name, inputs: [input, wi, bi], outputs: [`${c.name}.out`], attrs: convAttrs(c.k, c.stride, c.pad) });
    }
    const inputs = [input, g.initializer(`${c.name}.weight`, shape, w)];
    if (c.bias) inputs.push(g.initializer(`${c.name}.bias`, [c.outC], t(`${c.name}.bias`)));
    const y = g.node({ op: 'Conv', name: c.name, inputs, outputs: [`${c.name}.out`], attrs: convAttrs(c.k, c.stride, c.pad) });
    if (!bn) return y;
    const p = (s: string) => g.initializer(`${bn}.${s}`, [c.outC], t(`${bn}.${s}`));
    return g.node({
      op: 'BatchNormalization',
      name: bn,
      inputs: [y, p('weight'), p('bias'), p('running_mean'), p('running_var')],
      outputs: [`${bn}.out`],
      attrs: { epsilon: BN_EPS, momentum: 0.9 },
      floatAttrs: ['epsilon', 'momentum'],
    });
  };
  const relu = (input: string, name: string) => g.node({ op: 'Relu', name, inputs: [input], outputs: [name] });
  const add = (a: string, b: string, name: string) => g.node({ op: 'Add', name, inputs: [a, b], outputs: [name] });
  const deconv = (d: DeconvSpec, input: string, output?: string) =>
    g.node({
      op: 'ConvTranspose',
      name: d.name,
      inputs: [input, g.initializer(`${d.name}.weight`, [d.channels, d.channels, d.k, d.k], t(`${d.name}.weight`)), g.initializer(`${d.name}.bias`, [d.channels], t(`${d.name}.bias`))],
      outputs: [output ?? `${d.name}.out`],
      attrs: { kernel_shape: [d.k, d.k], strides: [d.stride, d.stride], pads: [d.pad, d.pad, d.pad, d.pad], dilations: [1, 1], group: 1 },
    });

  x = relu(convBn(STEM, x, 'bn1'), 'relu');
  x = g.node({ op: 'MaxPool', name: 'maxpool', inputs: [x], outputs: ['maxpool'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } });
  const stageOut: string[] = [];
  for (const b of resnet18Blocks()) {
    let h = relu(convBn(b.conv1, x, b.bn1), `${b.prefix}.relu1`);
    h = convBn(b.conv2, h, b.bn2);
    const shortcut = b.downsample ? convBn(b.downsample.conv, x, b.downsample.bn) : x;
    x = relu(add(h, shortcut, `${b.prefix}.add`), `${b.prefix}.relu2`);
    if (b.prefix.endsWith('.1')) stageOut.push(x);
  }
  // As src/fcn/graph.ts: score(layer4); for 16s/8s upsample x2 and add score(layer3) [then score(layer2)]; the last deconv.
  const head = headSpec(cfg);
  let score = convBn(head.scores[0]!, stageOut[3]!, null);
  for (let i = 1; i < head.scores.length; i++) {
    const up = deconv(head.deconvs[i - 1]!, score);
    const skip = convBn(head.scores[i]!, stageOut[3 - i]!, null);
    score = add(up, skip, `fuse${i}`);
  }
  deconv(head.deconvs[head.deconvs.length - 1]!, score, 'logits');
  g.output('logits', ['batch', K, 'height', 'width']);
  const m = ck.meta;
  return g.encode({
    opset: ONNX_OPSET,
    producer: 'webfcn',
    docString: `FCN-ResNet18 (${cfg.head}, ${K} classes), eval mode. Input: images (N, 3, H, W), RGB scaled to [0, 1] then (x - mean) / std; H and W multiples of 32. Output: logits (N, K, H, W).`,
    metadata: {
      classes: String(K),
      head: cfg.head,
      mean: JSON.stringify(m.mean),
      std: JSON.stringify(m.std),
      class_names: JSON.stringify(m.classNames),
      colormap: JSON.stringify(m.colormap),
      batch_norm: fold ? 'folded' : 'nodes',
    },
  });
}

/** The checkpoint in `opts.format`. */
export function exportCheckpoint(ck: Checkpoint, opts: ExportOptions): Uint8Array {
  if (!EXPORT_FORMATS.includes(opts.format)) throw new ExportError(`format '${String(opts.format)}' is not one of ${EXPORT_FORMATS.join(', ')}`);
  if (opts.layout !== undefined && !EXPORT_LAYOUTS.includes(opts.layout)) throw new ExportError(`layout '${String(opts.layout)}' is not one of ${EXPORT_LAYOUTS.join(', ')}`);
  return opts.format === 'pth' ? encodePthExport(ck, opts.layout ?? defaultLayout(ck)) : encodeOnnxExport(ck, { foldBatchNorm: opts.foldBatchNorm });
}
