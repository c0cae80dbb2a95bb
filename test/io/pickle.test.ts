import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PickleError, PyGlobal, PyTuple, unpickle, type UnpickleOptions } from '../../src/io/pickle';
import { PickleWriter } from './build';

const dir = new URL('../golden/pth/', import.meta.url);
const load = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));

const plain: UnpickleOptions = {
  source: 'p.pkl',
  allowedGlobals: new Set(),
  reduce: (fn) => {
    throw new Error(`unexpected call of ${fn.qualname}`);
  },
};

/** Converts unpickled values to plain JSON-able data (tuples tagged) for comparison. */
function plainify(v: unknown): unknown {
  if (v instanceof PyTuple) return { tuple: v.items.map(plainify) };
  if (Array.isArray(v)) return v.map(plainify);
  if (v instanceof Map) return [...v].map(([k, x]) => [k, plainify(x)]);
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  return v;
}

function refusal(bytes: Uint8Array, opts: Partial<UnpickleOptions> = {}): string {
  try {
    unpickle(bytes, { ...plain, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(PickleError);
    return (e as Error).message;
  }
  throw new Error('expected a PickleError');
}

describe('unpickle', () => {
  it.each([2, 4])('reads Python values pickled with protocol %i', (proto) => {
    const v = unpickle(load(`values_p${proto}.pkl`), plain) as Map<unknown, unknown>;
    const shared = v.get('shared') as PyTuple;
    expect(shared.items[0]).toBe(shared.items[1]); // memo: one list object, referenced twice
    expect(plainify(v)).toEqual([
      ['ints', [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31 - 1, 2n ** 53n, 2n ** 70n, -(2n ** 70n)]],
      ['float', -2.5],
      ['flags', { tuple: [true, false, null] }],
      ['text', 'h\u00e9llo \u2603'],
      ...(proto === 4 ? [['bytes', { bytes: [0, 255, 97, 98] }]] : []),
      ['nested', [['a', [[], []]], ['b', { tuple: [] }]]],
      [7, 'int key'],
      ['shared', { tuple: [[1, 2], [1, 2]] }],
    ]);
  });

  it('refuses the _codecs.encode call protocol 2 uses for bytes', () => {
    const p4 = unpickle(load('values_p4.pkl'), plain) as Map<unknown, unknown>;
    expect(p4.get('bytes')).toBeInstanceOf(Uint8Array);
    expect(refusal(new PickleWriter().global('_codecs', 'encode').raw(0x2e).bytes())).toMatch(/refusing global '_codecs\.encode'/);
  });

  it('refuses every global not allowed, naming it, and calls only through reduce', () => {
    const w = new PickleWriter().global('subprocess', 'Popen').raw(0x2e).bytes();
    expect(refusal(w, { refusalHint: 'Save a state dict.' })).toMatch(/^p\.pkl: pickle opcode 0x63 at byte 2: refusing global 'subprocess\.Popen': only tensor data is loaded, never code\. Save a state dict\.$/);
    const calls: string[] = [];
    const ok = new PickleWriter().global('m', 'f').mark().int(4).raw(0x74, 0x52, 0x2e).bytes();
    const r = unpickle(ok, { ...plain, allowedGlobals: new Set(['m.f']), reduce: (fn, args) => (calls.push(fn.qualname), (args[0] as number) * 2) });
    expect(r).toBe(8);
    expect(calls).toEqual(['m.f']);
    const g = unpickle(new PickleWriter().global('m', 'f').raw(0x2e).bytes(), { ...plain, allowedGlobals: new Set(['m.f']) });
    expect(g).toBeInstanceOf(PyGlobal);
  });

  it('refuses REDUCE on non-globals, persistent ids without a loader and unsupported opcodes', () => {
    expect(refusal(new PickleWriter().raw(0x5d, 0x29, 0x52, 0x2e).bytes())).toMatch(/REDUCE on list\(0\), not an allowed global/);
    expect(refusal(new PickleWriter().str('x').raw(0x51, 0x2e).bytes())).toMatch(/persistent ids are not allowed/);
    expect(refusal(new PickleWriter().raw(0x81).bytes())).toMatch(/opcode 0x81 at byte 2: unsupported opcode NEWOBJ/);
    expect(refusal(new PickleWriter().raw(0x69).bytes())).toMatch(/unsupported opcode INST/);
    expect(refusal(new PickleWriter().raw(0xff).bytes())).toMatch(/opcode 0xff at byte 2: unsupported opcode:/);
    expect(refusal(new Uint8Array([0x80, 9, 0x2e]))).toMatch(/protocol above 5/);
  });

  it('bounds lengths, memo, stack and nesting', () => {
    expect(refusal(new PickleWriter().raw(0x58, 0xff, 0xff, 0xff, 0x7f, 0x61).bytes())).toMatch(/truncated: needs 2147483647 bytes, 1 left/);
    expect(refusal(new PickleWriter().raw(0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10).bytes())).toMatch(/length 1152921504606846976 exceeds the 11-byte pickle/);
    expect(refusal(new PickleWriter().raw(0x68, 5, 0x2e).bytes())).toMatch(/memo index 5 was never stored/);
    expect(refusal(new PickleWriter().raw(0x6a, 0xff, 0xff, 0xff, 0xff).bytes())).toMatch(/memo index 4294967295 was never stored/);
    expect(refusal(new PickleWriter().raw(0x8a, 200).bytes())).toMatch(/LONG of 200 bytes exceeds 64/);
    expect(refusal(new PickleWriter().raw(...new Array(1001).fill(0x28)).bytes())).toMatch(/MARK nesting exceeds 1000/);
    expect(refusal(new PickleWriter().raw(...new Array(50).fill(0x4e), 0x2e).bytes(), { limits: { maxStack: 10 } })).toMatch(/stack exceeds 10 items/);
    const memo = new PickleWriter().raw(0x4e);
    for (let i = 0; i < 20; i++) memo.raw(0x71, i);
    expect(refusal(memo.bytes(), { limits: { maxMemo: 8 } })).toMatch(/memo exceeds 8 entries/);
    // A list that contains itself is fine to build (no recursion here).
    const cyc = unpickle(new PickleWriter().raw(0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e).bytes(), plain) as unknown[];
    expect(cyc[0]).toBe(cyc);
  });

  it('refuses malformed structure: underflow, missing MARK/STOP, bad keys, bad UTF-8', () => {
    expect(refusal(new PickleWriter().raw(0x30).bytes())).toMatch(/stack underflow/);
    expect(refusal(new PickleWriter().raw(0x74).bytes())).toMatch(/no MARK on the stack/);
    expect(refusal(new PickleWriter().raw(0x4e).bytes())).toMatch(/truncated: no STOP opcode/);
    expect(refusal(new PickleWriter().raw(0x4e, 0x4e, 0x2e).bytes())).toMatch(/STOP with 2 values on the stack/);
    expect(refusal(new PickleWriter().raw(0x7d, 0x5d, 0x4e, 0x73, 0x2e).bytes())).toMatch(/unsupported dict key list\(0\)/);
    expect(refusal(new PickleWriter().raw(0x5d, 0x4e, 0x4e, 0x73, 0x2e).bytes())).toMatch(/SETITEM\(S\) on list\(0\), not a dict/);
    expect(refusal(new PickleWriter().raw(0x7d, 0x4e, 0x61, 0x2e).bytes())).toMatch(/APPEND\(S\) on dict\(0\), not a list/);
    expect(refusal(new PickleWriter().raw(0x8c, 2, 0xc3, 0x28, 0x2e).bytes())).toMatch(/not valid UTF-8/);
    expect(refusal(new PickleWriter().raw(0x63, 0x61).bytes())).toMatch(/unterminated GLOBAL name/);
    expect(refusal(new PickleWriter().raw(0x5d, 0x7d, 0x62, 0x2e).bytes())).toMatch(/BUILD of list\(0\) with dict\(0\)/);
  });
});
