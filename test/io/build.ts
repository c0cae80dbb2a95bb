// Builders for hand-made checkpoints in the io tests: a protocol-2 pickle writer and a zip wrapper.

import { zipSync, type Zippable } from 'fflate';

/** Appends pickle opcodes; `bytes()` returns the pickle. */
export class PickleWriter {
  private out: number[] = [0x80, 2];
  raw(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  str(s: string): this {
    const u = new TextEncoder().encode(s);
    this.raw(0x58, u.length & 0xff, (u.length >> 8) & 0xff, (u.length >> 16) & 0xff, u.length >>> 24);
    this.out.push(...u);
    return this;
  }
  int(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.raw(0x4a, ...b);
  }
  global(module: string, name: string): this {
    this.out.push(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    return this;
  }
  mark(): this {
    return this.raw(0x28);
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

export interface TensorSpec {
  name: string;
  key: string;
  storage?: string; // torch storage class, default FloatStorage
  numel: number;
  offset?: number;
  size: number[];
  stride?: number[];
}

/** Row-major strides of `size`. */
export function contiguousStride(size: number[]): number[] {
  const s = new Array<number>(size.length);
  for (let d = size.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= size[d]!;
  }
  return s;
}

/** The pickle torch.save writes for an OrderedDict of tensors (protocol 2, no memo). */
export function statePickle(tensors: TensorSpec[]): Uint8Array {
  const w = new PickleWriter().global('collections', 'OrderedDict').raw(0x29, 0x52).mark();
  for (const t of tensors) {
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', t.storage ?? 'FloatStorage').str(t.key).str('cpu').int(t.numel).raw(0x74, 0x51);
    w.int(t.offset ?? 0).mark();
    for (const d of t.size) w.int(d);
    w.raw(0x74).mark();
    for (const d of t.stride ?? contiguousStride(t.size)) w.int(d);
    w.raw(0x74, 0x89).global('collections', 'OrderedDict').raw(0x29, 0x52, 0x74, 0x52);
  }
  return w.raw(0x75, 0x2e).bytes();
}

/** A torch.save-shaped zip: <prefix>/data.pkl, <prefix>/data/<key>, <prefix>/version, extra entries. */
export function buildPth(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { prefix?: string; extra?: Record<string, Uint8Array>; level?: 0 | 6 } = {}): Uint8Array {
  const p = opts.prefix ?? 'archive';
  const level = opts.level ?? 0;
  const files: Zippable = { [`${p}/data.pkl`]: [pkl, { level }], [`${p}/version`]: [new TextEncoder().encode('3\n'), { level }] };
  for (const [k, v] of Object.entries(storages)) files[`${p}/data/${k}`] = [v, { level }];
  for (const [k, v] of Object.entries(opts.extra ?? {})) files[`${p}/${k}`] = [v, { level }];
  return zipSync(files);
}

/** Little-endian bytes of float32 values. */
export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Seeded PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
