// Writes a state dict as a torch.save archive (the zip format of PyTorch >= 1.6) that
// `torch.load(path, weights_only=True)` accepts:
//   archive/data.pkl     pickle protocol 2: an OrderedDict of name → _rebuild_tensor_v2(storage,
//                        offset, size, stride, requires_grad=False, OrderedDict()) with each storage
//                        a persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel)
//   archive/byteorder    'little'
//   archive/data/<key>   each storage's raw little-endian bytes (one contiguous storage per tensor)
//   archive/version      '3'
// Records are stored and 64-byte aligned (src/io/zip-writer.ts). Only the opcodes and globals the
// weights-only unpickler allows are used; no memo, no _metadata (load_state_dict then treats every
// module as current, which these tensors are).

import type { StateTensor } from './state_dict.js';
import { writeAlignedZip } from './zip-writer.js';

export class TorchWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchWriteError';
  }
}

/** The torch storage class of each dtype (floats are written as float32: the data is Float32Array). */
const STORAGE_CLASS: Record<StateTensor['dtype'], string> = {
  F32: 'FloatStorage',
  F64: 'FloatStorage',
  F16: 'FloatStorage',
  BF16: 'FloatStorage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  I16: 'ShortStorage',
  I8: 'CharStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

// Pickle opcodes (protocol 2).
const PROTO = 0x80;
const GLOBAL = 0x63; // c
const EMPTY_TUPLE = 0x29; // )
const REDUCE = 0x52; // R
const MARK = 0x28; // (
const TUPLE = 0x74; // t
const BINPERSID = 0x51; // Q
const BININT = 0x4a; // J
const BININT1 = 0x4b; // K
const BININT2 = 0x4d; // M
const BINUNICODE = 0x58; // X
const NEWFALSE = 0x89;
const SETITEMS = 0x75; // u
const STOP = 0x2e; // .

/** A growable byte buffer with the few pickle encodings a state dict needs. */
class Pickler {
  private buf = new Uint8Array(1 << 16);
  private n = 0;
  private enc = new TextEncoder();

  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + extra));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  op(...codes: number[]): this {
    this.ensure(codes.length);
    for (const c of codes) this.buf[this.n++] = c;
    return this;
  }

  /** A non-negative int in the smallest of BININT1 / BININT2 / BININT. */
  int(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new TorchWriteError(`integer ${v} does not fit a pickle BININT`);
    if (v < 0x100) return this.op(BININT1, v);
    if (v < 0x10000) return this.op(BININT2, v & 0xff, v >>> 8);
    return this.op(BININT, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  }

  str(s: string): this {
    const u = this.enc.encode(s);
    this.op(BINUNICODE, u.length & 0xff, (u.length >>> 8) & 0xff, (u.length >>> 16) & 0xff, u.length >>> 24);
    this.ensure(u.length);
    this.buf.set(u, this.n);
    this.n += u.length;
    return this;
  }

  global(module: string, name: string): this {
    const u = this.enc.encode(`${module}\n${name}\n`);
    this.op(GLOBAL);
    this.ensure(u.length);
    this.buf.set(u, this.n);
    this.n += u.length;
    return this;
  }

  tuple(items: readonly number[]): this {
    if (items.length === 0) return this.op(EMPTY_TUPLE);
    this.op(MARK);
    for (const v of items) this.int(v);
    return this.op(TUPLE);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** The little-endian bytes of a tensor's storage (as the storage class expects them). */
function storageBytes(t: StateTensor): Uint8Array {
  const d = t.data;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new TorchWriteError('big-endian hosts are not supported by the .pth writer');
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

export interface PthWriteOptions {
  /** The archive's top folder (PyTorch >= 2 writes 'archive'; 1.x accepts any name). Default 'archive'. */
  prefix?: string;
}

/**
 * A torch.save archive of `stateDict` (names in insertion order, one contiguous storage per
 * tensor, keys '0', '1', … as PyTorch numbers them). Throws TorchWriteError on a tensor whose
 * data does not match its shape.
 */
export function writePth(stateDict: Iterable<readonly [string, StateTensor]>, opts: PthWriteOptions = {}): Uint8Array {
  const prefix = opts.prefix ?? 'archive';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new TorchWriteError(`archive prefix '${prefix}' must be 1-64 letters, digits, '_', '.', '-'`);
  const p = new Pickler().op(PROTO, 2).global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE, MARK);
  const storages: Array<[string, Uint8Array]> = [];
  const seen = new Set<string>();
  for (const [name, t] of stateDict) {
    if (seen.has(name)) throw new TorchWriteError(`tensor '${name}' appears twice`);
    seen.add(name);
    const numel = numelOf(t.shape);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new TorchWriteError(`tensor '${name}': bad shape [${t.shape}]`);
    if (t.data.length !== numel) throw new TorchWriteError(`tensor '${name}': ${t.data.length} values for shape [${t.shape}] (${numel})`);
    const key = String(storages.length);
    storages.push([key, storageBytes(t)]);
    p.str(name).global('torch._utils', '_rebuild_tensor_v2').op(MARK);
    // Persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel).
    p.op(MARK).str('storage').global('torch', STORAGE_CLASS[t.dtype]).str(key).str('cpu').int(numel).op(TUPLE, BINPERSID);
    p.int(0).tuple(t.shape).tuple(contiguousStride(t.shape));
    // requires_grad=False, backward_hooks=OrderedDict().
    p.op(NEWFALSE).global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE, TUPLE, REDUCE);
  }
  p.op(SETITEMS, STOP);
  // PyTorch numbers storages in order and writes them sorted by key as strings ('0', '1', '10', …).
  const sorted = [...storages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const enc = new TextEncoder();
  return writeAlignedZip([
    [`${prefix}/data.pkl`, p.bytes()],
    [`${prefix}/byteorder`, enc.encode('little')],
    ...sorted.map(([k, b]) => [`${prefix}/data/${k}`, b] as const),
    [`${prefix}/version`, enc.encode('3\n')],
  ]);
}
