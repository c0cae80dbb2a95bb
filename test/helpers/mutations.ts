// Seeded byte mutations of a file, shared by every fuzz test (the checkpoint readers in test/io
// and the image, dataset and model-file readers in test/hardening).

export const int = (r: () => number, n: number) => Math.floor(r() * n);
export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[int(r, xs.length)]!;

export interface Mutant<T = Uint8Array> {
  input: T;
  what: string;
}

export type Mutation = (b: Uint8Array, r: () => number) => Mutant;

export const HUGE_U32 = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000000, 0xffff, 0];

/** Generic byte mutations: truncation, bit flips, a huge big- or little-endian u32, insertions, deletions. */
export const byteMutations: Mutation[] = [
  (b, r) => {
    const n = int(r, b.length);
    return { input: b.slice(0, n), what: `truncate to ${n}` };
  },
  (b, r) => {
    const c = b.slice();
    const flips: number[] = [];
    for (let k = 1 + int(r, 4); k > 0; k--) {
      const bit = int(r, c.length * 8);
      c[bit >> 3]! ^= 1 << (bit & 7);
      flips.push(bit);
    }
    return { input: c, what: `flip bits ${flips}` };
  },
  (b, r) => {
    const c = b.slice();
    const at = int(r, Math.max(1, c.length - 4));
    const v = pick(r, HUGE_U32);
    const le = r() < 0.5;
    new DataView(c.buffer).setUint32(at, v, le);
    return { input: c, what: `u32${le ? 'le' : 'be'} ${v} at ${at}` };
  },
  (b, r) => {
    const at = int(r, b.length);
    const n = 1 + int(r, 8);
    const c = new Uint8Array(b.length + n);
    c.set(b.subarray(0, at));
    for (let i = 0; i < n; i++) c[at + i] = int(r, 256);
    c.set(b.subarray(at), at + n);
    return { input: c, what: `insert ${n} bytes at ${at}` };
  },
  (b, r) => {
    const n = Math.min(b.length, 1 + int(r, 8));
    const at = int(r, b.length - n + 1);
    const c = new Uint8Array(b.length - n);
    c.set(b.subarray(0, at));
    c.set(b.subarray(at + n), at);
    return { input: c, what: `delete ${n} bytes at ${at}` };
  },
];
