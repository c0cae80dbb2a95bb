// The single-threaded kernels build made at run time from the shared one (src/backends/wasm/
// unshared.ts) against the asc build of asconfig.json's `kernels-single` target, and its errors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { unsharedMemoryBuild } from '../../src/backends/wasm/unshared.js';

const shared = new Uint8Array(readFileSync('build/kernels.wasm'));
const single = new Uint8Array(readFileSync('build/kernels-single.wasm'));

describe('unsharedMemoryBuild', () => {
  it('turns kernels.wasm into kernels-single.wasm byte for byte, leaving its input alone', async () => {
    const before = shared.slice();
    const made = unsharedMemoryBuild(shared);
    expect(made.length).toBe(single.length);
    expect(Buffer.compare(Buffer.from(made), Buffer.from(single))).toBe(0);
    expect(Buffer.compare(Buffer.from(shared), Buffer.from(before))).toBe(0);
    expect(Buffer.compare(Buffer.from(made), Buffer.from(shared))).not.toBe(0);
    // It instantiates on an unshared memory, which the shared build refuses.
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
    const env = { memory, abort: () => {} };
    await expect(WebAssembly.instantiate(made, { env })).resolves.toBeTruthy();
    await expect(WebAssembly.instantiate(shared, { env })).rejects.toThrow();
  });

  it('refuses modules without a shared memory import, with a reason', () => {
    // (module (import "env" "memory" (memory 1 2))): an unshared memory import.
    const unshared = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 0x10, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 1, 1, 2]);
    expect(WebAssembly.validate(unshared)).toBe(true);
    expect(() => unsharedMemoryBuild(unshared)).toThrow(/not shared with a maximum \(limits flag 1\)/);
    // (module): no imports at all.
    expect(() => unsharedMemoryBuild(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toThrow(/imports no memory/);
    expect(() => unsharedMemoryBuild(Uint8Array.from([1, 2, 3]))).toThrow(/not a version-1 WebAssembly binary/);
    expect(() => unsharedMemoryBuild(shared.subarray(0, 20))).toThrow(/runs past the end|truncated/);
  });
});
