// The WebAssembly runtime for tests: one per thread count per test file (1 thread: no workers;
// 2 threads: the caller and one worker on shared memory), disposed after the file.
import { afterAll } from 'vitest';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';

const runtimes = new Map<number, Promise<WasmRuntime>>();

/** The test file's runtime with `threads` threads. */
export function testRuntime(threads: number): Promise<WasmRuntime> {
  let r = runtimes.get(threads);
  if (!r) runtimes.set(threads, (r = WasmRuntime.create({ threads })));
  return r;
}

afterAll(async () => {
  for (const r of runtimes.values()) await (await r).dispose();
  runtimes.clear();
});

/** Thread counts every kernel test runs with. */
export const THREADS = [1, 2];

/** Copies `data` into a new region of the runtime's memory; returns its byte offset. */
export function put(rt: WasmRuntime, data: ArrayLike<number>, label = 'tensor'): number {
  const p = rt.arena.alloc(data.length * 4, label);
  rt.write(p, data);
  return p;
}

/** A new region of `n` f32 filled with `value`. */
export function filled(rt: WasmRuntime, n: number, value = 0, label = 'tensor'): number {
  const p = rt.arena.alloc(n * 4, label);
  rt.f32(p, n).fill(value);
  return p;
}

/** Runs `fn` and then frees what it allocated from the arena. */
export async function scoped<T>(rt: WasmRuntime, fn: () => T | Promise<T>): Promise<T> {
  const m = rt.arena.mark();
  try {
    return await fn();
  } finally {
    rt.arena.release(m);
  }
}
