// The wasm runtime in a browser (headless Chromium via playwright-core): bundled with rollup, run
// in a page's module worker (Atomics.wait is not allowed on a page's main thread). With
// cross-origin isolation (COOP/COEP headers) it starts a Web Worker from the worker-body Blob and
// multiplies on two threads over shared memory; without isolation it falls back to the unshared
// single-threaded build and says why. Chromium missing is a failure (npm run setup installs it).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import typescript from '@rollup/plugin-typescript';
import { chromium, type Browser } from 'playwright-core';
import { rollup } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wgslPlugin } from '../../tools/wgsl-plugin.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

const PAGE = `<!doctype html><meta charset="utf-8"><title>wasm runtime</title><script type="module">
const w = new Worker('./worker.js', { type: 'module' });
w.onmessage = (e) => { globalThis.result = e.data; };
w.onerror = (e) => { globalThis.result = { error: 'worker error: ' + e.message }; };
</script>`;

// C = A·B on the runtime; max |C − float64| is reported with what the runtime chose.
const WORKER = `
import { WasmRuntime } from './runtime.js';
import { matmul, matmulScratchBytes } from './gemm.js';
try {
  const rt = await WasmRuntime.create({ threads: 2 });
  const M = 37, N = 45, K = 300;
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
  const [pa, pb, pc, s] = rt.arena.plan([{ label: 'a', bytes: a.length * 4 }, { label: 'b', bytes: b.length * 4 }, { label: 'c', bytes: M * N * 4 }, { label: 's', bytes: matmulScratchBytes(M, N, K) }]);
  rt.write(pa, a);
  rt.write(pb, b);
  for (let rep = 0; rep < 3; rep++) matmul(rt, { M, N, K, a: pa, b: pb, c: pc, scratch: s });
  const c = rt.read(pc, M * N);
  let err = 0;
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let r = 0;
    for (let k = 0; k < K; k++) r += a[i * K + k] * b[k * N + j];
    err = Math.max(err, Math.abs(r - c[i * N + j]));
  }
  postMessage({ threads: rt.threads, shared: rt.shared, simd: rt.simd, describe: rt.describe(), err, isolated: self.crossOriginIsolated });
  await rt.dispose();
} catch (e) {
  postMessage({ error: String((e && e.stack) || e) });
}
`;

let tmp: string;
let files: Map<string, string>;
let server: Server;
let base: string;
let browser: Browser;

/** The runtime and the GEMM host code as ES modules (wasm inlined), generated in memory. */
async function bundle(): Promise<Map<string, string>> {
  const out = join(tmp, 'bundle');
  const b = await rollup({
    input: { runtime: 'src/backends/wasm/runtime.ts', gemm: 'src/backends/wasm/gemm.ts' },
    external: (id) => id.startsWith('node:'),
    plugins: [wgslPlugin(), typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: out, rootDir: 'src', noEmitOnError: true })],
    onwarn: (w) => { throw new Error(`rollup: ${w.message}`); },
  });
  try {
    const { output } = await b.generate({ dir: out, format: 'es' });
    return new Map(output.map((f) => [f.fileName, f.type === 'chunk' ? f.code : String(f.source)]));
  } finally {
    await b.close();
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Chromium (npm run setup installs it)`);
  tmp = mkdtempSync(join(tmpdir(), 'webfcn-wasm-browser-'));
  files = await bundle();
  files.set('index.html', PAGE);
  files.set('worker.js', WORKER);
  // /isolated/… is served with COOP/COEP (cross-origin isolated: SharedArrayBuffer), /plain/… without.
  server = createServer((req, res) => {
    const [, mode, name] = /^\/(isolated|plain)\/([\w.-]*)$/.exec(new URL(req.url ?? '/', 'http://x').pathname) ?? [];
    const body = name !== undefined ? files.get(name || 'index.html') : undefined;
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': name?.endsWith('.js') ? 'text/javascript' : 'text/html' };
    if (mode === 'isolated') Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.writeHead(200, headers).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, ignoreDefaultArgs: ['--headless'], args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Result { threads: number; shared: boolean; simd: string; describe: string; err: number; isolated: boolean; error?: string }

async function runPage(mode: 'isolated' | 'plain'): Promise<Result> {
  const page = await browser.newPage();
  try {
    await page.goto(`${base}/${mode}/`);
    await page.waitForFunction(() => (globalThis as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
    const r = await page.evaluate(() => (globalThis as unknown as { result: Result }).result);
    if (r.error) throw new Error(`page (${mode}): ${r.error}`);
    return r;
  } finally {
    await page.close();
  }
}

describe('wasm runtime in Chromium', () => {
  it('cross-origin isolated: two threads (a Web Worker from the Blob) on shared memory, right answer', async () => {
    const r = await runPage('isolated');
    expect(r.isolated).toBe(true);
    expect(r.threads).toBe(2);
    expect(r.shared).toBe(true);
    expect(r.describe).toMatch(/2 threads, shared memory/);
    expect(r.err).toBeLessThan(1e-4); // K = 300 products of |a|, |b| ≤ 1
  });

  it('not isolated: the single-threaded build, saying why', async () => {
    const r = await runPage('plain');
    expect(r.isolated).toBe(false);
    expect(r.threads).toBe(1);
    expect(r.shared).toBe(false);
    expect(r.simd).toBe('simd128');
    expect(r.describe).toMatch(/not cross-origin isolated.*single-threaded/);
    expect(r.err).toBeLessThan(1e-4);
  });
});
