// Node side of the engine's worker plumbing (browsers: platform.browser.ts, which the browser
// bundle substitutes for this file): starting the worker thread, the worker's endpoint, Comlink's
// proxy transfer over worker_threads ports, and dataset paths (openVOC).
//
// Which worker script runs (startWorker):
//   - options.workerUrl when given;
//   - from the built library (dist/*.js): dist/worker.js. The build rewrites the worker URL in
//     workerScript() below to the emitted worker's URL relative to the chunk holding this code
//     (rollup.config.js, engineWorker), wherever that chunk lands;
//   - from TypeScript sources (vitest, tsx: this module's URL ends in .ts): worker-dev.mjs, which
//     registers tools/register.js (TypeScript and .wgsl/.wasm loaders) in the new thread and then
//     imports worker.ts.
import * as Comlink from 'comlink';
import nodeEndpoint, { type NodeEndpoint } from 'comlink/dist/esm/node-adapter.mjs';
import { MessageChannel, parentPort, SHARE_ENV, Worker, type MessagePort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { openVOC } from '../data/dataset.js';
import type { OpenPath } from './service.js';

/** A started worker: its endpoint for Comlink.wrap, and how to end it. */
export interface WorkerHandle {
  endpoint: Comlink.Endpoint;
  terminate(): Promise<void>;
  /** Calls `cb` once if the worker dies on its own (uncaught error, crash, exit). */
  onFailure(cb: (err: Error) => void): void;
}

let installed = false;

/**
 * Comlink.proxy() values (progress callbacks) travel as a MessagePort of a new MessageChannel.
 * Comlink's own handler uses the global MessageChannel, which test environments such as jsdom
 * replace with ports worker_threads cannot transfer; this one always uses worker_threads' ports.
 * They are used as they are, not through nodeEndpoint: Node's MessagePort has addEventListener,
 * and Comlink closes a released port only when its constructor is MessagePort, so a wrapped port
 * would stay open after release and keep the process alive.
 */
export function installTransferHandlers(): void {
  if (installed) return;
  installed = true;
  const handler: Comlink.TransferHandler<object, MessagePort> = {
    canHandle: (v: unknown): v is object =>
      (typeof v === 'object' || typeof v === 'function') && v !== null && !!(v as Record<symbol, unknown>)[Comlink.proxyMarker],
    serialize(obj) {
      const { port1, port2 } = new MessageChannel();
      Comlink.expose(obj, port1 as unknown as Comlink.Endpoint);
      return [port2, [port2 as unknown as Transferable]];
    },
    deserialize(port) {
      port.start();
      return Comlink.wrap(port as unknown as Comlink.Endpoint);
    },
  };
  Comlink.transferHandlers.set('proxy', handler as Comlink.TransferHandler<unknown, unknown>);
}

function workerScript(url: string | URL | undefined): URL {
  if (url !== undefined) return url instanceof URL ? url : /^[a-z]+:/i.test(url) ? new URL(url) : pathToFileURL(url);
  if (import.meta.url.endsWith('.ts')) return new URL('./worker-dev.mjs', import.meta.url);
  return new URL('./worker.js', import.meta.url);
}

/** Starts the engine worker thread. */
export function startWorker(url?: string | URL): WorkerHandle {
  // SHARE_ENV: Dawn reads EGL_PLATFORM / VK_ICD_FILENAMES from the real process environment,
  // which a worker's own copy of process.env would not reach when acquireGpu sets them.
  const worker = new Worker(workerScript(url), { env: SHARE_ENV });
  let ended = false;
  const failures: ((err: Error) => void)[] = [];
  const fail = (err: Error) => {
    if (ended) return;
    ended = true;
    for (const cb of failures) cb(err);
  };
  worker.on('error', (e: Error) => fail(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => fail(new Error(`the engine worker exited (code ${code})`)));
  return {
    endpoint: nodeEndpoint(worker as unknown as NodeEndpoint),
    async terminate() {
      ended = true;
      await worker.terminate();
    },
    onFailure(cb) {
      failures.push(cb);
    },
  };
}

/** The worker thread's endpoint to its parent. */
export function workerEndpoint(): Comlink.Endpoint {
  if (!parentPort) throw new Error('the engine worker must run in a worker thread (createEngine starts it)');
  return nodeEndpoint(parentPort as unknown as NodeEndpoint);
}

/** VOC-layout folders open with openVOC. */
export const openPath: OpenPath = (path, split, opts) => openVOC(path, split, opts);
