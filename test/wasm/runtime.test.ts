// The WebAssembly runtime: build selection (relaxed SIMD only where validated), the thread pool
// (every tile done exactly once, errors in any thread reported, workers stopped by dispose), the
// single-threaded fallback without shared memory, and the arena's 4 GiB refusal before growing.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fill } from '../../src/backends/wasm/gemm.js';
import { Arena, WasmMemoryError, WASM32_MAX_BYTES } from '../../src/backends/wasm/memory.js';
import { Op, relaxedSimdSupported, WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { scoped, testRuntime } from '../helpers/wasm.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('thread pool', () => {
  it('runs with the caller plus one worker on shared memory, and says so', async () => {
    const rt = await testRuntime(2);
    expect(rt.threads).toBe(2);
    expect(rt.shared).toBe(true);
    expect(rt.describe()).toMatch(/^wasm (simd128|relaxed-simd), 2 threads, shared memory/);
  });

  it('hands every tile to exactly one thread (a 10 M-float fill, many times over)', async () => {
    const rt = await testRuntime(2);
    await scoped(rt, () => {
      const n = 10_000_003;
      const p = rt.arena.alloc(n * 4 + 64, 'fill');
      const guard = rt.f32(p + n * 4, 16);
      guard.fill(-7);
      for (let rep = 0; rep < 20; rep++) {
        fill(rt, p, n, rep);
        const v = rt.f32(p, n);
        for (let i = 0; i < n; i += 9973) if (v[i] !== rep) expect(v[i], `rep ${rep} index ${i}`).toBe(rep);
        expect(v[n - 1]).toBe(rep);
      }
      expect(Array.from(rt.f32(p + n * 4, 16))).toEqual(new Array(16).fill(-7));
    });
  });

  it.each([2, 4])('lets workers join long ops and finishes short ones without waiting for a sleeping worker (%i threads)', async (threads) => {
    const rt = threads === 2 ? await testRuntime(2) : await WasmRuntime.create({ threads });
    await scoped(rt, () => {
      const n = 8_000_000;
      const p = rt.arena.alloc(n * 4, 'fill');
      const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      // After a pause the workers sleep; a long op still gets their help (a few ms of tiles against
      // a wake-up of tens of microseconds), a tiny one may finish before they wake. Either way every
      // element is written by exactly one thread, and the counters say which ops had a worker.
      let longJoined = 0;
      for (let rep = 0; rep < 6; rep++) {
        sleep(2);
        const j0 = rt.stats.joined;
        fill(rt, p, n, rep);
        longJoined += rt.stats.joined - j0;
        const v = rt.f32(p, n);
        for (let i = 0; i < n; i += 4999) if (v[i] !== rep) expect(v[i], `rep ${rep} index ${i}`).toBe(rep);
        expect(v[n - 1]).toBe(rep);
        sleep(2);
        fill(rt, p, 5, -1 - rep);
        expect(Array.from(rt.f32(p, 6))).toEqual([-1 - rep, -1 - rep, -1 - rep, -1 - rep, -1 - rep, rep]);
      }
      // (Not all 6: on a loaded machine a woken worker can wait longer for a core than the op lasts.)
      expect(longJoined).toBeGreaterThanOrEqual(3);
      // Back-to-back tiny ops (workers polling): many short dispatches, each one correct.
      for (let rep = 0; rep < 2000; rep++) fill(rt, p + (rep % 64) * 4, 1, rep);
      const last = rt.f32(p, 64);
      for (let k = 0; k < 64; k++) expect(last[k]).toBe(k + 64 * Math.floor((1999 - k) / 64)); // the last rep ≡ k (mod 64)
    });
    if (threads !== 2) await rt.dispose();
  });

  it('reports a trap in any thread, then keeps working', async () => {
    for (const threads of [1, 2]) {
      const rt = await testRuntime(threads);
      // Every thread's tiles read past the end of memory: both the caller and the worker trap.
      expect(() => rt.run('packA', [2 ** 32 - 64, 600, 600, 600, 1, 600, 0, rt.arena.top])).toThrow(/wasm kernel packA failed.*(out of bounds|thread)/);
      await scoped(rt, () => {
        const p = rt.arena.alloc(1000 * 4, 'after');
        fill(rt, p, 1000, 3);
        expect(rt.f32(p, 1000).every((v) => v === 3)).toBe(true);
      });
    }
  });

  it('rejects unknown ops, too many arguments and bad thread counts', async () => {
    const rt = await testRuntime(1);
    expect(() => rt.run('nope' as 'fill', [])).toThrow(/unknown op nope/);
    expect(() => rt.run('fill', new Array(40).fill(0))).toThrow(/40 arguments/);
    await expect(WasmRuntime.create({ threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await expect(WasmRuntime.create({ threads: 129 })).rejects.toThrow(/at most 128 threads, got 129/);
  });

  it('stops its workers on dispose and refuses to run afterwards', async () => {
    const rt = await WasmRuntime.create({ threads: 3 });
    expect(rt.threads).toBe(3);
    const p = rt.arena.alloc(4096, 'x');
    fill(rt, p, 1024, 1);
    await rt.dispose();
    expect(() => fill(rt, p, 1024, 2)).toThrow(/after dispose/);
  });
});

describe('op table', () => {
  it('mirrors the op ids of assembly/kernels/index.ts, and every id is dispatched there', () => {
    const src = readFileSync(new URL('../../assembly/kernels/index.ts', import.meta.url), 'utf8');
    const ids = [...src.matchAll(/export const OP_(\w+) = (\d+);/g)].map(([, name, id]) => [
      name!.toLowerCase().replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), Number(id),
    ] as const);
    expect(Object.fromEntries(ids)).toEqual(Op);
    for (const [name] of ids) expect(src, `case for ${name}`).toMatch(new RegExp(`case OP_\\w+: ${name}\\(ctl\\); break;`));
  });
});

describe('build selection', () => {
  it('falls back to one thread and the unshared build without cross-origin isolation, saying why', async () => {
    const g = globalThis as { crossOriginIsolated?: boolean };
    g.crossOriginIsolated = false;
    try {
      const rt = await WasmRuntime.create({ threads: 2 });
      expect(rt.threads).toBe(1);
      expect(rt.shared).toBe(false);
      expect(rt.simd).toBe('simd128');
      expect(rt.describe()).toMatch(/1 thread \(shared memory is unavailable.*single-threaded\)/);
      const p = rt.arena.alloc(400, 'x');
      fill(rt, p, 100, 5);
      expect(rt.f32(p, 100).every((v) => v === 5)).toBe(true);
      await rt.dispose();
    } finally {
      delete g.crossOriginIsolated;
    }
  });

  it('uses plain SIMD128 where relaxed SIMD does not validate (Node 20 without the flag)', async () => {
    const rt = await testRuntime(1);
    expect(rt.simd).toBe(relaxedSimdSupported() ? 'relaxed-simd' : 'simd128');
    if (process.versions.node.startsWith('20.')) expect(relaxedSimdSupported()).toBe(false);
  });

  it('chooses the relaxed-SIMD build when the runtime validates it, and its GEMM is right', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--experimental-wasm-relaxed-simd', '--import', './tools/register.js', 'test/wasm/relaxed-child.ts',
    ], { cwd: root });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { simd: string; threads: number; err: number };
    expect(r.simd).toBe('relaxed-simd');
    expect(r.threads).toBe(2);
    // K = 300 products of |a|,|b| ≤ 1: f32 (or fused) sums stay within 1e-4 of float64.
    expect(r.err).toBeLessThan(1e-4);
  });
});

describe('arena', () => {
  it('aligns regions to 64 bytes and reuses them after release', async () => {
    const rt = await testRuntime(1);
    const m = rt.arena.mark();
    const [a, b, c] = rt.arena.plan([{ label: 'a', bytes: 3 }, { label: 'b', bytes: 100 }, { label: 'c', bytes: 0 }]);
    expect([a! % 64, b! % 64, c! % 64]).toEqual([0, 0, 0]);
    expect(b! - a!).toBe(64);
    expect(c! - b!).toBe(128);
    rt.arena.release(m);
    expect(rt.arena.alloc(8, 'd')).toBe(a);
    rt.arena.release(m);
  });

  it('refuses a plan over 4 GiB before growing memory, naming the largest regions', async () => {
    const rt = await testRuntime(1);
    const before = rt.memory.buffer.byteLength, top = rt.arena.top;
    expect(() => rt.arena.plan([
      { label: 'activations', bytes: 3 * 2 ** 30 },
      { label: 'im2col', bytes: 1.5 * 2 ** 30 },
      { label: 'small', bytes: 1024 },
    ])).toThrow(WasmMemoryError);
    expect(() => rt.arena.plan([{ label: 'activations', bytes: 3 * 2 ** 30 }, { label: 'im2col', bytes: 1.5 * 2 ** 30 }]))
      .toThrow(/over the 4096\.0 MiB .*largest regions: activations 3072\.0 MiB, im2col 1536\.0 MiB/);
    expect(rt.memory.buffer.byteLength).toBe(before);
    expect(rt.arena.top).toBe(top);
    expect(rt.arena.limit).toBe(WASM32_MAX_BYTES);
  });

  it('honours a smaller maximum', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16 });
    const arena = new Arena(memory, 0, 16 * 65536);
    expect(arena.alloc(65536 * 2, 'fits')).toBe(0);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(2 * 65536);
    expect(() => arena.alloc(15 * 65536, 'too big')).toThrow(/too big 960\.0 MiB|largest regions: too big/);
    expect(() => arena.alloc(-1, 'negative')).toThrow(/invalid size/);
  });
});
