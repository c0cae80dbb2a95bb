// Seeded mutation fuzzing of the checkpoint readers: every mutated file must either load into a
// well-formed state dict or be refused with a CheckpointError. Anything else (TypeError,
// RangeError from a huge allocation, a hang) is a reader bug.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors';
import { readPth } from '../../src/io/pth';
import { readSafetensors } from '../../src/io/safetensors';
import { checkedNumel } from '../../src/io/dtype';
import { ZipArchive } from '../../src/io/zip';
import { buildPth, rng } from './build';
import { byteMutations, int } from '../helpers/mutations';

// WEBFCN_FUZZ_CASES raises the count for a deeper run; the suite keeps it small.
const CASES = Number(process.env.WEBFCN_FUZZ_CASES ?? 300);
const dir = new URL('../golden/pth/', import.meta.url);
const load = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
// Lower than the defaults only so that no case spends seconds filling a legal but large tensor.
const LIMITS = { maxTensorElements: 1 << 20, maxTotalBytes: 1 << 24 };
type Mutation = (b: Uint8Array, r: () => number) => { input: Uint8Array; what: string };
const mutations: Mutation[] = byteMutations;

interface Tally {
  ok: number;
  refused: number;
}

/** Runs `read` on CASES mutations of `base`; fails on any non-CheckpointError or a malformed result. */
function fuzz(label: string, base: Uint8Array, seed: number, read: (b: Uint8Array, r: () => number) => Map<string, { shape: number[]; data: { length: number } }>, extra: Mutation[] = []): Tally {
  const r = rng(seed);
  const all = [...mutations, ...extra];
  const tally: Tally = { ok: 0, refused: 0 };
  for (let i = 0; i < CASES; i++) {
    const { input: bytes, what } = all[int(r, all.length)]!(base, r);
    const t0 = performance.now();
    try {
      const sd = read(bytes, r);
      for (const [k, t] of sd) expect(t.data.length, `${label} case ${i} (${what}): tensor ${k}`).toBe(checkedNumel(t.shape));
      tally.ok++;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw new Error(`${label} case ${i} (${what}): ${(e as Error).name}: ${(e as Error).message}`);
      tally.refused++;
    }
    expect(performance.now() - t0, `${label} case ${i} (${what}) time`).toBeLessThan(2000);
  }
  console.log(`${label}: ${CASES} cases, ${tally.ok} loaded, ${tally.refused} refused`);
  return tally;
}

describe('fuzz', () => {
  it(`.pth files: ${CASES} mutated archives (CRC checked or not)`, () => {
    const files = [load('tiny.pth'), load('views.pth')];
    const t = fuzz('pth archive', files[0]!, 1, (b, r) => readPth(b, 'fuzz.pth', { ...LIMITS, verifyCrc: r() < 0.5 }));
    const u = fuzz('pth archive (views)', files[1]!, 2, (b, r) => readPth(b, 'fuzz.pth', { ...LIMITS, verifyCrc: r() < 0.5 }));
    expect(t.refused + u.refused).toBeGreaterThan(0);
    expect(t.ok + u.ok).toBeGreaterThan(0);
  });

  it(`.pth pickles: ${CASES} mutated data.pkl in otherwise valid archives`, () => {
    const src = new ZipArchive(load('views.pth'), 'views.pth');
    const storages: Record<string, Uint8Array> = {};
    for (const name of src.entries.keys()) if (name.startsWith('views/data/')) storages[name.slice('views/data/'.length)] = src.read(name);
    const pkl = src.read('views/data.pkl');
    // Extra weight on bit flips: they keep the pickle parseable more often, reaching the tensor checks.
    const flip = mutations[1]!;
    const t = fuzz('pth pickle', pkl, 3, (b) => readPth(buildPth(b, storages), 'fuzz.pth', LIMITS), [flip, flip, flip, flip]);
    expect(t.refused).toBeGreaterThan(0);
    expect(t.ok).toBeGreaterThan(0);
  });

  it(`.safetensors: ${CASES} mutated files, including header numbers made huge`, () => {
    const base = load('views.expected.safetensors');
    const headerLen = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(0, true));
    const headerNumbers: Mutation = (b, r) => {
      const text = new TextDecoder().decode(b.subarray(8, 8 + headerLen));
      const nums = [...text.matchAll(/\d+/g)];
      const m = nums[int(r, nums.length)]!;
      const v = ['4294967296', '9007199254740993', '1e300', '-1', '0', String(1 + int(r, 100))][int(r, 6)]!;
      const h = new TextEncoder().encode(text.slice(0, m.index) + v + text.slice(m.index! + m[0].length));
      const out = new Uint8Array(8 + h.length + b.length - 8 - headerLen);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      out.set(b.subarray(8 + headerLen), 8 + h.length);
      return { input: out, what: `header number ${m[0]} -> ${v}` };
    };
    const t = fuzz('safetensors', base, 4, (b) => {
      const f = readSafetensors(b, 'fuzz.safetensors');
      const m = new Map<string, { shape: number[]; data: { length: number } }>();
      const bytesPer: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, U16: 2, U8: 1, I8: 1, BOOL: 1 };
      for (const [k, x] of f.tensors) m.set(k, { shape: x.shape, data: { length: x.data.length / bytesPer[x.dtype]! } });
      return m;
    }, [headerNumbers, headerNumbers]);
    expect(t.refused).toBeGreaterThan(0);
    expect(t.ok).toBeGreaterThan(0);
  });
});
