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

/** Starts the engine as a module Web Worker (dist/browser/worker.js next to the library unless `url` says otherwise). */
export function startWorker(url?: string | URL): WorkerHandle {
  const worker = new Worker(url ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'webfcn-engine' });
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
