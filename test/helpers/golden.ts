// The PyTorch goldens written by tools/golden/ (test/golden/<name>.safetensors): float tensors,
// integer tensors and the JSON `cases` metadata.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';

/** A golden file by name: float tensors, integer tensors and the JSON `cases` metadata. */
export function loadGolden(name: string) {
  const path = fileURLToPath(new URL(`../golden/${name}.safetensors`, import.meta.url));
  const file = readSafetensors(new Uint8Array(readFileSync(path)), `${name}.safetensors`);
  const get = (key: string) => {
    const t = file.tensors.get(key);
    if (!t) throw new Error(`${name}: no tensor '${key}'`);
    return t;
  };
  return {
    f32: (key: string): Float32Array => toFloat32(get(key)),
    /** Integer tensor as u32 (negative values would wrap: the goldens only hold labels/indices). */
    u32: (key: string): Uint32Array => Uint32Array.from(toFloat32(get(key))),
    shape: (key: string): number[] => get(key).shape,
    meta: JSON.parse(file.metadata.cases ?? 'null'),
  };
}

