// PyTorch checkpoints written by torch.save (the zip format, PyTorch >= 1.6):
//   <prefix>/data.pkl            the pickled object (a state dict, or a dict holding one)
//   <prefix>/data/<key>          raw storage bytes, one entry per storage
//   <prefix>/version, <prefix>/byteorder ('little' | 'big', newer PyTorch)
// <prefix> is the archive's top folder (the file's stem in PyTorch 1.x, 'archive' later).
// The pickle runs in a restricted unpickler: only OrderedDict, the tensor rebuild functions and the
// storage classes are allowed, so loading an untrusted file never runs code. Tensors are views
// (storage offset, size, stride) into storages; each is gathered into a new contiguous array.

import { CheckpointError } from './errors.js';
import { bf16ToFloat, checkedNumel, halfToFloat } from './dtype.js';
import { PyGlobal, PyTuple, describe, unpickle, type PickleLimits } from './pickle.js';
import type { FloatDType, StateDict, StateTensor } from './state_dict.js';
import { DEFAULT_ZIP_LIMITS, ZipArchive, type ZipLimits } from './zip.js';

export { PickleError } from './pickle.js';
export { ZipError } from './zip.js';
export type { StateDict, StateTensor } from './state_dict.js';

export class PthError extends CheckpointError {
  constructor(message: string, source = '<buffer>') {
    super(message, source);
    this.name = 'PthError';
  }
}

type PthDType = StateTensor['dtype'];

/** torch storage classes -> element dtype. */
const STORAGES: Record<string, PthDType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ELEMENT_BYTES: Record<PthDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

const ALLOWED = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

const HINT =
  'A checkpoint must hold tensors only: in Python, save `torch.save(model.state_dict(), path)` ' +
  '(not the model object itself) and load that file.';

export interface PthOptions {
  /** Key (or key path) of the state dict inside a checkpoint dict, e.g. 'model' or ['ema', 'model']. */
  key?: string | string[];
  /** Check each entry's CRC-32 (default true). */
  verifyCrc?: boolean;
  /** Most elements in one tensor (default 2^28). */
  maxTensorElements?: number;
  /** Most bytes of all output arrays together (default 2^31). */
  maxTotalBytes?: number;
  zipLimits?: Partial<ZipLimits>;
  pickleLimits?: Partial<PickleLimits>;
}

export interface PthFile {
  stateDict: StateDict;
  /** What the reader decided on its own (e.g. which nested dict it used). */
  notes: string[];
  /** Key path of the state dict inside the pickled object ([] = the top level). */
  path: string[];
  /** The archive's top folder. */
  prefix: string;
  /** Contents of <prefix>/version, if present. */
  version?: string;
  byteorder: 'little' | 'big';
}

/** A storage named by a persistent id: ('storage', storage_type, key, location, numel). */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: PthDType,
    readonly numel: number,
  ) {}
}

/** A tensor view into a storage, as _rebuild_tensor_v2 describes it. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads a torch.save zip checkpoint into a StateDict; throws a CheckpointError (naming `source`) on anything else. */
export function readPth(bytes: Uint8Array, source = '<buffer>', opts: PthOptions = {}): StateDict {
  return readPthFile(bytes, source, opts).stateDict;
}

/** Like readPth, with the notes, prefix, version and byte order. */
export function readPthFile(bytes: Uint8Array, source = '<buffer>', opts: PthOptions = {}): PthFile {
  const fail = (m: string): never => {
    throw new PthError(m, source);
  };
  // A plain view: on a Node Buffer, slice() would not copy (and byte swapping would write into it).
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5) {
    fail('legacy torch.save format (not a zip archive: PyTorch < 1.6 or _use_new_zipfile_serialization=False); re-save it with a current PyTorch');
  }
  if (bytes.length >= 4 && !(bytes[0] === 0x50 && bytes[1] === 0x4b)) fail('not a PyTorch checkpoint: it is not a zip archive');
  const zip = new ZipArchive(bytes, source, { ...DEFAULT_ZIP_LIMITS, ...opts.zipLimits });
  const verify = opts.verifyCrc ?? true;

  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length === 0) fail(`no '<prefix>/data.pkl' entry: not a torch.save archive (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`);
  if (pkls.length > 1) fail(`several pickles (${pkls.join(', ')}): ambiguous archive`);
  const prefix = pkls[0]!.slice(0, -'/data.pkl'.length);
  if (zip.entries.has(`${prefix}/constants.pkl`) || [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}/code/`))) {
    fail(`a TorchScript archive (torch.jit.save), not a state dict. ${HINT}`);
  }
  const text = (name: string): string | undefined => {
    if (!zip.entries.has(name)) return undefined;
    const b = zip.read(name, verify);
    if (b.length > 64) fail(`entry '${name}' is ${b.length} bytes, expected a short text record`);
    return new TextDecoder('latin1').decode(b).trim();
  };
  const version = text(`${prefix}/version`);
  const bo = text(`${prefix}/byteorder`) ?? 'little';
  if (bo !== 'little' && bo !== 'big') fail(`byteorder record is '${bo}', expected 'little' or 'big'`);
  const byteorder = bo as 'little' | 'big';

  // Storages seen so far, so that two tensors naming one storage must agree on it.
  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const items = pid instanceof PyTuple ? pid.items : [];
    const [tag, type, key, , numel] = items;
    if (items.length !== 5 || tag !== 'storage') return fail(`persistent id ${describe(pid)} is not ('storage', type, key, location, numel)`);
    if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGES)) return fail(`persistent id names storage type ${describe(type)}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) return fail(`persistent id has a bad storage key ${describe(key)}`);
    if (!isIndex(numel)) return fail(`storage '${key}': bad element count ${describe(numel)}`);
    const dtype = STORAGES[type.name]!;
    const prev = storages.get(key);
    if (prev && (prev.dtype !== dtype || prev.numel !== numel)) {
      return fail(`storage '${key}' is named as ${prev.dtype}[${prev.numel}] and as ${dtype}[${numel}]`);
    }
    const ref = prev ?? new StorageRef(key, dtype, numel);
    storages.set(key, ref);
    return ref;
  };
  const reduce = (fn: PyGlobal, args: unknown[]): unknown => {
    switch (fn.qualname) {
      case 'collections.OrderedDict': {
        const d = new Map<unknown, unknown>();
        if (args.length === 0) return d;
        const pairs = args[0];
        if (args.length === 1 && Array.isArray(pairs)) {
          for (const p of pairs) {
            const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : [];
            if (kv.length !== 2 || typeof kv[0] !== 'string') return fail(`OrderedDict item ${describe(p)} is not a (str, value) pair`);
            d.set(kv[0], kv[1]);
          }
          return d;
        }
        return fail(`OrderedDict called with ${args.map(describe).join(', ')}`);
      }
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (args.length < 6 || args.length > 7) return fail(`_rebuild_tensor_v2 with ${args.length} arguments (expected 6 or 7)`);
        if (!(storage instanceof StorageRef)) return fail(`_rebuild_tensor_v2 on ${describe(storage)}, not a storage`);
        if (!isIndex(offset)) return fail(`tensor in storage '${storage.key}': bad storage offset ${describe(offset)}`);
        if (!(size instanceof PyTuple) || !(stride instanceof PyTuple) || !size.items.every(isIndex) || !stride.items.every(isIndex)) {
          return fail(`tensor in storage '${storage.key}': size ${describe(size)} / stride ${describe(stride)} are not tuples of non-negative ints`);
        }
        if (size.items.length !== stride.items.length || size.items.length > 32) {
          return fail(`tensor in storage '${storage.key}': ${size.items.length} sizes with ${stride.items.length} strides`);
        }
        return new TensorRef(storage, offset, size.items as number[], stride.items as number[]);
      }
      case 'torch._utils._rebuild_parameter': {
        if (args.length !== 3 || !(args[0] instanceof TensorRef)) return fail(`_rebuild_parameter with ${args.map(describe).join(', ')}`);
        return args[0];
      }
      default:
        return fail(`global '${fn.qualname}' cannot be called. ${HINT}`);
    }
  };
  const build = (obj: unknown, state: unknown): void => {
    // OrderedDict attributes: a state dict's `_metadata` (module versions) is not needed here.
    const attrs = state instanceof PyTuple && state.items.length === 2 ? state.items : [state];
    if (obj instanceof Map && attrs.every((a) => a === null || a instanceof Map)) return;
    fail(`BUILD of ${describe(obj)} with ${describe(state)} is not supported`);
  };

  const pkl = zip.read(pkls[0]!, verify);
  const root = unpickle(pkl, {
    source: `${source} (${pkls[0]})`,
    allowedGlobals: ALLOWED,
    refusalHint: HINT,
    reduce,
    persistentLoad,
    build,
    limits: opts.pickleLimits,
  });

  const { dict, path, notes } = selectStateDict(root, opts.key, fail);
  const stateDict = materialize(dict, {
    zip,
    prefix,
    verify,
    byteorder,
    fail,
    maxTensorElements: opts.maxTensorElements ?? 1 << 28,
    maxTotalBytes: opts.maxTotalBytes ?? 2 ** 31,
  });
  return { stateDict, notes, path, prefix, version, byteorder };
}

function isStateDict(v: unknown): v is Map<string, TensorRef> {
  if (!(v instanceof Map)) return false;
  for (const [k, t] of v) if (typeof k !== 'string' || !(t instanceof TensorRef)) return false;
  return true;
}

function selectStateDict(root: unknown, key: string | string[] | undefined, fail: (m: string) => never): { dict: Map<string, TensorRef>; path: string[]; notes: string[] } {
  if (key !== undefined) {
    const path = typeof key === 'string' ? [key] : key;
    let v = root;
    for (let i = 0; i < path.length; i++) {
      if (!(v instanceof Map)) return fail(`key path ${JSON.stringify(path.slice(0, i + 1))}: ${describe(v)} is not a dict`);
      if (!v.has(path[i])) {
        const keys = [...v.keys()].map((k) => JSON.stringify(k));
        return fail(`no key ${JSON.stringify(path[i])} at ${JSON.stringify(path.slice(0, i))} (keys: ${keys.slice(0, 10).join(', ')})`);
      }
      v = v.get(path[i]);
    }
    if (!isStateDict(v)) return fail(`${JSON.stringify(path)} is ${describe(v)}, not a state dict of tensors${badEntry(v)}`);
    return { dict: v, path, notes: [] };
  }
  if (isStateDict(root)) return { dict: root, path: [], notes: [] };
  if (!(root instanceof Map)) return fail(`the file holds ${describe(root)}, not a state dict`);
  const candidates = [...root.entries()].filter(([k, v]) => typeof k === 'string' && isStateDict(v) && v.size > 0) as Array<[string, Map<string, TensorRef>]>;
  if (candidates.length === 1) {
    const [k, d] = candidates[0]!;
    const others = [...root.keys()].filter((x) => x !== k).map((x) => JSON.stringify(x));
    return {
      dict: d,
      path: [k],
      notes: [`the file is a checkpoint dict; using the state dict under '${k}'${others.length ? ` (ignoring ${others.join(', ')})` : ''}`],
    };
  }
  if (candidates.length > 1) {
    return fail(`the checkpoint holds several state dicts (${candidates.map(([k]) => `'${k}'`).join(', ')}): choose one with the key option`);
  }
  return fail(`the file holds ${describe(root)} that is not a state dict and contains none${badEntry(root)}`);
}

/** Names the first non-tensor entry of a dict, for error messages. */
function badEntry(v: unknown): string {
  if (!(v instanceof Map)) return '';
  for (const [k, t] of v) if (!(t instanceof TensorRef)) return ` (key ${describe(k)} holds ${describe(t)})`;
  return '';
}

interface MaterializeCtx {
  zip: ZipArchive;
  prefix: string;
  verify: boolean;
  byteorder: 'little' | 'big';
  fail: (m: string) => never;
  maxTensorElements: number;
  maxTotalBytes: number;
}

type Elements = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

function materialize(dict: Map<string, TensorRef>, ctx: MaterializeCtx): StateDict {
  const { fail } = ctx;
  const views = new Map<string, Elements>();
  const storageElements = (s: StorageRef, name: string): Elements => {
    const cached = views.get(s.key);
    if (cached) return cached;
    const entry = `${ctx.prefix}/data/${s.key}`;
    if (!ctx.zip.entries.has(entry)) fail(`tensor '${name}': storage entry '${entry}' is missing`);
    const es = ELEMENT_BYTES[s.dtype];
    let raw = ctx.zip.read(entry, ctx.verify);
    if (raw.length < s.numel * es) fail(`tensor '${name}': storage '${entry}' has ${raw.length} bytes, needs ${s.numel * es} for ${s.dtype}[${s.numel}]`);
    raw = raw.subarray(0, s.numel * es);
    if (ctx.byteorder === 'big' && es > 1) {
      raw = raw.slice();
      for (let i = 0; i < raw.length; i += es) raw.subarray(i, i + es).reverse();
    } else if (raw.byteOffset % es) {
      raw = raw.slice();
    }
    const b = raw.buffer;
    const o = raw.byteOffset;
    const n = s.numel;
    const el: Elements = {
      F32: () => new Float32Array(b, o, n),
      F64: () => new Float64Array(b, o, n),
      F16: () => new Uint16Array(b, o, n),
      BF16: () => new Uint16Array(b, o, n),
      I64: () => new BigInt64Array(b, o, n),
      I32: () => new Int32Array(b, o, n),
      I16: () => new Int16Array(b, o, n),
      I8: () => new Int8Array(b, o, n),
      U8: () => new Uint8Array(b, o, n),
      BOOL: () => new Uint8Array(b, o, n),
    }[s.dtype]();
    views.set(s.key, el);
    return el;
  };

  const out: StateDict = new Map();
  let totalBytes = 0;
  for (const [name, t] of dict) {
    const { storage: s, offset, size, stride } = t;
    const n = checkedNumel(size);
    if (n < 0 || n > ctx.maxTensorElements) fail(`tensor '${name}': shape [${size}] has more than ${ctx.maxTensorElements} elements`);
    const float = s.dtype === 'F32' || s.dtype === 'F64' || s.dtype === 'F16' || s.dtype === 'BF16';
    totalBytes += n * (float ? 4 : ELEMENT_BYTES[s.dtype]);
    if (totalBytes > ctx.maxTotalBytes) fail(`tensors up to '${name}' need more than ${ctx.maxTotalBytes} bytes`);
    if (n > 0) {
      let last = offset;
      for (let i = 0; i < size.length; i++) last += (size[i]! - 1) * stride[i]!;
      if (!Number.isSafeInteger(last) || last >= s.numel) {
        fail(`tensor '${name}': view (offset ${offset}, size [${size}], stride [${stride}]) reaches element ${last} of a ${s.numel}-element storage '${s.key}'`);
      }
    }
    const src = n > 0 ? storageElements(s, name) : undefined;
    const shape = [...size];
    switch (s.dtype) {
      case 'F32':
      case 'F64':
      case 'F16':
      case 'BF16': {
        const data = new Float32Array(n);
        if (src) {
          const conv = s.dtype === 'F16' ? halfToFloat : s.dtype === 'BF16' ? bf16ToFloat : undefined;
          gather(src as Float32Array, data, offset, size, stride, conv);
        }
        out.set(name, { dtype: s.dtype as FloatDType, shape, data });
        break;
      }
      case 'I64': {
        const data = new BigInt64Array(n);
        if (src) gather(src as BigInt64Array, data, offset, size, stride);
        out.set(name, { dtype: 'I64', shape, data });
        break;
      }
      case 'I32':
      case 'I16':
      case 'I8':
      case 'U8':
      case 'BOOL': {
        const Ctor = { I32: Int32Array, I16: Int16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array }[s.dtype];
        const data = new Ctor(n);
        if (src) gather(src as Int32Array, data as Int32Array, offset, size, stride);
        out.set(name, { dtype: s.dtype, shape, data } as StateTensor);
        break;
      }
    }
  }
  return out;
}

interface Indexable<T> {
  [i: number]: T;
  length: number;
}

/**
 * dst[i] = conv(src[offset + Σ_d idx_d(i)·stride[d]]) over the row-major indices i of `size`.
 * The innermost dimension is a tight loop; a contiguous view is one block copy.
 */
function gather<T, U>(src: Indexable<T>, dst: Indexable<U>, offset: number, size: number[], stride: number[], conv?: (v: T) => U): void {
  const nd = size.length;
  const n = dst.length;
  if (n === 0) return;
  let contiguous = true;
  for (let d = nd - 1, expect = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= size[d]!;
  }
  const f = conv ?? ((v: T) => v as unknown as U);
  if (contiguous) {
    if (!conv && 'set' in dst && 'subarray' in src) {
      (dst as unknown as { set(a: unknown): void }).set((src as unknown as { subarray(a: number, b: number): unknown }).subarray(offset, offset + n));
    } else {
      for (let i = 0; i < n; i++) dst[i] = f(src[offset + i]!);
    }
    return;
  }
  const inner = nd ? size[nd - 1]! : 1;
  const istride = nd ? stride[nd - 1]! : 0;
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, p = base; j < inner; j++, p += istride) dst[o + j] = f(src[p]!);
    // Advance the outer multi-index like an odometer, updating the base offset incrementally.
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < size[d]!) break;
      base -= idx[d]! * stride[d]!;
      idx[d] = 0;
    }
  }
}

