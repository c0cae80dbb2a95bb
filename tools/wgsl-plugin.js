// Rollup/Vite plugin: `import code from '../../shaders/x/forward.wgsl'` yields the WGSL text
// (includes resolved, comments and indentation stripped: minifyWgsl) and
// `import bytes from '../../build/preprocess.wasm'` the WebAssembly bytes (base64-inlined), so
// bundles carry their shaders and wasm and need no file system or fetch at run time.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * WGSL text with `// #include "file.wgsl"` lines replaced by that file (path relative to the
 * including file; each file at most once). WGSL resolves module-scope names in any order, so an
 * included helper may use constants (WG) and uniforms (params) that its includer declares.
 */
export function wgslSource(file, seen = new Set()) {
  seen.add(file);
  return readFileSync(file, 'utf8').replace(/^\/\/ #include "([^"]+)"$/gm, (_, rel) => {
    const inc = resolve(dirname(file), rel);
    return seen.has(inc) ? '' : wgslSource(inc, seen);
  });
}

/**
 * WGSL without what the compiler ignores: `//` comments, indentation, trailing blanks and empty
 * lines (about 40% of the shaders' text, which every bundle carries). Tokens and line order are
 * untouched, one source line stays one line, and the comments that are directives to webfcn's
 * own rewriting are kept as written: marker lines `// #NAME` (specialize's inserts) and line
 * ends `// each i<N ...` (expandEach). WGSL's block comments are refused rather than parsed.
 */
export function minifyWgsl(code, file = 'WGSL') {
  const out = [];
  for (const raw of code.split('\n')) {
    if (raw.includes('/*')) throw new Error(`${file}: block comments (/* */) are not supported by the WGSL minifier`);
    const c = raw.indexOf('//');
    let line = raw;
    if (c >= 0 && !/^\/\/ (?:#\w|each )/.test(raw.slice(c))) line = raw.slice(0, c);
    line = line.trim();
    if (line) out.push(line);
  }
  return out.join('\n');
}

export function inlineModule(id) {
  if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(minifyWgsl(wgslSource(id), id))};`;
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
