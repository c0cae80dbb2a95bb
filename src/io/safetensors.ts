// safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then
// raw little-endian tensor bytes. webfcn's checkpoints and the PyTorch goldens use it.

import { CheckpointError } from './errors.js';
import { bf16ToFloat, checkedNumel, floatToHalf, halfToFloat } from './dtype.js';

export type SafeDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U32' | 'U8' | 'I8' | 'BOOL' | 'I16' | 'U16';

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** Raw little-endian bytes (a copy, 8-byte aligned). */
  data: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const ELEMENT_BYTES: Record<SafeDType, number> = {
  F64: 8, I64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, U16: 2, U8: 1, I8: 1, BOOL: 1,
};

/** Largest header accepted (the format's own reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;
/** Most dimensions accepted in a shape. */
const MAX_RANK = 64;

export class SafetensorsError extends CheckpointError {
  constructor(message: string, source = '<buffer>') {
    super(message, source);
    this.name = 'SafetensorsError';
  }
}

/**
 * Parses a safetensors file; `source` names it in errors. Like the reference implementation it
 * requires the tensors' byte ranges to tile the data section exactly (no gaps, overlaps or trailing
 * bytes), and also refuses duplicate names and non-string metadata.
 */
export function readSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const fail = (m: string): never => {
    throw new SafetensorsError(m, source);
  };
  // A plain view: on a Node Buffer, slice() would not copy.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, no header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = dv.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER)) fail(`header length ${declared} exceeds ${MAX_HEADER}`);
  const headerLen = Number(declared);
  if (8 + headerLen > bytes.length) fail(`truncated: header needs ${headerLen} bytes, file has ${bytes.length - 8}`);
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');
  const dup = duplicateTopLevelKey(text);
  if (dup !== undefined) fail(`duplicate tensor name ${JSON.stringify(dup)} in the header`);
  const body = bytes.subarray(8 + headerLen);
  const tensors = new Map<string, SafeTensor>();
  const ranges: Array<[number, number, string]> = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as object)) if (typeof v !== 'string') fail(`__metadata__ value for ${JSON.stringify(k)} is ${JSON.stringify(v)}, not a string`);
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail(`tensor '${name}': entry is ${JSON.stringify(entry)}, not an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !Object.hasOwn(ELEMENT_BYTES, e.dtype)) fail(`tensor '${name}': unknown dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as SafeDType;
    if (!Array.isArray(e.shape) || e.shape.length > MAX_RANK || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor '${name}': bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0) || offs[0] > offs[1]) {
      fail(`tensor '${name}': bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > body.length) fail(`tensor '${name}': data [${begin}, ${end}) past end of data (${body.length} bytes)`);
    const numel = checkedNumel(shape);
    const expected = numel * ELEMENT_BYTES[dtype];
    if (numel < 0 || !Number.isSafeInteger(expected)) fail(`tensor '${name}': shape [${shape}] has too many elements`);
    if (end - begin !== expected) fail(`tensor '${name}': ${end - begin} bytes for ${dtype} [${shape}] (needs ${expected})`);
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype, shape, data: body.slice(begin, end) });
  }
  // The byte ranges, sorted, must follow one another from 0 to the end of the data.
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of ranges) {
    if (begin < at) fail(`tensor '${name}': data [${begin}, ${end}) overlaps the previous tensor (which ends at ${at})`);
    if (begin > at) fail(`tensor '${name}': gap in the data before byte ${begin} (previous tensor ends at ${at})`);
    at = end;
  }
  if (at !== body.length) fail(`data section is ${body.length} bytes but the tensors cover ${at}`);
  return { tensors, metadata };
}

/** The first top-level key of a JSON object text that occurs twice (JSON.parse keeps only the last). */
function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const k = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(k)) return k;
        seen.add(k);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** Serialises tensors (in insertion order) and string metadata to safetensors bytes. */
export function writeSafetensors(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SafetensorsError(`metadata ${JSON.stringify(k)} is not a string`, 'writeSafetensors');
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError("'__metadata__' is reserved and cannot name a tensor", 'writeSafetensors');
    const need = checkedNumel(t.shape) * ELEMENT_BYTES[t.dtype];
    if (!(t.dtype in ELEMENT_BYTES) || need !== t.data.byteLength) {
      throw new SafetensorsError(`tensor '${name}': ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}] (needs ${need})`, 'writeSafetensors');
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so tensor data starts 8-byte aligned (as the reference writer does).
  const enc = new TextEncoder();
  let headerBytes = enc.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) headerBytes = enc.encode(json + ' '.repeat(pad));
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const [, t] of entries) {
    out.set(t.data, p);
    p += t.data.byteLength;
  }
  return out;
}

/** A float32 tensor's values (F32, or F64/F16/BF16/integers converted). */
export function toFloat32(t: SafeTensor): Float32Array {
  const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(buf));
    case 'U32':
      return Float32Array.from(new Uint32Array(buf));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf));
    case 'I8':
      return Float32Array.from(new Int8Array(buf));
    case 'I16':
      return Float32Array.from(new Int16Array(buf));
    case 'U16':
      return Float32Array.from(new Uint16Array(buf));
    case 'F16':
      return Float32Array.from(new Uint16Array(buf), halfToFloat);
    case 'BF16':
      return Float32Array.from(new Uint16Array(buf), bf16ToFloat);
  }
}

/** A Float32Array rounded to an F16 safetensor (round to nearest even). */
export function f16Tensor(values: Float32Array, shape: number[]): SafeTensor {
  const h = Uint16Array.from(values, floatToHalf);
  return { dtype: 'F16', shape, data: new Uint8Array(h.buffer) };
}

/** Wraps a Float32Array as an F32 safetensor. */
export function f32Tensor(values: Float32Array, shape: number[]): SafeTensor {
  return { dtype: 'F32', shape, data: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) };
}
