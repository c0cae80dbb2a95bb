// What the browser bundles are made of: builds dist/browser/worker.js and webfcn.js with the
// release configuration (rollup.config.js) in memory and lists, per source group and per module,
// the bytes each module contributes before minification, minified on its own (terser, as the
// build) and gzipped on its own (level 9), beside the real bundle's raw and gzipped size. Modules
// minified one by one miss cross-module mangling, so their sum is a little above the bundle.
//
//   node tools/bundle-report.js [worker|webfcn] [--top N] [--json]
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { rollup } from 'rollup';
import { minify } from 'terser';
import configs from '../rollup.config.js';

const args = process.argv.slice(2);
const which = args.find((a) => !a.startsWith('--')) ?? 'worker';
const top = Number(args[args.indexOf('--top') + 1] ?? 0) || 25;
const config = configs.find((c) => c.output?.dir === 'dist/browser' && c.input?.[which]);
if (!config) throw new Error(`no browser bundle named ${which} in rollup.config.js`);

const gz = (s) => gzipSync(Buffer.from(s), { level: 9 }).length;
const root = process.cwd();

/** The group a module counts under: a package, shaders, inlined wasm builds, or a src/ folder. */
function group(id) {
  const clean = id.replace(/^\0/, '').split('?')[0];
  const pkg = clean.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return `package ${pkg[1]}`;
  if (clean.endsWith('.wgsl')) return 'WGSL shaders (inlined text)';
  if (clean.endsWith('.wasm')) return `wasm ${path.basename(clean)} (inlined base64)`;
  const rel = path.relative(root, clean);
  if (rel.startsWith('src/')) return rel.split('/').slice(0, rel.startsWith('src/backends/') || rel.startsWith('src/gpu/') ? 3 : 2).join('/').replace(/\.ts$/, '');
  return rel.startsWith('..') || path.isAbsolute(rel) ? clean : rel;
}

const bundle = await rollup({ ...config, onwarn: () => {} });
const { output } = await bundle.generate(config.output);
await bundle.close();
const chunk = output.find((o) => o.type === 'chunk' && o.isEntry);
const rows = [];
for (const [id, m] of Object.entries(chunk.modules)) {
  if (!m.code) continue;
  // Top-level names kept: a module on its own exports nothing, and terser would drop it all.
  const min = (await minify(m.code, { module: false, ecma: 2022 })).code ?? '';
  rows.push({ id: path.relative(root, id.replace(/^\0/, '')), group: group(id), rendered: m.renderedLength, min: min.length, gzip: gz(min) });
}
const groups = new Map();
for (const r of rows) {
  const g = groups.get(r.group) ?? { group: r.group, modules: 0, rendered: 0, min: 0, gzip: 0 };
  g.modules++;
  g.rendered += r.rendered;
  g.min += r.min;
  g.gzip += r.gzip;
  groups.set(r.group, g);
}
const total = { raw: Buffer.byteLength(chunk.code), gzip: gz(chunk.code) };
const sum = rows.reduce((a, r) => a + r.min, 0);
const byMin = (a, b) => b.min - a.min;
if (args.includes('--json')) {
  console.log(JSON.stringify({ bundle: `${which}.js`, total, groups: [...groups.values()].sort(byMin), modules: rows.sort(byMin) }, null, 1));
} else {
  const kib = (n) => (n / 1024).toFixed(1).padStart(7);
  console.log(`${which}.js: ${kib(total.raw)} KiB, ${kib(total.gzip)} KiB gzipped; ${rows.length} modules (minified one by one: ${kib(sum)} KiB)`);
  console.log(`${'group'.padEnd(52)} ${'mods'.padStart(4)} ${'source'.padStart(9)} ${'min KiB'.padStart(8)} ${'share'.padStart(6)} ${'gz KiB'.padStart(7)}`);
  for (const g of [...groups.values()].sort(byMin)) {
    console.log(`${g.group.slice(0, 52).padEnd(52)} ${String(g.modules).padStart(4)} ${kib(g.rendered)}  ${kib(g.min)} ${(100 * g.min / sum).toFixed(1).padStart(5)}% ${kib(g.gzip)}`);
  }
  console.log(`\nlargest ${top} modules (minified on their own):`);
  for (const r of rows.sort(byMin).slice(0, top)) console.log(`${r.id.slice(0, 70).padEnd(70)} ${kib(r.min)} ${kib(r.gzip)}`);
}
