#!/usr/bin/env node
// A small static file server for the browser demo (examples/browser/) and the page tests:
// 127.0.0.1 only, GET/HEAD only, no directory listings, nothing outside the served root.
// WebGPU needs a secure context, which http://127.0.0.1 is. Every response carries the COOP/COEP
// headers, so served pages are cross-origin isolated: SharedArrayBuffer exists and the wasm
// backend can run its threads on shared memory (without them it runs single-threaded). Everything
// is same-origin, so require-corp blocks nothing the demo loads.
//
//   node scripts/serve.js [--port 8080] [--root DIR]     (npm run serve; port 0 = any free port)
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Cross-origin isolation (COOP/COEP) and same-origin resource policy, on every response. */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

/** The demo page's path under the repository root. */
export const DEMO_PATH = '/examples/browser/';

/**
 * Serves `root` on http://host:port (port 0 picks a free one). Resolves once listening with the
 * server and its base URL; `/` redirects to the demo page.
 */
export function serve({ root = fileURLToPath(new URL('..', import.meta.url)), port = 8080, host = '127.0.0.1' } = {}) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const send = (code, text) => {
      res.writeHead(code, { ...ISOLATION_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${code} ${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad request');
    }
    if (path === '/') {
      res.writeHead(302, { ...ISOLATION_HEADERS, location: DEMO_PATH });
      return res.end();
    }
    let file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) return send(403, 'forbidden');
    let st;
    try {
      st = statSync(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = statSync(file);
      }
    } catch {
      return send(404, `not found: ${path}${path.startsWith('/dist/') ? ' (build it: npx rollup -c)' : ''}`);
    }
    if (!st.isFile()) return send(404, `not found: ${path}`);
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const addr = server.address();
      ok({ server, url: `http://${host}:${addr.port}` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const port = Number(opt('--port') ?? process.env.PORT ?? 8080);
  const root = opt('--root');
  serve({ port, ...(root ? { root } : {}) }).then(({ url }) => {
    console.log(`webfcn demo: ${url}${DEMO_PATH}  (serving ${resolve(root ?? fileURLToPath(new URL('..', import.meta.url)))}; Ctrl-C stops)`);
    try {
      statSync(fileURLToPath(new URL('../dist/browser/demo.js', import.meta.url)));
    } catch {
      if (!root) console.log('note: dist/browser/demo.js is missing; build it first with `npx rollup -c` (or `npm run build`)');
    }
  }, (e) => {
    console.error(`serve: ${e.message}`);
    process.exit(1);
  });
}
