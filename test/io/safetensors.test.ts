import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors';
import { SafetensorsError, f32Tensor, readSafetensors, toFloat32, writeSafetensors, type SafeTensor } from '../../src/io/safetensors';

/** A safetensors file with a hand-written header and `body` bytes of data. */
function file(header: unknown, body = 0, raw?: string): Uint8Array {
  const h = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

function refusal(bytes: Uint8Array): string {
  try {
    readSafetensors(bytes, 'bad.safetensors');
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected a SafetensorsError');
}

const t = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors', () => {
  it('round-trips tensors and metadata, 8-byte aligned', () => {
    const a = f32Tensor(new Float32Array([1, -2.5, 3e-8]), [3]);
    const b: SafeTensor = { dtype: 'I64', shape: [2], data: new Uint8Array(new BigInt64Array([-1n, 2n ** 62n]).buffer) };
    const bytes = writeSafetensors(new Map([['a', a], ['b', b]]), { note: 'x' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const f = readSafetensors(bytes, 'rt');
    expect([...f.tensors.keys()]).toEqual(['a', 'b']);
    expect(Array.from(toFloat32(f.tensors.get('a')!))).toEqual(Array.from(new Float32Array([1, -2.5, 3e-8])));
    expect(Array.from(new BigInt64Array(f.tensors.get('b')!.data.slice().buffer))).toEqual([-1n, 2n ** 62n]);
    expect(f.metadata).toEqual({ note: 'x' });
  });

  it('returns copies, also from a Node Buffer (whose slice() does not copy)', () => {
    const buf = Buffer.from(writeSafetensors({ a: f32Tensor(new Float32Array([1, 2]), [2]) }));
    const before = Buffer.from(buf);
    const f = readSafetensors(buf, 'buf');
    f.tensors.get('a')!.data.fill(0xff);
    expect(buf.equals(before)).toBe(true);
  });

  it('reads the PyTorch-written goldens', () => {
    const f = readSafetensors(new Uint8Array(readFileSync(new URL('../golden/pth/tiny.expected.safetensors', import.meta.url))), 'tiny');
    expect(f.tensors.get('1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(f.tensors.get('0.weight')!.shape).toEqual([4, 3, 3, 3]);
  });

  it('accepts entries listed out of order when their data still tiles the buffer', () => {
    const f = readSafetensors(file({ b: t('F32', [1], 4, 8), a: t('F32', [1], 0, 4) }, 8));
    expect(f.tensors.get('b')!.data.length).toBe(4);
  });

  it('refuses overlapping, gapped and short-covering data', () => {
    expect(refusal(file({ a: t('F32', [2], 0, 8), b: t('F32', [1], 4, 8) }, 8))).toMatch(/bad\.safetensors: tensor 'b': data \[4, 8\) overlaps the previous tensor \(which ends at 8\)/);
    expect(refusal(file({ a: t('F32', [1], 0, 4), b: t('F32', [1], 8, 12) }, 12))).toMatch(/tensor 'b': gap in the data before byte 8/);
    expect(refusal(file({ a: t('F32', [1], 0, 4) }, 8))).toMatch(/data section is 8 bytes but the tensors cover 4/);
    expect(refusal(file({ a: t('F32', [1], 0, 4), b: t('F32', [1], 0, 4) }, 4))).toMatch(/overlaps/);
  });

  it('refuses duplicate names (which JSON.parse would merge)', () => {
    const raw = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(refusal(file(null, 8, raw))).toMatch(/duplicate tensor name "a"/);
    // The same key inside different entries is not a duplicate.
    const ok = '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(readSafetensors(file(null, 8, ok)).tensors.size).toBe(2);
    const esc = '{"a\\"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a\\"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    expect(refusal(file(null, 4, esc))).toMatch(/duplicate tensor name "a\\"b"/);
  });

  it('refuses headers that are not objects, bad entries and non-string metadata', () => {
    for (const h of ['[]', '5', 'null', '"s"']) expect(refusal(file(null, 0, h))).toMatch(/header is not a JSON object/);
    expect(refusal(file(null, 0, '{"a":'))).toMatch(/not valid UTF-8 JSON/);
    expect(refusal(file({ a: null }))).toMatch(/tensor 'a': entry is null, not an object/);
    expect(refusal(file({ a: [1] }))).toMatch(/tensor 'a': entry is \[1\], not an object/);
    expect(refusal(file({ __metadata__: { epoch: 3 } }))).toMatch(/__metadata__ value for "epoch" is 3, not a string/);
    expect(refusal(file({ __metadata__: ['x'] }))).toMatch(/__metadata__ is not an object/);
    expect(refusal(file({ a: t('constructor', [1], 0, 4) }, 4))).toMatch(/unknown dtype "constructor"/);
    expect(refusal(file({ a: t('F32', [-1], 0, 4) }, 4))).toMatch(/bad shape \[-1\]/);
    expect(refusal(file({ a: t('F32', [1.5], 0, 4) }, 4))).toMatch(/bad shape/);
    expect(refusal(file({ a: t('F32', [1], 4, 0) }, 4))).toMatch(/bad data_offsets \[4,0\]/);
    expect(refusal(file({ a: t('F32', [2], 0, 4) }, 4))).toMatch(/4 bytes for F32 \[2\] \(needs 8\)/);
    expect(refusal(file({ a: t('F32', [1], 0, 8) }, 4))).toMatch(/past end of data/);
  });

  it('refuses shapes whose element count overflows', () => {
    // A zero in the shape makes the product 0 however large the other dims are.
    expect(readSafetensors(file({ a: t('F32', [2 ** 40, 2 ** 40, 0, 2 ** 40], 0, 0) })).tensors.get('a')!.data.length).toBe(0);
    expect(refusal(file({ a: t('F64', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }, 4))).toMatch(/shape \[1073741824,1073741824,1073741824\] has too many elements/);
    expect(refusal(file({ a: t('F32', new Array(65).fill(1), 0, 4) }, 4))).toMatch(/bad shape/);
  });

  it('refuses truncated files and huge header lengths', () => {
    expect(refusal(new Uint8Array(3))).toMatch(/truncated: 3 bytes/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(refusal(huge)).toMatch(/header length 9223372036854775808 exceeds 100000000/);
    new DataView(huge.buffer).setBigUint64(0, 100n, true);
    expect(refusal(huge)).toMatch(/truncated: header needs 100 bytes, file has 8/);
  });

  it('writer refuses inconsistent tensors, reserved names and non-string metadata', () => {
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(4) } })).toThrow(/tensor 'a': 4 bytes for F32 \[2\] \(needs 8\)/);
    expect(() => writeSafetensors({ __metadata__: f32Tensor(new Float32Array(1), [1]) })).toThrow(/reserved/);
    expect(() => writeSafetensors({}, { n: 3 as unknown as string })).toThrow(/metadata "n" is not a string/);
  });
});
