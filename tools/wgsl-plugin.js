// Rollup/Vite plugin: `import code from '../../shaders/x/forward.wgsl'` yields the WGSL text, so
// bundles carry their shaders as strings and need no file system at run time.
import { readFileSync } from 'node:fs';

export function wgslPlugin() {
  return {
    name: 'webfcn-wgsl',
    transform(_code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`, map: null };
    },
  };
}
