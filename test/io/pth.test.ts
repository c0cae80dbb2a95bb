import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { CheckpointError } from '../../src/io/errors';
import { PickleError, PthError, ZipError, readPth, readPthFile, type StateDict } from '../../src/io/pth';
import { readSafetensors } from '../../src/io/safetensors';
import { fromSafetensors, scalarValue } from '../../src/io/state_dict';
import { ZipArchive } from '../../src/io/zip';
import { PickleWriter, buildPth, f32Bytes, statePickle } from './build';

const dir = new URL('../golden/pth/', import.meta.url);
const load = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const expected = (name: string) => fromSafetensors(readSafetensors(load(name), name));

/** Asserts `got` has exactly the keys (in order), dtypes' values and shapes of `want`. */
function expectSame(got: StateDict, want: StateDict, widened: Record<string, string> = {}) {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect(g.shape, k).toEqual(w.shape);
    if (!widened[k]) expect(g.dtype, k).toEqual(w.dtype === 'F32' ? g.dtype : w.dtype);
    // Exact: floats as float32 bits, integers as values.
    expect(Array.from(g.data as ArrayLike<number | bigint>), k).toEqual(Array.from(w.data as ArrayLike<number | bigint>));
  }
}

/** Runs fn and returns the CheckpointError it throws. */
function refusal(fn: () => unknown): CheckpointError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError, got none');
}

describe('readPth: torch.save files', () => {
  it('reads a conv/BatchNorm/Sequential state dict exactly, num_batches_tracked as int64', () => {
    const f = readPthFile(load('tiny.pth'), 'tiny.pth');
    expectSame(f.stateDict, expected('tiny.expected.safetensors'));
    expect(f.prefix).toBe('tiny');
    expect(f.version).toBe('3');
    expect(f.byteorder).toBe('little');
    expect(f.notes).toEqual([]);
    const nbt = f.stateDict.get('1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect(scalarValue(nbt)).toBe(3);
    expect(f.stateDict.get('0.weight')!.data).toBeInstanceOf(Float32Array);
    // The state dict's _metadata attribute arrives through BUILD; it is read past, not kept.
    expect(new TextDecoder('latin1').decode(load('tiny.pth'))).toContain('_metadata');
  });

  it('gathers views, shared storages, transposes, strided, expanded and 0-dim tensors of every dtype', () => {
    const sd = readPth(load('views.pth'), 'views.pth');
    expectSame(sd, expected('views.expected.safetensors'), { i16: 'I32', i8: 'I32', bool: 'U8' });
    const dtypes = Object.fromEntries([...sd].map(([k, t]) => [k, t.dtype]));
    expect(dtypes).toMatchObject({ f64: 'F64', f64_cols: 'F64', f16: 'F16', bf16: 'BF16', i64: 'I64', i32: 'I32', i16: 'I16', i8: 'I8', u8: 'U8', bool: 'BOOL', base: 'F32' });
    for (const k of ['f64', 'f16', 'bf16', 'col_t']) expect(sd.get(k)!.data, k).toBeInstanceOf(Float32Array);
    expect(sd.get('i64')!.data).toBeInstanceOf(BigInt64Array);
    expect(scalarValue(sd.get('big_i64')!)).toBe(2n ** 60n + 7n);
    expect(scalarValue(sd.get('nbt')!)).toBe(7);
    expect(sd.get('empty')!.shape).toEqual([0, 3]);
    expect(sd.get('expanded')!.shape).toEqual([3, 4]);
  });

  it('reads pickle protocol 4, deflated entries under any top folder, and nn.Parameter values', () => {
    const tiny = expected('tiny.expected.safetensors');
    expectSame(readPth(load('tiny_proto4.pth'), 'tiny_proto4.pth'), tiny);
    const d = readPthFile(load('deflated.pth'), 'deflated.pth');
    expect(d.prefix).toBe('renamed_ckpt');
    expectSame(d.stateDict, tiny);
    expectSame(readPth(load('params.pth'), 'params.pth'), expected('params.expected.safetensors'));
  });

  it('picks the one state dict nested in a training checkpoint and says so', () => {
    const f = readPthFile(load('nested.pth'), 'nested.pth');
    expectSame(f.stateDict, expected('tiny.expected.safetensors'));
    expect(f.path).toEqual(['model']);
    expect(f.notes.join()).toMatch(/using the state dict under 'model'.*"epoch".*"optimizer"/);
    const k = readPthFile(load('nested.pth'), 'nested.pth', { key: 'model' });
    expect(k.notes).toEqual([]);
    expectSame(k.stateDict, f.stateDict);
  });

  it('asks for a key when a checkpoint holds several state dicts, and checks the key', () => {
    expect(refusal(() => readPth(load('two_models.pth'), 'two_models.pth')).message).toMatch(/two_models\.pth: .*several state dicts \('model', 'ema'\).*key option/);
    expectSame(readPth(load('two_models.pth'), 'two_models.pth', { key: 'ema' }), expected('tiny.expected.safetensors'));
    expect(refusal(() => readPth(load('nested.pth'), 'nested.pth', { key: 'nope' })).message).toMatch(/no key "nope" at \[\].*"epoch", "model"/);
    expect(refusal(() => readPth(load('nested.pth'), 'nested.pth', { key: 'epoch' })).message).toMatch(/\["epoch"\] is 5, not a state dict/);
    expect(refusal(() => readPth(load('nested.pth'), 'nested.pth', { key: 'optimizer' })).message).toMatch(/\["optimizer"\] is dict\(2\), not a state dict.*key "state" holds dict/);
    expect(refusal(() => readPth(load('nested.pth'), 'nested.pth', { key: ['model', 'x'] })).message).toMatch(/no key "x" at \["model"\]/);
  });
});

describe('readPth: refusals', () => {
  it('refuses a pickle that calls os.system, naming the file and the global, without running it', () => {
    const e = refusal(() => readPth(load('evil.pth'), 'evil.pth'));
    expect(e).toBeInstanceOf(PickleError);
    expect(e.message).toMatch(/^evil\.pth .*refusing global 'os\.system'.*model\.state_dict\(\)/);
  });

  it('refuses builtins.eval reached through STACK_GLOBAL', () => {
    expect(refusal(() => readPth(load('evil_stack.pth'), 'evil_stack.pth')).message).toMatch(/evil_stack\.pth.*'builtins\.eval'/);
  });

  it('refuses a whole pickled model and says to save the state dict', () => {
    const e = refusal(() => readPth(load('fullmodel.pth'), 'fullmodel.pth'));
    expect(e.message).toMatch(/fullmodel\.pth.*'torch\.nn\.modules\.container\.Sequential'.*torch\.save\(model\.state_dict\(\), path\)/);
  });

  it('refuses legacy, truncated, non-zip and TorchScript files', () => {
    expect(refusal(() => readPth(load('legacy.pth'), 'legacy.pth')).message).toMatch(/legacy\.pth: legacy torch\.save format/);
    const t = refusal(() => readPth(load('truncated.pth'), 'truncated.pth'));
    expect(t).toBeInstanceOf(ZipError);
    expect(t.message).toMatch(/truncated\.pth: .*truncated/);
    expect(refusal(() => readPth(new TextEncoder().encode('hello world'), 'a.txt')).message).toMatch(/a\.txt: not a PyTorch checkpoint/);
    expect(refusal(() => readPth(new Uint8Array(0), 'empty.pth')).message).toMatch(/empty\.pth: not a zip archive/);
    const ts = buildPth(statePickle([]), {}, { extra: { 'constants.pkl': new Uint8Array([0x80, 2, 0x29, 0x2e]) } });
    expect(refusal(() => readPth(ts, 'script.pt')).message).toMatch(/script\.pt: a TorchScript archive/);
  });

  it('refuses an archive with no data.pkl or two of them', () => {
    expect(refusal(() => readPth(zipSync({ 'a/b.txt': new Uint8Array(1) }), 'x.zip')).message).toMatch(/x\.zip: no '<prefix>\/data\.pkl'/);
    const two = zipSync({ 'a/data.pkl': statePickle([]), 'b/data.pkl': statePickle([]) });
    expect(refusal(() => readPth(two, 'two.zip')).message).toMatch(/several pickles/);
  });

  it('names the entry when a CRC does not match, and can skip the check', () => {
    const bytes = load('tiny.pth').slice();
    const zip = new ZipArchive(bytes, 'tiny.pth');
    const e = zip.entries.get('tiny/data/0')!;
    bytes[e.dataOffset] ^= 0x40;
    expect(refusal(() => readPth(bytes, 'tiny.pth')).message).toMatch(/tiny\.pth: entry 'tiny\/data\/0': CRC-32 mismatch/);
    const sd = readPth(bytes, 'tiny.pth', { verifyCrc: false });
    const want = expected('tiny.expected.safetensors');
    // Storage 0 is the first tensor (0.weight); one flipped bit changes its first byte only.
    expect(sd.get('0.weight')!.data[0]).not.toBe(want.get('0.weight')!.data[0]);
    const got = sd.get('0.weight')!.data as Float32Array;
    expect(Array.from(got.subarray(1))).toEqual(Array.from((want.get('0.weight')!.data as Float32Array).subarray(1)));
  });

  it('refuses views past their storage, short storages, missing storages and conflicting storage types', () => {
    const s = { '0': f32Bytes([0, 1, 2, 3, 4, 5]) };
    const read = (t: Parameters<typeof statePickle>[0], st: Record<string, Uint8Array> = s) => () => readPth(buildPth(statePickle(t), st), 'c.pth');
    expect(refusal(read([{ name: 'w', key: '0', numel: 6, size: [2, 4] }])).message).toMatch(/tensor 'w': view \(offset 0, size \[2,4\], stride \[4,1\]\) reaches element 7 of a 6-element storage '0'/);
    expect(refusal(read([{ name: 'w', key: '0', numel: 6, offset: 5, size: [2] }])).message).toMatch(/tensor 'w': view .* reaches element 6/);
    expect(refusal(read([{ name: 'w', key: '0', numel: 8, size: [8] }])).message).toMatch(/tensor 'w': storage 'archive\/data\/0' has 24 bytes, needs 32/);
    expect(refusal(read([{ name: 'w', key: '1', numel: 6, size: [6] }])).message).toMatch(/tensor 'w': storage entry 'archive\/data\/1' is missing/);
    expect(refusal(read([{ name: 'a', key: '0', numel: 6, size: [6] }, { name: 'b', key: '0', storage: 'IntStorage', numel: 6, size: [6] }])).message).toMatch(
      /storage '0' is named as F32\[6\] and as I32\[6\]/,
    );
    expect(refusal(read([{ name: 'w', key: '0', storage: 'UntypedStorage', numel: 6, size: [6] }])).message).toMatch(/refusing global 'torch\.UntypedStorage'/);
    expect(refusal(read([{ name: 'w', key: '../0', numel: 6, size: [6] }])).message).toMatch(/bad storage key/);
  });

  it('bounds huge shapes and stride-0 expansions before allocating', () => {
    const s = { '0': f32Bytes([1]) };
    const huge = statePickle([{ name: 'w', key: '0', numel: 1, size: [2 ** 30, 2 ** 30, 2 ** 30], stride: [0, 0, 0] }]);
    expect(refusal(() => readPth(buildPth(huge, s), 'h.pth')).message).toMatch(/tensor 'w': shape \[1073741824,1073741824,1073741824\] has more than 268435456 elements/);
    const wide = statePickle([{ name: 'w', key: '0', numel: 1, size: [1000, 1000], stride: [0, 0] }]);
    expect(readPth(buildPth(wide, s), 'w.pth').get('w')!.data.length).toBe(1e6);
    expect(refusal(() => readPth(buildPth(wide, s), 'w.pth', { maxTensorElements: 1000 })).message).toMatch(/more than 1000 elements/);
    const two = statePickle([
      { name: 'a', key: '0', numel: 1, size: [600], stride: [0] },
      { name: 'b', key: '0', numel: 1, size: [600], stride: [0] },
    ]);
    expect(refusal(() => readPth(buildPth(two, s), 't.pth', { maxTotalBytes: 4000 })).message).toMatch(/tensors up to 'b' need more than 4000 bytes/);
  });

  it('reads big-endian archives (byteorder record) and refuses unknown byte orders', () => {
    const pkl = statePickle([{ name: 'w', key: '0', numel: 3, size: [3] }]);
    const be = new Uint8Array(12);
    [1.5, -2, 1e-3].forEach((v, i) => new DataView(be.buffer).setFloat32(4 * i, v, false));
    const f = readPthFile(buildPth(pkl, { '0': be }, { extra: { byteorder: new TextEncoder().encode('big') } }), 'be.pth');
    expect(f.byteorder).toBe('big');
    expect(Array.from(f.stateDict.get('w')!.data as Float32Array)).toEqual(Array.from(new Float32Array([1.5, -2, 1e-3])));
    // A Node Buffer input is neither written to by the byte swap nor aliased by the result.
    const buf = Buffer.from(buildPth(pkl, { '0': be }, { extra: { byteorder: new TextEncoder().encode('big') } }));
    const before = Buffer.from(buf);
    const sd = readPth(buf, 'be.pth');
    expect(buf.equals(before)).toBe(true);
    (sd.get('w')!.data as Float32Array).fill(0);
    expect(buf.equals(before)).toBe(true);
    const odd = buildPth(pkl, { '0': be }, { extra: { byteorder: new TextEncoder().encode('middle') } });
    expect(refusal(() => readPth(odd, 'odd.pth')).message).toMatch(/byteorder record is 'middle'/);
  });

  it('refuses pickles that are not a state dict', () => {
    const top = (w: PickleWriter) => buildPth(w.raw(0x2e).bytes(), {});
    expect(refusal(() => readPth(top(new PickleWriter().int(5)), 'i.pth')).message).toMatch(/i\.pth: the file holds 5, not a state dict/);
    const mixed = new PickleWriter().raw(0x7d).str('epoch').int(3).raw(0x73);
    expect(refusal(() => readPth(top(mixed), 'm.pth')).message).toMatch(/holds dict\(1\) that is not a state dict and contains none \(key "epoch" holds 3\)/);
    // REDUCE of an allowed storage class (constructing a storage directly) is not a state dict operation.
    const storageCall = new PickleWriter().global('torch', 'FloatStorage').raw(0x29, 0x52);
    expect(refusal(() => readPth(top(storageCall), 's.pth')).message).toMatch(/global 'torch\.FloatStorage' cannot be called/);
    const badArgs = new PickleWriter().global('torch._utils', '_rebuild_tensor_v2').mark().int(1).int(2).raw(0x74, 0x52);
    expect(refusal(() => readPth(top(badArgs), 'b.pth')).message).toMatch(/_rebuild_tensor_v2 with 2 arguments/);
    const pid = new PickleWriter().mark().str('storage').str('x').raw(0x74, 0x51);
    expect(refusal(() => readPth(top(pid), 'p.pth')).message).toMatch(/persistent id tuple\(2\) is not \('storage'/);
    const build = new PickleWriter().raw(0x5d).raw(0x7d).raw(0x62);
    expect(refusal(() => readPth(top(build), 'bl.pth')).message).toMatch(/BUILD of list\(0\)/);
  });

  it('reads an empty state dict', () => {
    expect(readPth(buildPth(statePickle([]), {}), 'e.pth').size).toBe(0);
  });
});

describe('zip reader bounds', () => {
  /** Offsets of the central directory record of `name` and of its local header. */
  function locate(bytes: Uint8Array, name: string): { cd: number; local: number } {
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const enc = new TextEncoder().encode(name);
    for (let p = 0; p + 46 < bytes.length; p++) {
      if (dv.getUint32(p, true) === 0x02014b50 && dv.getUint16(p + 28, true) === enc.length && bytes.subarray(p + 46, p + 46 + enc.length).every((b, i) => b === enc[i])) {
        return { cd: p, local: dv.getUint32(p + 42, true) };
      }
    }
    throw new Error(`no ${name}`);
  }

  it('inflates honest deflated entries and refuses bombs by limit, by ratio and by lying sizes', () => {
    const zeros = new Uint8Array(4 << 20);
    const pkl = statePickle([{ name: 'w', key: '0', numel: zeros.length / 4, size: [zeros.length / 4] }]);
    const file = buildPth(pkl, { '0': zeros }, { level: 6 });
    expect(file.length).toBeLessThan(20_000);
    expect(readPth(file, 'z.pth').get('w')!.data.length).toBe(1 << 20);
    expect(refusal(() => readPth(file, 'z.pth', { zipLimits: { maxInflatedBytes: 1 << 20 } })).message).toMatch(
      /z\.pth: entry 'archive\/data\/0' would inflate to 4194304 bytes, over the limit of 1048576/,
    );
    // The limit also bounds the total over entries (many entries could share one compressed run).
    const pkl2 = statePickle([
      { name: 'a', key: '0', numel: 3 << 18, size: [3 << 18] },
      { name: 'b', key: '1', numel: 3 << 18, size: [3 << 18] },
    ]);
    const two = buildPth(pkl2, { '0': new Uint8Array(3 << 20), '1': new Uint8Array(3 << 20) }, { level: 6 });
    expect(readPth(two, 't.pth', { zipLimits: { maxInflatedBytes: 7 << 20 } }).size).toBe(2);
    expect(refusal(() => readPth(two, 't.pth', { zipLimits: { maxInflatedBytes: 5 << 20 } })).message).toMatch(
      /entry 'archive\/data\/1' \(3145728 bytes\) would bring the inflated total to 629\d{4} bytes, over the limit of 5242880/,
    );
    const { cd } = locate(file, 'archive/data/0');
    const dv = new DataView(file.buffer);
    const lie = file.slice();
    new DataView(lie.buffer).setUint32(cd + 24, 1 << 16, true);
    expect(refusal(() => readPth(lie, 'lie.pth', { verifyCrc: false })).message).toMatch(/entry 'archive\/data\/0' inflates past its declared 65536 bytes \(zip bomb\?\)/);
    const ratio = file.slice();
    new DataView(ratio.buffer).setUint32(cd + 24, 100_000_000, true);
    expect(refusal(() => readPth(ratio, 'r.pth')).message).toMatch(/declares 100000000 bytes from \d+ compressed: impossible ratio \(zip bomb\?\)/);
    expect(dv.getUint32(cd + 24, true)).toBe(zeros.length);
  });

  it('refuses duplicate, encrypted, unsupported-method and out-of-file entries', () => {
    const base = buildPth(statePickle([{ name: 'w', key: '0', numel: 1, size: [1] }]), { '0': f32Bytes([1]), '1': f32Bytes([2]) });
    const patch = (f: (b: Uint8Array, dv: DataView, cd: number, local: number) => void) => {
      const b = base.slice();
      const { cd, local } = locate(b, 'archive/data/1');
      f(b, new DataView(b.buffer), cd, local);
      return b;
    };
    const dup = patch((b, _dv, cd) => (b[cd + 46 + 'archive/data/'.length] = '0'.charCodeAt(0)));
    expect(refusal(() => readPth(dup, 'd.pth')).message).toMatch(/d\.pth: duplicate entry 'archive\/data\/0'/);
    const enc = patch((_b, dv, cd) => dv.setUint16(cd + 8, 1, true));
    expect(refusal(() => readPth(enc, 'e.pth')).message).toMatch(/entry 'archive\/data\/1' is encrypted/);
    const far = patch((_b, dv, cd) => dv.setUint32(cd + 42, 0x7fff0000, true));
    expect(refusal(() => readPth(far, 'f.pth')).message).toMatch(/entry 'archive\/data\/1': no local header/);
    const big = patch((_b, dv, cd) => {
      dv.setUint32(cd + 20, 0x7fff0000, true);
      dv.setUint32(cd + 24, 0x7fff0000, true);
    });
    expect(refusal(() => readPth(big, 'b.pth')).message).toMatch(/entry 'archive\/data\/1': data \[\d+, \d+\) is past the end of the file/);
    const meth = patch((_b, dv, cd) => dv.setUint16(cd + 10, 12, true));
    expect(() => readPth(meth, 'm.pth')).not.toThrow(); // entry 1 is never read
    const z = new ZipArchive(meth, 'm.pth');
    expect(refusal(() => z.read('archive/data/1')).message).toMatch(/unsupported compression method 12/);
    expect(refusal(() => z.read('nope')).message).toMatch(/missing entry 'nope'/);
  });
});

describe('error classes', () => {
  it('all derive from CheckpointError and carry the source', () => {
    for (const e of [new PthError('x', 'a'), new PickleError('x', 'a'), new ZipError('x', 'a')]) {
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.source).toBe('a');
      expect(e.message).toBe('a: x');
    }
  });
});
