// The layer rule of src/ (README, "How it is built"): each layer imports only from layers below it
// (a type-only import may cross, as it leaves no trace in the JavaScript), and nothing imports in
// a cycle. `npm run lint:deps` checks it; `npm test` runs that first. No exceptions are listed:
// fix the import, do not add one here.
//
// Bottom to top; the folders of one layer may import each other (without cycles).
const LAYERS = [
  ['io'], //                      bytes ↔ tensors: safetensors, .pth, atomic writes, normalisation
  ['gpu', 'ops', 'backends'], //  device, tensors, kernels; the op registry
  ['data', 'report'], //          datasets, loader, synthetic data; curves and grids
  ['fcn'], //                     architecture, keys, recipe, graph, trainer, predictor, metrics
  ['api', 'bench'], //            worker API, benchmarks
  ['cli'], //                     the webfcn command
];

// Matches a file of one of `folders` under any `src/` (the test fixtures have their own src/).
const under = (folders) => `(^|/)src/(${folders.join('|')})/`;

const layerRules = LAYERS.slice(0, -1).map((folders, i) => ({
  name: `layer-${folders.join('-')}`,
  comment: `${folders.join(', ')} may import only from ${LAYERS.slice(0, i).flat().join(', ') || 'nothing in src'} ` +
    `(and type-only from anywhere); ${LAYERS.slice(i + 1).flat().join(', ')} are above it`,
  severity: 'error',
  from: { path: under(folders) },
  to: { path: under(LAYERS.slice(i + 1).flat()), dependencyTypesNot: ['type-only'] },
}));

// The entry points (src/index*.ts) sit above every layer; nothing inside a layer imports them.
const entryRule = {
  name: 'no-entry-import',
  comment: 'src/index.ts and src/index.browser.ts are the library entry points: nothing in src imports them',
  severity: 'error',
  from: { path: under(LAYERS.flat()) },
  to: { path: '(^|/)src/index(\\.browser)?\\.ts$' },
};

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    entryRule,
    {
      name: 'no-circular',
      comment: 'modules import each other in a cycle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to no file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are seen (so cycles through them count) and labelled 'type-only'.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // 'types' as a main field: the entries' /// <reference types="@webgpu/types" /> names a declarations-only package.
    enhancedResolveOptions: { extensions: ['.ts', '.d.ts', '.js', '.mjs', '.json', '.wgsl', '.wasm'], mainFields: ['module', 'main', 'types'] },
  },
};
