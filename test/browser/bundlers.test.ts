// webfcn as a web app gets it: `npm pack`'s tarball (built here into a temporary folder, as
// `npm run build` would, so dist/ is not touched while other tests build it), unpacked into a
// Vite app's, a webpack app's and an esbuild app's node_modules (test/apps/), built by those
// bundlers (Vite and webpack with no webfcn-specific configuration, esbuild with the README's
// recipe) and run in headless Chromium (WebGPU on SwiftShader): the engine starts, loads a model
// from a URL and segments a canvas. The same app also runs on Vite's dev server, and from a "CDN":
// a page importing the tarball's browser bundle from a second origin. Strict TypeScript consumers
// (skipLibCheck: false) type-check against the tarball's declarations, in a page and in Node
// without DOM types. Prints the packed size and the gzipped size of what a page loads.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { rollup, type OutputOptions, type RollupLog, type RollupOptions } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { initialState } from '../../src/fcn/model.js';
import { fcnShapes } from '../../src/fcn/keys.js';
import { launchChromium, untilPage } from '../helpers/browser.js';
// @ts-expect-error plain JavaScript without declarations
import { serve } from '../../scripts/serve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K = 3;

let tmp: string;
let pkgDir: string; // the unpacked tarball (its `package/` folder)
let model: Uint8Array;
let context: BrowserContext | undefined;
const servers: Array<{ close(): void }> = [];

/** Builds the package into `stage` as `npm run build` does (library bundles and declarations). */
async function buildPackage(stage: string): Promise<void> {
  const configs = ((await import('../../rollup.config.js')) as { default: RollupOptions[] }).default;
  for (const cfg of configs) {
    if (Object.keys(cfg.input as object).includes('demo')) continue; // the demo page is not packed
    // Every warning fails the build, except those the config itself accepts by name (its onwarn).
    const fail = (w: RollupLog | string): never => {
      throw new Error(`rollup: ${typeof w === 'string' ? w : w.message}`);
    };
    const bundle = await rollup({ ...cfg, onwarn: (w) => (cfg.onwarn ? cfg.onwarn(w, fail) : fail(w)) });
    try {
      const o = cfg.output as OutputOptions;
      const { output } = await bundle.generate(o);
      for (const f of output) {
        const file = join(stage, o.dir!, f.fileName);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, f.type === 'chunk' ? f.code : f.source);
      }
    } finally {
      await bundle.close();
    }
  }
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--emitDeclarationOnly', '--outDir', join(stage, 'dist/types')], { cwd: ROOT, stdio: 'pipe' });
  for (const f of ['package.json', 'README.md']) cpSync(join(ROOT, f), join(stage, f));
  cpSync(join(ROOT, 'bin'), join(stage, 'bin'), { recursive: true });
}

/**
 * Copies test/apps/<name> to a temporary app with node_modules as `npm install <tarball>` lays it
 * out: the unpacked package, and its dependencies (linked from this repository's node_modules,
 * which holds the same versions) next to it.
 */
function app(name: string, into = name): string {
  const dir = join(tmp, into);
  cpSync(join(ROOT, 'test/apps', name), dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  cpSync(pkgDir, join(dir, 'node_modules/webfcn'), { recursive: true });
  const deps = Object.keys((JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  for (const d of deps) {
    mkdirSync(dirname(join(dir, 'node_modules', d)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', d), join(dir, 'node_modules', d), 'dir');
  }
  return dir;
}

/** Serves `dir` with the model next to the page, opens it and waits for the app's result. */
async function runApp(dir: string) {
  writeFileSync(join(dir, 'model.safetensors'), model);
  const s = await serve({ root: dir, port: 0 });
  servers.push(s.server);
  return openApp(`${s.url}/index.html`, dir);
}

/**
 * A CDN's side: the files under `root` to any origin (CORS), recording each request's path and
 * Origin header.
 */
async function cdn(root: string): Promise<{ url: string; requests: Array<{ path: string; origin?: string }> }> {
  const requests: Array<{ path: string; origin?: string }> = [];
  const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path, origin: req.headers.origin });
    const file = resolve(join(root, path));
    let body: Buffer;
    try {
      if (!file.startsWith(root + sep)) throw new Error('outside');
      body = readFileSync(file);
    } catch {
      res.writeHead(404, { 'access-control-allow-origin': '*' }).end();
      return;
    }
    res.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
    }).end(body);
  });
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

/** Opens the app at `url` and waits for its result; fails on any page error or failed request. */
async function openApp(url: string, what: string) {
  const page: Page = await context!.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Failed requests are reported with their URL (the console's own message has none).
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  try {
    await page.goto(url);
    interface AppState { phase: string; error: string | null; backend?: string; result: { width: number; height: number; pixels: number; classes: number; p0: number } | null }
    // A failed request or script fails at once (the app may never get to report it itself).
    const read = async (): Promise<AppState> => errors.length ? { phase: 'failed', error: errors.join(' | '), result: null }
      : page.evaluate(() => (globalThis as unknown as { app?: { state: unknown } }).app?.state ?? { phase: 'loading', error: null }) as Promise<AppState>;
    const st = await untilPage(page, read, (x) => x.phase === 'done', what, 600_000, errors);
    expect(errors).toEqual([]);
    return st;
  } finally {
    await page.close();
  }
}

/** Every file under `dir` (relative paths). */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p, base) : [p.slice(base.length + 1)];
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'webfcn-bundlers-'));
  const stage = join(tmp, 'stage');
  await buildPackage(stage);
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: stage, encoding: 'utf8' }))[0] as {
    filename: string; size: number; unpackedSize: number; files: Array<{ path: string }>;
  };
  execFileSync('tar', ['-xzf', join(tmp, packed.filename), '-C', tmp]);
  pkgDir = join(tmp, 'package');
  const files = packed.files.map((f) => f.path).sort();
  // What ships: bundles and declarations, no source maps, shaders, AssemblyScript or demo.
  expect(files.filter((f) => /\.map$|^shaders\/|^assembly\/|demo/.test(f))).toEqual([]);
  expect(files).toEqual(expect.arrayContaining(['dist/browser/webfcn.js', 'dist/browser/worker.js', 'dist/webfcn.node.js', 'dist/worker.js', 'dist/cli.js',
    'dist/types/index.d.ts', 'dist/types/index.browser.d.ts', 'package.json', 'README.md', 'bin/webfcn.js']));
  const page = ['dist/browser/webfcn.js', 'dist/browser/worker.js'].map((f) => readFileSync(join(pkgDir, f)));
  const gz = page.map((b) => gzipSync(b, { level: 9 }).length);
  console.info(`packed: ${(packed.size / 1024).toFixed(0)} KiB tarball, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${files.length} files; ` +
    `a page loads webfcn.js ${(page[0]!.length / 1024).toFixed(0)} KiB (${(gz[0]! / 1024).toFixed(1)} KiB gzipped) + ` +
    `worker.js ${(page[1]!.length / 1024).toFixed(0)} KiB (${(gz[1]! / 1024).toFixed(1)} KiB gzipped)`);
  const config = { classes: K, head: 'fcn32s' as const };
  model = encodeCheckpoint({
    meta: { config, colormap: [[0, 0, 0], [128, 0, 0], [0, 128, 0]], classNames: ['background', 'a', 'b'], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    state: initialState(config, { seed: 2 }), momentum: null,
  }, new Map([...fcnShapes(K)].filter(([k]) => !k.endsWith('.num_batches_tracked'))), 'F16');
  context = await launchChromium(tmp);
}, 600_000);

afterAll(async () => {
  await context?.close();
  for (const s of servers) s.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The app's result: a whole mask of the canvas, one confidence map per class summing to 1. */
function checkResult(st: Awaited<ReturnType<typeof runApp>>): void {
  // createEngine()'s default (auto): Chromium's only adapter here is SwiftShader, a software one, so WebAssembly.
  expect(st.backend).toBe('wasm');
  expect(st.result).toMatchObject({ width: 48, height: 64, pixels: 48 * 64, classes: K });
  expect(st.result!.p0).toBeCloseTo(1, 4); // the first pixel's probabilities summed over classes
}

describe('webfcn from the packed tarball in bundled apps (headless Chromium, WebGPU on SwiftShader)', () => {
  it('vite build: the engine starts, loads a model from a URL and segments a canvas', async () => {
    const dir = app('vite');
    const { build } = await import('vite');
    await build({ root: dir, configFile: false, logLevel: 'warn', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
    const out = walk(join(dir, 'dist'));
    // The worker was bundled by Vite as its own asset, and nothing points at webfcn's chunks.
    expect(out.filter((f) => f.endsWith('.js')).length).toBeGreaterThanOrEqual(2);
    for (const f of out.filter((x) => x.endsWith('.js'))) expect(readFileSync(join(dir, 'dist', f), 'utf8')).not.toMatch(/chunks\/tensor-/);
    checkResult(await runApp(join(dir, 'dist')));
  }, 900_000);

  it('webpack: the engine starts, loads a model from a URL and segments a canvas', async () => {
    const dir = app('webpack');
    const { default: webpack } = await import('webpack');
    const { default: config } = await import(join(dir, 'webpack.config.js'));
    const stats = await new Promise<import('webpack').Stats>((resolve, reject) => {
      webpack({ ...config, context: dir, output: { ...config.output, path: join(dir, 'dist') } }, (err, s) => (err ? reject(err) : resolve(s!)));
    });
    expect(stats.hasErrors(), stats.toString('errors-only')).toBe(false);
    cpSync(join(dir, 'index.html'), join(dir, 'dist/index.html'));
    expect(walk(join(dir, 'dist')).filter((f) => f.endsWith('.js')).length).toBeGreaterThanOrEqual(2); // main.js and the worker
    checkResult(await runApp(join(dir, 'dist')));
  }, 900_000);

  it('esbuild (the README recipe: an ESM bundle, webfcn/worker copied next to it): the engine starts, loads a model and segments', async () => {
    const dir = app('esbuild');
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [join(dir, 'main.js')], bundle: true, format: 'esm', minify: true, outdir: join(dir, 'dist'), logLevel: 'silent', absWorkingDir: dir,
    });
    expect(r.errors).toEqual([]);
    // esbuild keeps `new URL('./worker.js', import.meta.url)` as written: the worker must be next to the bundle.
    expect(readFileSync(join(dir, 'dist/main.js'), 'utf8')).toMatch(/new URL\(["']\.\/worker\.js["'],\s*import\.meta\.url\)/);
    cpSync(createRequire(join(dir, 'package.json')).resolve('webfcn/worker'), join(dir, 'dist/worker.js'));
    cpSync(join(dir, 'index.html'), join(dir, 'dist/index.html'));
    checkResult(await runApp(join(dir, 'dist')));
  }, 900_000);

  it('a CDN: a page imports webfcn from a second origin; the worker starts through the same-origin blob: fallback', async () => {
    const dir = join(tmp, 'cdn');
    cpSync(join(ROOT, 'test/apps/cdn'), dir, { recursive: true });
    const other = await cdn(pkgDir);
    const html = join(dir, 'index.html');
    writeFileSync(html, readFileSync(html, 'utf8').replace('WEBFCN_URL', `${other.url}/dist/browser/webfcn.js`));
    checkResult(await runApp(dir));
    // The library and its worker came from the other origin, as CORS requests from the page's.
    const paths = other.requests.map((q) => q.path);
    expect(paths).toEqual(expect.arrayContaining(['/dist/browser/webfcn.js', '/dist/browser/worker.js']));
    for (const q of other.requests) expect(q.origin, q.path).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set(other.requests.map((q) => q.origin)).has(other.url)).toBe(false);
  }, 900_000);

  it('vite dev server (no optimizeDeps configuration): the same app runs with webfcn pre-bundled by Vite', async () => {
    const dir = app('vite', 'vite-dev');
    writeFileSync(join(dir, 'model.safetensors'), model);
    const { createServer: viteServer } = await import('vite');
    // Vite pre-bundles webfcn into node_modules/.vite/deps and rewrites the literal worker URL to
    // webfcn's own worker.js; the CDN fallback's URL must stay out of its way (platform.browser.ts).
    const server = await viteServer({ root: dir, configFile: false, logLevel: 'warn', server: { host: '127.0.0.1', port: 0, strictPort: false } });
    await server.listen();
    try {
      const url = server.resolvedUrls!.local[0]!;
      checkResult(await openApp(`${url}index.html`, `${dir} (vite dev)`));
      // It did run from Vite's pre-bundled copy (the case the CDN fallback's URL once broke).
      expect(existsSync(join(dir, 'node_modules/.vite/deps/webfcn.js'))).toBe(true);
    } finally {
      await server.close();
    }
  }, 900_000);

  it('a strict TypeScript consumer (skipLibCheck: false) type-checks against the browser entry', () => {
    const dir = app('types');
    const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('a strict Node consumer without DOM types (lib ES2022, types node) type-checks against the Node entry, node16 and bundler resolution', () => {
    const dir = app('types-node');
    mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');
    for (const config of ['tsconfig.json', 'tsconfig.bundler.json']) {
      const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', config], { cwd: dir, encoding: 'utf8' });
      expect(r.stdout + r.stderr, config).toBe('');
      expect(r.status, config).toBe(0);
    }
  }, 120_000);
});
