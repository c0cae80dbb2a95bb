// Bundles: the library for Node and browsers, the engine worker, and the CLI. WGSL shaders and
// the preprocessing wasm are inlined (tools/wgsl-plugin.js), so no bundle reads files at run time.
//
//   dist/webfcn.node.js, dist/cli.js, dist/worker.js   Node (dependencies stay external)
//   dist/browser/webfcn.js, dist/browser/worker.js     browsers: two self-contained, minified ES modules
//                                                      (dependencies bundled; no Node modules, no chunks)
//   dist/browser/demo.js                               the demo page's script (examples/browser/; not packed)
//
// The browser library starts its worker with the literal
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`, left as written: Vite
// and webpack recognise that shape and bundle the worker themselves, and because worker.js
// imports nothing, copying it anywhere (a CDN, a bundler's assets folder) keeps it working.
import { readFileSync } from 'node:fs';
import tsc from 'typescript';
import path from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';
import { wgslPlugin } from './tools/wgsl-plugin.js';

const nodeExternal = (id) => /^(node:|webgpu$|pngjs|jpeg-js|fflate|comlink|webgpu-utils|onnx-proto|protobufjs)/.test(id);
const ts = (outDir = 'dist') => typescript({ tsconfig: './tsconfig.json', declaration: false, outDir, rootDir: 'src', noEmitOnError: true });

const API = path.resolve('src/api');
const WORKER_URL = "new URL('./worker.js', import.meta.url)";

/**
 * The engine worker (src/api/worker.ts) is emitted as `worker.js`, a chunk of the same build that
 * shares the library's chunks. The platform file that starts it names it by
 * `new URL('./worker.js', import.meta.url)`; that is rewritten to the emitted file's URL relative
 * to whichever chunk holds the code, so it resolves wherever rollup places that chunk.
 */
function engineWorker(platformFile) {
  let ref;
  const file = path.join(API, platformFile);
  return {
    name: 'webfcn-engine-worker',
    buildStart() {
      ref = this.emitFile({ type: 'chunk', id: path.join(API, 'worker.ts'), fileName: 'worker.js' });
    },
    transform(code, id) {
      if (path.resolve(id) !== file) return null;
      if (!code.includes(WORKER_URL)) this.error(`${id} must start the worker with ${WORKER_URL}`);
      // Only that expression changes (no lines move), so the existing source map stays valid.
      return { code: code.replaceAll(WORKER_URL, `new URL(import.meta.ROLLUP_FILE_URL_${ref})`), map: null };
    },
  };
}

/** Browser bundle: src/api/platform.browser.ts replaces platform.ts, and Dawn is a stub. */
function browserPlatform() {
  const DAWN_STUB = '\0webfcn-no-dawn';
  return {
    name: 'webfcn-browser-platform',
    resolveId(source, importer) {
      if (source === 'webgpu') return DAWN_STUB;
      if (source === './platform.js' && importer && path.dirname(path.resolve(importer)) === API) return path.join(API, 'platform.browser.ts');
      return null;
    },
    load(id) {
      if (id !== DAWN_STUB) return null;
      return "export function create() { throw new Error('Dawn (the webgpu package) runs in Node only; browsers use navigator.gpu'); }\n" +
        'export const globals = {};\nexport default { create, globals };\n';
    },
  };
}

/**
 * The demo page's script: it imports the library as `webfcn`, kept external and pointed at
 * ./webfcn.js (the browser bundle above), so the page loads exactly what a site would. Typechecked
 * with examples/browser/tsconfig.json.
 */
const demo = {
  input: { demo: 'examples/browser/demo.ts' },
  external: ['webfcn'],
  output: { dir: 'dist/browser', format: 'es', paths: { webfcn: './webfcn.js' } },
  plugins: [typescript({ tsconfig: './examples/browser/tsconfig.json', noEmit: false, outDir: path.resolve('dist/browser'), noEmitOnError: true })],
};

/**
 * The TensorFlow.js peer of `webfcn bench` as plain JS (dist/bench-peers/tfjs.js, with the resolve
 * hook it registers beside it), so the built command runs it without tsx. tfjs itself stays
 * external: it is a dev dependency, resolved from the package folder when installed.
 */
const benchPeers = {
  input: { tfjs: 'tools/bench-peers/tfjs.ts' },
  external: (id) => !id.startsWith('.') && !path.isAbsolute(id),
  output: { dir: 'dist/bench-peers', format: 'es' },
  plugins: [
    {
      // Type-stripping only: the runner is not part of the typechecked sources (tsx runs it as is).
      name: 'webfcn-bench-peer-ts',
      transform(code, id) {
        if (!id.endsWith('.ts')) return null;
        const out = tsc.transpileModule(code, { fileName: id, compilerOptions: { target: tsc.ScriptTarget.ES2022, module: tsc.ModuleKind.ESNext, sourceMap: true } });
        return { code: out.outputText.replace(/\/\/# sourceMappingURL=.*$/m, ''), map: out.sourceMapText };
      },
    },
    {
      name: 'webfcn-bench-peer-hooks',
      generateBundle() {
        this.emitFile({ type: 'asset', fileName: 'resolve-hooks.js', source: readFileSync('tools/bench-peers/resolve-hooks.js', 'utf8') });
      },
    },
  ],
};

/** One self-contained minified ES module for browsers (the worker must not import chunks). */
/**
 * Warnings fail the browser build in the tests; this accepts exactly one: protobufjs (under
 * onnx-proto, CommonJS, bundled through plugin-commonjs) requires util/minimal and util/longbits
 * from each other, a cycle it resolves itself.
 */
function browserOnwarn(warning, warn) {
  if (warning.code === 'CIRCULAR_DEPENDENCY' && warning.ids?.every((id) => id.includes('/node_modules/protobufjs/'))) return;
  warn(warning);
}

const browserBundle = (name, input) => ({
  input: { [name]: input },
  output: { dir: 'dist/browser', format: 'es', inlineDynamicImports: true },
  onwarn: browserOnwarn,
  plugins: [browserPlatform(), wgslPlugin(), nodeResolve({ browser: true }), commonjs(), ts('dist/browser'), terser({ module: true, ecma: 2022 })],
});

const configs = [
  {
    input: { 'webfcn.node': 'src/index.ts', cli: 'src/cli/run.ts' },
    output: { dir: 'dist', format: 'es', chunkFileNames: 'chunks/[name]-[hash].js' },
    external: nodeExternal,
    plugins: [wgslPlugin(), ts(), engineWorker('platform.ts')],
  },
  browserBundle('webfcn', 'src/index.browser.ts'),
  browserBundle('worker', 'src/api/worker.ts'),
  demo,
  benchPeers,
];

// `rollup -c --environment WEBFCN_BUILD:node` (npm run build:node): only what Node and the webfcn
// command need (dist/ and dist/bench-peers/), e.g. for the quick start.
export default process.env.WEBFCN_BUILD === 'node' ? configs.filter((c) => c.output.dir === 'dist' || c === benchPeers) : configs;
