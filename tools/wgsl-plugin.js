// Rollup/Vite plugin: `import code from '../../shaders/x/forward.wgsl'` yields the WGSL text and
// `import bytes from '../../build/preprocess.wasm'` the WebAssembly bytes (base64-inlined), so
// bundles carry their shaders and wasm and need no file system or fetch at run time.
import { readFileSync } from 'node:fs';

export function inlineModule(id) {
  if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  if (id.endsWith('.wasm')) {
    const b64 = readFileSync(id).toString('base64');
    return `const s = ${JSON.stringify(b64)};\n` +
      `export default typeof Buffer !== 'undefined' ? new Uint8Array(Buffer.from(s, 'base64')) : Uint8Array.from(atob(s), (c) => c.charCodeAt(0));`;
  }
  return null;
}

export function wgslPlugin() {
  return {
    name: 'webfcn-inline-assets',
    enforce: 'pre',
    load(id) {
      const clean = id.split('?')[0];
      const code = inlineModule(clean);
      return code === null ? null : { code, map: null };
    },
  };
}
