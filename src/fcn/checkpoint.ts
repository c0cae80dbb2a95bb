// webfcn checkpoints: safetensors with the state dict under PyTorch names (so
// `safetensors.torch.load_file` + `load_state_dict` works on the PyTorch side), BatchNorm's
// num_batches_tracked as I64, optional SGD momentum under `optimizer.momentum.<name>`, and
// metadata (classes, colour map, head, normalisation, training progress). They load back
// bit-exactly. PyTorch `.pth` state dicts (torchvision or the chapter's key layout) load too.
import { readPthFile } from '../io/pth.js';
import { f16Tensor, f32Tensor, readSafetensors, toFloat32, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { checkAgainst, fromSafetensors, scalarValue } from '../io/state_dict.js';
import { fcnShapes, resnet18Shapes, toCanonical } from './keys.js';
import { imagenetStats } from '../io/normalisation.js';
import type { StateDict } from './model.js';
import type { FcnConfig, HeadKind } from './spec.js';

export const CHECKPOINT_FORMAT = 'webfcn-checkpoint/1';

/** Everything a checkpoint carries besides the weights. */
export interface CheckpointMeta {
  config: FcnConfig;
  /** RGB colour per class (VOC_COLORMAP for VOC). */
  colormap: Array<[number, number, number]>;
  classNames: string[];
  /** Input normalisation (ImageNet statistics by default). */
  mean: [number, number, number];
  std: [number, number, number];
  /** Training progress, for resume: completed epochs and steps, and the options used. */
  progress?: { epoch: number; step: number; seed: number; options: Record<string, unknown>; history: unknown[] };
}

export interface Checkpoint {
  meta: CheckpointMeta;
  state: StateDict;
  momentum: Map<string, Float32Array> | null;
}

export class CheckpointFormatError extends Error {
  constructor(message: string, readonly source: string) {
    super(`${source}: ${message}`);
    this.name = 'CheckpointFormatError';
  }
}

const MOMENTUM = 'optimizer.momentum.';

function i64Scalar(n: number): SafeTensor {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigInt64(0, BigInt(n), true);
  return { dtype: 'I64', shape: [], data };
}

/**
 * Serialises a checkpoint to safetensors bytes. `shapes` gives each tensor's shape. `dtype` 'F16'
 * stores weights and statistics as half floats (half the bytes; values round to 11 significant
 * bits, so it is a file for inference, not for resuming training).
 */
export function encodeCheckpoint(ck: Checkpoint, shapes: Map<string, number[]>, dtype: 'F32' | 'F16' = 'F32'): Uint8Array {
  const tensors = new Map<string, SafeTensor>();
  const enc = dtype === 'F16' ? f16Tensor : f32Tensor;
  for (const [name, shape] of shapes) {
    const v = ck.state.tensors.get(name);
    if (!v) throw new CheckpointFormatError(`state has no '${name}'`, 'encodeCheckpoint');
    tensors.set(name, enc(v, shape));
    if (name.endsWith('.running_var')) {
      tensors.set(name.replace(/running_var$/, 'num_batches_tracked'), i64Scalar(ck.state.numBatchesTracked));
    }
  }
  if (ck.momentum) for (const [name, v] of ck.momentum) tensors.set(MOMENTUM + name, enc(v, shapes.get(name)!));
  const m = ck.meta;
  return writeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    classes: String(m.config.classes),
    head: m.config.head,
    colormap: JSON.stringify(m.colormap),
    class_names: JSON.stringify(m.classNames),
    mean: JSON.stringify(m.mean),
    std: JSON.stringify(m.std),
    ...(m.progress ? { progress: JSON.stringify(m.progress) } : {}),
  });
}

/**
 * A JSON metadata value checked against what the loaders after this one rely on (an edited or
 * corrupt file must fail here, naming the key, not later as a TypeError in prediction or resume).
 */
function parseJson<T>(text: string | undefined, key: string, source: string, valid: (v: unknown) => boolean, expected: string): T | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CheckpointFormatError(`metadata '${key}' is not valid JSON`, source);
  }
  if (!valid(v)) throw new CheckpointFormatError(`metadata '${key}' is ${text.length > 80 ? `${text.slice(0, 80)}…` : text}, expected ${expected}`, source);
  return v as T;
}

const HEAD_KINDS: readonly HeadKind[] = ['fcn32s', 'fcn16s', 'fcn8s'];
const isByte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255;
const isColormap = (v: unknown) => Array.isArray(v) && v.every((c) => Array.isArray(c) && c.length === 3 && c.every(isByte));
const isNames = (v: unknown) => Array.isArray(v) && v.every((n) => typeof n === 'string');
const isTriple = (positive: boolean) => (v: unknown) =>
  Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
const isProgress = (v: unknown) => {
  const p = v as Record<string, unknown> | null;
  return typeof p === 'object' && p !== null && !Array.isArray(p) && Number.isInteger(p.epoch) && (p.epoch as number) >= 0 &&
    (p.history === undefined || Array.isArray(p.history)) && (p.options === undefined || (typeof p.options === 'object' && p.options !== null));
};

/** Parses a webfcn safetensors checkpoint (metadata may be partial: defaults fill the rest). */
export function decodeCheckpoint(bytes: Uint8Array, source: string, defaults: Partial<CheckpointMeta> & { classes?: number } = {}): Checkpoint {
  const { shapes: _shapes, ...ck } = decodeCheckpointWithShapes(bytes, source, defaults);
  return ck;
}

function decodeCheckpointWithShapes(
  bytes: Uint8Array,
  source: string,
  defaults: Partial<CheckpointMeta> & { classes?: number },
): Checkpoint & { shapes: Map<string, { shape: number[] }> } {
  const file = readSafetensors(bytes, source);
  const md = file.metadata;
  const tensors = new Map<string, Float32Array>();
  const shapes = new Map<string, { shape: number[] }>();
  const momentum = new Map<string, Float32Array>();
  let numBatchesTracked = 0;
  for (const [name, t] of file.tensors) {
    if (name.endsWith('.num_batches_tracked')) numBatchesTracked = Number(toFloat32(t)[0] ?? 0);
    else if (name.startsWith(MOMENTUM)) momentum.set(name.slice(MOMENTUM.length), toFloat32(t));
    else {
      tensors.set(name, toFloat32(t));
      shapes.set(name, { shape: t.shape });
    }
  }
  const classesFromFile = md.classes !== undefined ? Number(md.classes) : tensors.get('final_conv.bias')?.length;
  const classes = classesFromFile ?? defaults.classes;
  if (classes === undefined) {
    throw new CheckpointFormatError('the number of classes is not recorded and there is no final_conv.bias: the number of classes must be given (CLI: --classes)', source);
  }
  if (!Number.isInteger(classes) || classes < 1 || classes > 255) {
    throw new CheckpointFormatError(`the number of classes is ${String(md.classes ?? classes).slice(0, 80)}, expected an integer in 1..255`, source);
  }
  if (md.head !== undefined && !HEAD_KINDS.includes(md.head as HeadKind)) {
    throw new CheckpointFormatError(`metadata 'head' is ${JSON.stringify(md.head.slice(0, 80))}, expected one of ${HEAD_KINDS.join(', ')}`, source);
  }
  const head = (md.head as HeadKind | undefined) ?? (tensors.has('score_layer2.weight') ? 'fcn8s' : tensors.has('score_layer3.weight') ? 'fcn16s' : 'fcn32s');
  const meta: CheckpointMeta = {
    config: { classes, head },
    colormap: parseJson(md.colormap, 'colormap', source, isColormap, 'a list of [r, g, b] with 0..255 components') ?? defaults.colormap ?? [],
    classNames: parseJson(md.class_names, 'class_names', source, isNames, 'a list of strings') ?? defaults.classNames ?? [],
    mean: parseJson(md.mean, 'mean', source, isTriple(false), 'three finite numbers') ?? defaults.mean ?? imagenetStats().mean,
    std: parseJson(md.std, 'std', source, isTriple(true), 'three positive numbers') ?? defaults.std ?? imagenetStats().std,
    progress: parseJson(md.progress, 'progress', source, isProgress, 'an object with a whole-number epoch'),
  };
  return { meta, state: { tensors, numBatchesTracked }, momentum: momentum.size ? momentum : null, shapes };
}

/** Whether bytes look like a zip archive (PyTorch's torch.save format) rather than safetensors. */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * Reads a PyTorch `.pth` state dict (torchvision or the chapter's key layout) as a checkpoint of
 * the whole FCN; every key and shape is checked against the model the file describes.
 */
export function decodePth(bytes: Uint8Array, source: string, defaults: Partial<CheckpointMeta> & { classes?: number; head?: HeadKind } = {}): Checkpoint & { notes: string[] } {
  const file = readPthFile(bytes, source);
  const { stateDict, notes } = toCanonical(file.stateDict, source);
  notes.unshift(...file.notes);
  const classes = (stateDict.get('final_conv.bias')?.shape[0] as number | undefined) ?? defaults.classes;
  if (!classes) throw new CheckpointFormatError("no 'final_conv.bias' to tell the number of classes: the number of classes must be given (CLI: --classes)", source);
  const head: HeadKind = defaults.head ?? (stateDict.has('score_layer2.weight') ? 'fcn8s' : stateDict.has('score_layer3.weight') ? 'fcn16s' : 'fcn32s');
  checkAgainst(fcnShapes(classes, head), stateDict, source);
  const tensors = new Map<string, Float32Array>();
  let numBatchesTracked = 0;
  for (const [name, t] of stateDict) {
    if (name.endsWith('.num_batches_tracked')) numBatchesTracked = Number(scalarValue(t));
    else if (t.data instanceof Float32Array) tensors.set(name, t.data);
    else throw new CheckpointFormatError(`'${name}' is ${t.dtype}, expected a floating-point tensor`, source);
  }
  const meta: CheckpointMeta = {
    config: { classes, head },
    colormap: defaults.colormap ?? [],
    classNames: defaults.classNames ?? [],
    mean: defaults.mean ?? imagenetStats().mean,
    std: defaults.std ?? imagenetStats().std,
  };
  return { meta, state: { tensors, numBatchesTracked }, momentum: null, notes };
}

/**
 * Reads an ImageNet-pretrained torchvision resnet18 file as backbone weights (canonical names,
 * no head); `fc.*` is dropped with a note, anything missing or mis-shaped is an error.
 */
export function decodePretrainedBackbone(bytes: Uint8Array, source: string): { tensors: Map<string, Float32Array>; notes: string[] } {
  const file = isZip(bytes) ? readPthFile(bytes, source).stateDict : fromSafetensors(readSafetensors(bytes, source));
  const { stateDict, notes } = toCanonical(file, source);
  const backbone = new Map([...stateDict].filter(([k]) => !k.startsWith('final_conv.') && !k.startsWith('transpose_conv.') && !/^(score_layer|upscore)/.test(k)));
  checkAgainst(resnet18Shapes(), backbone, source);
  const tensors = new Map<string, Float32Array>();
  for (const [name, t] of backbone) if (!name.endsWith('.num_batches_tracked')) tensors.set(name, t.data as Float32Array);
  return { tensors, notes };
}

/** Reads any model file webfcn accepts: its own safetensors checkpoints or a PyTorch `.pth`. */
export function decodeModelFile(bytes: Uint8Array, source: string, defaults: Partial<CheckpointMeta> & { classes?: number } = {}): Checkpoint & { notes: string[] } {
  if (isZip(bytes)) return decodePth(bytes, source, defaults);
  const { shapes, ...ck } = decodeCheckpointWithShapes(bytes, source, defaults);
  const expected = new Map([...fcnShapes(ck.meta.config.classes, ck.meta.config.head)].filter(([k]) => !k.endsWith('num_batches_tracked')));
  checkAgainst(expected, shapes, source);
  return { ...ck, notes: [] };
}
