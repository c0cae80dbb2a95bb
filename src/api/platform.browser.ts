// Browser side of the engine's worker plumbing (the browser bundle substitutes this file for
// platform.ts): a module Web Worker, `self` as the worker's endpoint, native MessageChannels for
// Comlink.proxy(), and no dataset paths (no file system: pass { images, labels }).
import type * as Comlink from 'comlink';
import type { OpenPath } from './service.js';

export interface WorkerHandle {
  endpoint: Comlink.Endpoint;
  terminate(): Promise<void>;
  onFailure(cb: (err: Error) => void): void;
}

/** Comlink's default proxy handler already uses the browser's MessageChannel. */
export function installTransferHandlers(): void {}

/**
 * A URL a module worker may be started from. Browsers refuse cross-origin worker scripts (a
 * library loaded from a CDN), so such a URL is wrapped in a same-origin blob: module that imports
 * it (CORS applies to that import, as CDNs allow). worker.js imports nothing, so this is all it needs.
 */
export function sameOriginWorkerUrl(url: string | URL): string | URL {
  const abs = new URL(url, globalThis.location?.href);
  if (typeof location === 'undefined' || abs.origin === location.origin || abs.protocol === 'blob:' || abs.protocol === 'data:') return url;
  const blob = new Blob([`import ${JSON.stringify(abs.href)};\n`], { type: 'text/javascript' });
  return URL.createObjectURL(blob);
}

function defaultWorker(): Worker {
  try {
    // This exact shape is what Vite and webpack recognise to bundle the worker with the app.
    return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  } catch (e) {
    if ((e as DOMException)?.name !== 'SecurityError') throw e;
    // The library came from another origin (a CDN) and no bundler rewrote the URL above. The
    // file name is built, and joined with `+` rather than a template literal, so that bundlers
    // leave this line alone: a literal would copy worker.js a second time, and Vite's dev server
    // turns a template literal into a glob import of every file next to its pre-bundled copy of
    // this library (its JSON metadata included, which then fails to load as a module).
    const file = ['worker', 'js'].join('.');
    return new Worker(sameOriginWorkerUrl(new URL('./' + file, import.meta.url)), { type: 'module' });
  }
}

/**
 * Starts the engine as a module Web Worker: `url` (EngineOptions.workerUrl) when given, else
 * worker.js next to the library (or wherever the app's bundler put it).
 */
export function startWorker(url?: string | URL): WorkerHandle {
  const worker = url !== undefined ? new Worker(sameOriginWorkerUrl(url), { type: 'module', name: 'webfcn-engine' }) : defaultWorker();
  let ended = false;
  const failures: ((err: Error) => void)[] = [];
  worker.addEventListener('error', (ev: ErrorEvent) => {
    if (ended) return;
    ended = true;
    ev.preventDefault();
    const err = new Error(`the engine worker failed: ${ev.message || 'could not load or crashed'}`);
    for (const cb of failures) cb(err);
  });
  return {
    endpoint: worker,
    async terminate() {
      ended = true;
      worker.terminate();
    },
    onFailure(cb) {
      failures.push(cb);
    },
  };
}

export function workerEndpoint(): Comlink.Endpoint {
  return self as unknown as Comlink.Endpoint;
}

export const openPath: OpenPath | undefined = undefined;
