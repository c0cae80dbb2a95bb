// safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then
// raw little-endian tensor bytes. webfcn's checkpoints and the PyTorch goldens use it.

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

export class SafetensorsError extends Error {
  constructor(message: string, readonly source = '<buffer>') {
    super(`${source}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Parses a safetensors file; `source` names it in errors. Validates every offset and shape. */
export function readSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const fail = (m: string): never => {
    throw new SafetensorsError(m, source);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, no header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > MAX_HEADER) fail(`header length ${headerLen} exceeds ${MAX_HEADER}`);
  if (8 + headerLen > bytes.length) fail(`truncated: header needs ${headerLen} bytes, file has ${bytes.length - 8}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const body = bytes.subarray(8 + headerLen);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) fail('__metadata__ is not an object');
      metadata = Object.fromEntries(Object.entries(entry as object).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !(e.dtype in ELEMENT_BYTES)) fail(`tensor '${name}': unknown dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as SafeDType;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor '${name}': bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0) || offs[0] > offs[1]) {
      fail(`tensor '${name}': bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > body.length) fail(`tensor '${name}': data [${begin}, ${end}) past end of data (${body.length} bytes)`);
    const expected = shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[dtype];
    if (end - begin !== expected) fail(`tensor '${name}': ${end - begin} bytes for ${dtype} [${shape}] (needs ${expected})`);
    tensors.set(name, { dtype, shape, data: body.slice(begin, end) });
  }
  return { tensors, metadata };
}

/** Serialises tensors (in insertion order) and string metadata to safetensors bytes. */
export function writeSafetensors(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
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
      return Float32Array.from(new Uint16Array(buf), (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]!);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Wraps a Float32Array as an F32 safetensor. */
export function f32Tensor(values: Float32Array, shape: number[]): SafeTensor {
  return { dtype: 'F32', shape, data: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) };
}
