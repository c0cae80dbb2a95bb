// CPU preprocessing compiled to WebAssembly: crop, normalise, colour map. Memory is managed by
// the host: it reserves one region (`reserve`) and passes (ptr, len) into it.

/** Grows linear memory so that at least `bytes` bytes exist past the heap base; returns the base. */
export function reserve(bytes: usize): usize {
  const base = (__heap_base + 15) & ~15;
  const need = base + bytes;
  const have = <usize>memory.size() << 16;
  if (need > have) memory.grow(<i32>((need - have + 0xffff) >>> 16));
  return base;
}

/** Adds `k` to `n` bytes at `ptr` in place (round-trip check of the wasm build). */
export function addBytes(ptr: usize, n: usize, k: u8): void {
  for (let i: usize = 0; i < n; i++) store<u8>(ptr + i, load<u8>(ptr + i) + k);
}
