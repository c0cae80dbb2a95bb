// scripts/serve.js: serves files under its root with their types, redirects / to the demo page,
// refuses paths outside the root and methods other than GET/HEAD, and sends the COOP/COEP headers
// on every response, so that a page it serves is cross-origin isolated in Chromium (shared memory
// for the wasm backend's threads). Chromium missing is a failure (npm run setup installs it).
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript without declarations
import { serve } from '../../scripts/serve.js';

let root: string;
let server: { close(): void };
let base: URL;

/** A raw request (no URL normalisation, so '..' reaches the server as sent). */
function get(path: string, method = 'GET'): Promise<{ status: number; type?: string; location?: string; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, fail) => {
    const req = request({ host: base.hostname, port: base.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, type: res.headers['content-type'], location: res.headers.location, body, headers: res.headers }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webfcn-serve-'));
  root = join(dir, 'site');
  mkdirSync(join(root, 'examples/browser'), { recursive: true });
  writeFileSync(join(root, 'examples/browser/index.html'), '<p>demo</p>');
  writeFileSync(join(root, 'app.js'), 'export const x = 1;');
  writeFileSync(join(dir, 'secret.txt'), 'outside the root');
  const s = await serve({ root, port: 0 });
  server = s.server;
  base = new URL(s.url);
  expect(base.hostname).toBe('127.0.0.1');
});

afterAll(() => {
  server?.close();
  if (root) rmSync(join(root, '..'), { recursive: true, force: true });
});

describe('scripts/serve.js', () => {
  it('serves files with their content types and directories by index.html', async () => {
    await expect(get('/app.js')).resolves.toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8', body: 'export const x = 1;' });
    await expect(get('/examples/browser/')).resolves.toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '<p>demo</p>' });
    await expect(get('/app.js', 'HEAD')).resolves.toMatchObject({ status: 200, body: '' });
  });

  it('redirects / to the demo page', async () => {
    await expect(get('/')).resolves.toMatchObject({ status: 302, location: '/examples/browser/' });
  });

  it('refuses paths outside its root, missing files and other methods', async () => {
    // '..' segments are resolved by URL parsing first (they stay inside the root); an encoded
    // slash survives it and must be refused after decoding.
    await expect(get('/../secret.txt')).resolves.toMatchObject({ status: 404 });
    await expect(get('/%2e%2e/secret.txt')).resolves.toMatchObject({ status: 404 });
    await expect(get('/..%2fsecret.txt')).resolves.toMatchObject({ status: 403 });
    await expect(get('/examples/..%2F..%2F..%2Fsecret.txt')).resolves.toMatchObject({ status: 403 });
    await expect(get('/missing.js')).resolves.toMatchObject({ status: 404 });
    await expect(get('/dist/browser/demo.js')).resolves.toMatchObject({ status: 404, body: expect.stringMatching(/npx rollup -c/) });
    await expect(get('/%E0%A4%A')).resolves.toMatchObject({ status: 400 });
    await expect(get('/app.js', 'POST')).resolves.toMatchObject({ status: 405 });
  });

  it('sends the cross-origin isolation headers on every response', async () => {
    const isolation = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
    };
    for (const [path, method, status] of [['/app.js', 'GET', 200], ['/app.js', 'HEAD', 200], ['/examples/browser/', 'GET', 200], ['/', 'GET', 302], ['/missing.js', 'GET', 404], ['/app.js', 'POST', 405]] as const) {
      const r = await get(path, method);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.headers, `${method} ${path}`).toMatchObject(isolation);
    }
  });

  it('serves pages that Chromium treats as cross-origin isolated (SharedArrayBuffer available)', async () => {
    const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: the browser tests need Chromium (npm run setup installs it)`);
    const browser = await chromium.launch({
      executablePath, headless: true, ignoreDefaultArgs: ['--headless'],
      args: ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
    try {
      const page = await browser.newPage();
      const res = await page.goto(new URL('/', base).href);
      expect(res?.url()).toBe(new URL('/examples/browser/', base).href);
      const got = await page.evaluate(() => ({ isolated: globalThis.crossOriginIsolated, sab: typeof SharedArrayBuffer, secure: globalThis.isSecureContext }));
      expect(got).toEqual({ isolated: true, sab: 'function', secure: true });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
