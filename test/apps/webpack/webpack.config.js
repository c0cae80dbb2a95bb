// The webpack app's configuration: nothing webfcn-specific (webpack 5 bundles the engine worker from
// webfcn's `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`).
// test/browser/bundlers.test.ts passes it to webpack's API with `context` and `output.path` set.
export default {
  mode: 'production',
  entry: './src/main.js',
  output: { filename: 'main.js', clean: true },
  performance: { hints: false },
};
