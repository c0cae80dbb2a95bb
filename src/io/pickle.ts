// A restricted unpickler: it implements the opcodes that torch.save needs for state dicts and
// checkpoints (protocols 2-5), and never imports or calls anything itself. A GLOBAL is only a name;
// it is refused unless the caller allows it, and REDUCE/BUILD go through the caller's handlers, so
// an untrusted file cannot run code. Every length, index and the stack are bounded.

import { CheckpointError } from './errors.js';

export class PickleError extends CheckpointError {
  constructor(message: string, source = '<buffer>') {
    super(message, source);
    this.name = 'PickleError';
  }
}

/** A Python tuple (lists are plain arrays, dicts are Maps, str is string, bytes is Uint8Array). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A reference to an allowed global (class or function), by name only. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Hashable Python values usable as dict keys here. */
export type PyKey = string | number | bigint | boolean | null;

export interface PickleLimits {
  /** Most values on the stack at once. */
  maxStack: number;
  /** Most nested MARKs. */
  maxMarkDepth: number;
  /** Most memo entries. */
  maxMemo: number;
  /** Most bytes in one LONG (arbitrary-size int). */
  maxLongBytes: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = { maxStack: 1 << 22, maxMarkDepth: 1000, maxMemo: 1 << 22, maxLongBytes: 64 };

export interface UnpickleOptions {
  /** Names the file in errors. */
  source?: string;
  /** Allowed globals as 'module.name'; any other GLOBAL is refused. */
  allowedGlobals: ReadonlySet<string>;
  /** Appended to the refusal of a global (what to do instead). */
  refusalHint?: string;
  /** REDUCE: calls an allowed global with arguments; throw to refuse. */
  reduce(fn: PyGlobal, args: unknown[]): unknown;
  /** BINPERSID: resolves a persistent id; absent -> refused. */
  persistentLoad?(pid: unknown): unknown;
  /** BUILD: applies `state` to `obj`; absent -> only dict attribute states on dicts, ignored. */
  build?(obj: unknown, state: unknown): void;
  limits?: Partial<PickleLimits>;
}

const OPNAMES: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x50: 'PERSID', 0x69: 'INST',
  0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
  0x67: 'GET', 0x70: 'PUT',
};

/** Short description of a Python value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyTuple) return `tuple(${v.items.length})`;
  if (v instanceof PyGlobal) return v.qualname;
  if (Array.isArray(v)) return `list(${v.length})`;
  if (v instanceof Map) return `dict(${v.size})`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'bigint') return `${v}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return String(v);
}

/** Runs the pickle in `data` and returns the object STOP leaves. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  const source = opts.source ?? '<buffer>';
  // A plain view: on a Node Buffer, slice() would not copy.
  data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const lim = { ...DEFAULT_PICKLE_LIMITS, ...opts.limits };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  let op = 0;
  let opPos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (m: string): never => {
    throw new PickleError(`pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos}: ${m}`, source);
  };
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > data.length) fail(`truncated: needs ${n} bytes, ${data.length - pos} left`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = () => data[need(1)]!;
  const u16 = () => dv.getUint16(need(2), true);
  const u32 = () => dv.getUint32(need(4), true);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > BigInt(data.length)) fail(`length ${v} exceeds the ${data.length}-byte pickle`);
    return Number(v);
  };
  const push = (v: unknown) => {
    if (stack.length >= lim.maxStack) fail(`stack exceeds ${lim.maxStack} items`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) fail('no MARK on the stack');
    stack = prev!;
    return items;
  };
  const str = (n: number): string => {
    const p = need(n);
    try {
      return utf8.decode(data.subarray(p, p + n));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const nl = data.indexOf(0x0a, pos);
    if (nl < 0 || nl - pos > 1000) fail('unterminated GLOBAL name');
    const s = latin1.decode(data.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const memoPut = (i: number, v: unknown) => {
    if (!memo.has(i) && memo.size >= lim.maxMemo) fail(`memo exceeds ${lim.maxMemo} entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo index ${i} was never stored`);
    return memo.get(i);
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!opts.allowedGlobals.has(q)) {
      fail(`refusing global '${q}': only tensor data is loaded, never code${opts.refusalHint ? '. ' + opts.refusalHint : ''}`);
    }
    return new PyGlobal(module, name);
  };
  const key = (k: unknown): PyKey => {
    if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)) return k as PyKey;
    return fail(`unsupported dict key ${describe(k)}`);
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) fail(`SETITEM(S) on ${describe(d)}, not a dict`);
    if (kv.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) (d as Map<PyKey, unknown>).set(key(kv[i]), kv[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) fail(`APPEND(S) on ${describe(l)}, not a list`);
    for (const it of items) {
      if ((l as unknown[]).length >= lim.maxStack) fail(`list exceeds ${lim.maxStack} items`);
      (l as unknown[]).push(it);
    }
  };
  const longLE = (n: number): number | bigint => {
    if (n > lim.maxLongBytes) fail(`LONG of ${n} bytes exceeds ${lim.maxLongBytes}`);
    const p = need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]!);
    if (data[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    opPos = pos;
    if (pos >= data.length) fail('truncated: no STOP opcode');
    op = data[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME: framing only, the data is inline
        u64();
        break;
      case 0x2e: // STOP
        if (marks.length) fail('STOP inside an open MARK');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      case 0x28: // MARK
        if (marks.length >= lim.maxMarkDepth) fail(`MARK nesting exceeds ${lim.maxMarkDepth}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(dv.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(longLE(u8()));
        break;
      case 0x8b: // LONG4
        push(longLE(u32()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        push(dv.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(str(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str, read as latin-1)
      case 0x55: {
        // SHORT_BINSTRING
        const n = op === 0x54 ? u32() : u8();
        const p = need(n);
        push(latin1.decode(data.subarray(p, p + n)));
        break;
      }
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: {
        // BINBYTES8
        const n = op === 0x42 ? u32() : op === 0x43 ? u8() : u64();
        const p = need(n);
        push(data.slice(p, p + n));
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new Map<PyKey, unknown>();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent ids are not allowed');
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail(`REDUCE on ${describe(fn)}, not an allowed global`);
        if (!(args instanceof PyTuple)) fail(`REDUCE of ${(fn as PyGlobal).qualname} with ${describe(args)} arguments, not a tuple`);
        push(opts.reduce(fn as PyGlobal, (args as PyTuple).items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (opts.build) opts.build(obj, state);
        else if (!(obj instanceof Map) || !(state instanceof Map || state === null)) fail(`BUILD of ${describe(obj)} with ${describe(state)}`);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      default:
        fail(`unsupported opcode${OPNAMES[op] ? ' ' + OPNAMES[op] : ''}: not needed for state dicts`);
    }
  }
}
