// `webfcn export`: a checkpoint in another format, a PyTorch `.pth` (torch.load(..., weights_only=True))
// or ONNX. Everything happens on the host: no GPU is acquired.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeModelFile } from '../fcn/checkpoint.js';
import { defaultLayout, EXPORT_FORMATS, EXPORT_LAYOUTS, exportCheckpoint, ONNX_OPSET, type ExportFormat, type ExportLayout } from '../fcn/export.js';
import { defaultClassNames, defaultColormap } from '../data/colormap.js';
import { UsageError, parseIntFlag } from './args.js';

export const exportHelp = `webfcn export --model CKPT --format pth|onnx --out FILE [--layout chapter|torchvision] [--fold-bn] [--classes K]

Writes a model in another format. pth: a torch.save archive of the state dict that PyTorch loads
with torch.load(FILE, weights_only=True) and load_state_dict(strict=True), in the chapter's
nn.Sequential key layout ('0.weight', '4.0.conv1.weight', …; the default for FCN-32s) or
torchvision's ('conv1.weight', 'layer1.0.conv1.weight', …; the only one for FCN-16s/8s).
onnx: the eval-mode network (opset ${ONNX_OPSET}, dynamic batch, height and width; input 'images'
normalised as webfcn does, output 'logits'), BatchNorm as BatchNormalization nodes or, with
--fold-bn, folded into the convolutions. --model takes any file webfcn loads.`;

export const exportOptions = {
  model: { type: 'string' },
  format: { type: 'string' },
  layout: { type: 'string' },
  out: { type: 'string' },
  classes: { type: 'string' },
  'fold-bn': { type: 'boolean' },
} as const;

export async function exportModel(v: Record<string, string | boolean | undefined>): Promise<void> {
  for (const f of ['model', 'format', 'out']) if (!v[f]) throw new UsageError(`--${f} is required`);
  const format = v.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}; got '${v.format}'`);
  const layout = v.layout as ExportLayout | undefined;
  if (layout !== undefined && !EXPORT_LAYOUTS.includes(layout)) throw new UsageError(`--layout must be one of ${EXPORT_LAYOUTS.join(', ')}; got '${v.layout}'`);
  if (layout !== undefined && format !== 'pth') throw new UsageError('--layout applies to --format pth only');
  if (v['fold-bn'] && format !== 'onnx') throw new UsageError('--fold-bn applies to --format onnx only');
  const classes = v.classes ? parseIntFlag('classes', v.classes as string, 2, 255) : undefined;
  const path = v.model as string;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ck = decodeModelFile(bytes, path, { classes });
  const K = ck.meta.config.classes;
  if (!ck.meta.colormap.length) ck.meta.colormap = defaultColormap(K);
  if (!ck.meta.classNames.length) ck.meta.classNames = defaultClassNames(K);
  const out = exportCheckpoint(ck, { format, layout, foldBatchNorm: !!v['fold-bn'] });
  await writeFileAtomic(v.out as string, out);
  const what = format === 'pth' ? `PyTorch state dict, ${layout ?? defaultLayout(ck)} layout` : `ONNX opset ${ONNX_OPSET}${v['fold-bn'] ? ', BatchNorm folded' : ''}`;
  console.log(`${v.out}: ${ck.meta.config.head}, ${K} classes, ${what} (${(out.length / 2 ** 20).toFixed(1)} MiB)`);
}
