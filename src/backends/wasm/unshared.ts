// The single-threaded kernels build from the shared one. The two asc builds (asconfig.json's
// `kernels` and `kernels-single`) differ in one byte: the limits flag of the imported memory
// (3: shared with a maximum; 1: unshared with a maximum). Atomic instructions validate on unshared
// memory too, so flipping that flag gives the single build, and bundles carry one copy instead of
// two (test/wasm/unshared.test.ts checks the result equals the asc build byte for byte).

/** Reads an unsigned LEB128 at `at`; returns the value and the offset after it. */
function leb(b: Uint8Array, at: number, what: string): [number, number] {
  let v = 0, shift = 0;
  for (;;) {
    if (at >= b.length) throw new Error(`wasm module: truncated ${what}`);
    const byte = b[at++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return [v, at];
    shift += 7;
    if (shift > 35) throw new Error(`wasm module: ${what} is not a valid LEB128 u32`);
  }
}

/**
 * A copy of `bytes` (a module importing one shared memory with a maximum) whose memory import is
 * unshared. Throws when the module has no such import.
 */
export function unsharedMemoryBuild(bytes: Uint8Array): Uint8Array {
  const b = bytes;
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d || b[4] !== 1) {
    throw new Error('wasm module: not a version-1 WebAssembly binary');
  }
  let at = 8;
  while (at < b.length) {
    const id = b[at]!;
    const [size, body] = leb(b, at + 1, 'section size');
    const end = body + size;
    if (end > b.length) throw new Error(`wasm module: section ${id} runs past the end`);
    if (id === 2) {
      let [count, p] = leb(b, body, 'import count');
      for (; count > 0; count--) {
        let n: number;
        [n, p] = leb(b, p, 'module name');
        p += n;
        [n, p] = leb(b, p, 'field name');
        p += n;
        const kind = b[p++];
        if (kind === 0) [, p] = leb(b, p, 'function type');
        else if (kind === 1 || kind === 2) {
          if (kind === 1) p++; // the table's reference type
          const flags = b[p]!;
          if (kind === 2) {
            if (flags !== 3) throw new Error(`wasm module: the memory import is not shared with a maximum (limits flag ${flags})`);
            const out = b.slice();
            out[p] = 1;
            return out;
          }
          [, p] = leb(b, p + 1, 'table minimum');
          if (flags & 1) [, p] = leb(b, p, 'table maximum');
        } else if (kind === 3) p += 2;
        else if (kind === 4) [, p] = leb(b, p + 1, 'tag type');
        else throw new Error(`wasm module: unknown import kind ${kind}`);
      }
    }
    at = end;
  }
  throw new Error('wasm module: it imports no memory');
}
