import { expect, it } from 'vitest';
import wasmBytes from '../../build/preprocess.wasm';

it('an AssemblyScript export round-trips data through wasm memory', async () => {
  const { instance } = await WebAssembly.instantiate(wasmBytes as BufferSource, { env: { abort: () => { throw new Error('abort'); } } });
  const ex = instance.exports as { memory: WebAssembly.Memory; reserve(n: number): number; addBytes(p: number, n: number, k: number): void };
  const ptr = ex.reserve(64);
  const view = new Uint8Array(ex.memory.buffer, ptr, 64);
  for (let i = 0; i < 64; i++) view[i] = i * 3;
  ex.addBytes(ptr, 64, 7);
  const out = new Uint8Array(ex.memory.buffer, ptr, 64);
  for (let i = 0; i < 64; i++) expect(out[i]).toBe((i * 3 + 7) & 255);
});
