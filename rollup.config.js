// Bundles: the library for Node and browsers, the engine worker, and the CLI. WGSL shaders and
// the preprocessing wasm are inlined (tools/wgsl-plugin.js), so no bundle reads files at run time.
import typescript from '@rollup/plugin-typescript';
import { wgslPlugin } from './tools/wgsl-plugin.js';

const nodeExternal = (id) => /^(node:|webgpu$|pngjs|jpeg-js|fflate|comlink|webgpu-utils)/.test(id);
const ts = () => typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist', rootDir: 'src', noEmitOnError: true });

export default [
  {
    input: { 'webfcn.node': 'src/index.ts', cli: 'src/cli/run.ts' },
    output: { dir: 'dist', format: 'es', sourcemap: true, chunkFileNames: 'chunks/[name]-[hash].js' },
    external: nodeExternal,
    plugins: [wgslPlugin(), ts()],
  },
];
