// Node module-loader hook: `.wgsl` and `.wasm` imports become modules exporting the text / bytes,
// the same as the rollup bundle (tools/wgsl-plugin.js).
import { fileURLToPath } from 'node:url';
import { inlineModule } from './wgsl-plugin.js';

export async function load(url, context, nextLoad) {
  if (url.endsWith('.wgsl') || url.endsWith('.wasm')) {
    return { format: 'module', shortCircuit: true, source: inlineModule(fileURLToPath(url)) };
  }
  return nextLoad(url, context);
}
