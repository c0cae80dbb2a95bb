// State dicts as the engine sees them: named tensors of any dtype read from safetensors or .pth
// files, and a key/shape check against what a model expects. Which keys a model has (the FCN
// layouts) is the architecture's business: src/fcn/keys.ts.

import { CheckpointError } from './errors.js';
import { toFloat32, type SafetensorsFile } from './safetensors.js';

export type FloatDType = 'F32' | 'F64' | 'F16' | 'BF16';

/** One tensor of a state dict: float dtypes are converted to Float32Array (dtype says what the file held). */
export type StateTensor =
  | { dtype: FloatDType; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array }
  | { dtype: 'I16'; shape: number[]; data: Int16Array }
  | { dtype: 'I8'; shape: number[]; data: Int8Array }
  | { dtype: 'U8' | 'BOOL'; shape: number[]; data: Uint8Array };

export type StateDict = Map<string, StateTensor>;

export class StateDictError extends CheckpointError {
  constructor(message: string, source = '<state dict>') {
    super(message, source);
    this.name = 'StateDictError';
  }
}

/** The value of a one-element integer tensor (e.g. num_batches_tracked): a number when safe, else a bigint. */
export function scalarValue(t: StateTensor): number | bigint {
  if (t.data.length !== 1) throw new StateDictError(`expected a one-element tensor, got shape [${t.shape}]`);
  const v = t.data[0]!;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

/** A safetensors file's tensors as a StateDict (floats -> Float32Array, integers kept). */
export function fromSafetensors(file: SafetensorsFile): StateDict {
  const out: StateDict = new Map();
  for (const [name, t] of file.tensors) {
    const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
    const shape = [...t.shape];
    switch (t.dtype) {
      case 'F32':
      case 'F64':
      case 'F16':
      case 'BF16':
        out.set(name, { dtype: t.dtype, shape, data: toFloat32(t) });
        break;
      case 'I64':
        out.set(name, { dtype: 'I64', shape, data: new BigInt64Array(buf) });
        break;
      case 'I32':
        out.set(name, { dtype: 'I32', shape, data: new Int32Array(buf) });
        break;
      case 'I16':
        out.set(name, { dtype: 'I16', shape, data: new Int16Array(buf) });
        break;
      case 'I8':
        out.set(name, { dtype: 'I8', shape, data: new Int8Array(buf) });
        break;
      case 'U8':
      case 'BOOL':
        out.set(name, { dtype: t.dtype, shape, data: new Uint8Array(buf) });
        break;
      default:
        throw new StateDictError(`tensor '${name}': dtype ${t.dtype} has no state-dict form`);
    }
  }
  return out;
}

/**
 * Checks `got` has exactly the `expected` keys with the expected shapes; throws one StateDictError
 * listing every missing, unexpected and mis-shaped key.
 */
export function checkAgainst(expected: Map<string, readonly number[]>, got: Map<string, { shape: readonly number[] }>, source = '<state dict>'): void {
  const missing: string[] = [];
  const shapes: string[] = [];
  for (const [k, s] of expected) {
    const t = got.get(k);
    if (!t) missing.push(k);
    else if (t.shape.length !== s.length || t.shape.some((d, i) => d !== s[i])) shapes.push(`'${k}': expected [${s.join(', ')}], got [${t.shape.join(', ')}]`);
  }
  const unexpected = [...got.keys()].filter((k) => !expected.has(k));
  if (!missing.length && !shapes.length && !unexpected.length) return;
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${missing.length}: ${missing.map((k) => `'${k}' [${expected.get(k)!.join(', ')}]`).join(', ')}`);
  if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${unexpected.map((k) => `'${k}' [${got.get(k)!.shape.join(', ')}]`).join(', ')}`);
  if (shapes.length) parts.push(`wrong shape ${shapes.length}: ${shapes.join('; ')}`);
  throw new StateDictError(`state dict does not match the model: ${parts.join(' | ')}`, source);
}
