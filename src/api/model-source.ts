// Model files from URLs on the caller's thread: streamed with progress, kept in the Cache API or
// IndexedDB for the next visit (as transformers.js and ONNX Runtime Web apps do), then transferred
// to the worker as bytes.
import { EngineError } from './errors.js';
import type { LoadProgress } from './types.js';

export type CacheMode = boolean | 'cache-api' | 'indexeddb';
const CACHE_NAME = 'webfcn-models';

function abortError(what: string, signal: AbortSignal): EngineError {
  const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new EngineError('ABORTED', `${what}: aborted${why}`, { cause: signal.reason });
}

/** Reads a body stream into one array, reporting bytes as they arrive. */
async function readBody(res: Response, phase: LoadProgress['phase'], onProgress?: (p: LoadProgress) => void, signal?: AbortSignal, what = 'loadModel'): Promise<Uint8Array> {
  const len = Number(res.headers.get('content-length'));
  const total = Number.isFinite(len) && len > 0 ? len : null;
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ phase, loaded: bytes.length, total: bytes.length });
    return bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  onProgress?.({ phase, loaded, total });
  for (;;) {
    if (signal?.aborted) {
      await reader.cancel().catch(() => undefined);
      throw abortError(what, signal);
    }
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress?.({ phase, loaded, total });
  }
  if (parts.length === 1 && parts[0]!.byteOffset === 0 && parts[0]!.byteLength === parts[0]!.buffer.byteLength) return parts[0]!;
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function idb<T>(run: (store: IDBObjectStore) => IDBRequest<T>, mode: IDBTransactionMode): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(CACHE_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('files');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction('files', mode);
      const req = run(tx.objectStore('files'));
      tx.oncomplete = () => {
        db.close();
        resolve(req.result);
      };
      tx.onerror = tx.onabort = () => {
        db.close();
        reject(tx.error ?? req.error);
      };
    };
  });
}

/** Which cache a mode resolves to here (null: none available or asked for). */
export function cacheKind(mode: CacheMode): 'cache-api' | 'indexeddb' | null {
  const cacheApi = typeof caches !== 'undefined' && (globalThis as { isSecureContext?: boolean }).isSecureContext !== false;
  const indexed = typeof indexedDB !== 'undefined';
  if (mode === false) return null;
  if (mode === 'cache-api') return cacheApi ? 'cache-api' : null;
  if (mode === 'indexeddb') return indexed ? 'indexeddb' : null;
  return cacheApi ? 'cache-api' : indexed ? 'indexeddb' : null;
}

/**
 * The bytes at `url`: from the cache when it holds them, else fetched (streamed, with progress)
 * and then stored. A cache that fails (quota, private mode) only costs the download.
 */
export async function fetchModelBytes(url: string | URL, opts: { cache?: CacheMode; onProgress?: (p: LoadProgress) => void; signal?: AbortSignal; what?: string } = {}): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
  const what = opts.what ?? 'loadModel';
  const href = new URL(url, (globalThis as { location?: { href: string } }).location?.href).href;
  if (opts.signal?.aborted) throw abortError(what, opts.signal);
  const kind = cacheKind(opts.cache ?? true);
  if (kind === 'cache-api') {
    const hit = await caches.open(CACHE_NAME).then((c) => c.match(href)).catch(() => undefined);
    if (hit) return { bytes: await readBody(hit, 'cache', opts.onProgress, opts.signal, what), fromCache: true };
  } else if (kind === 'indexeddb') {
    const hit = await idb<ArrayBuffer | undefined>((s) => s.get(href), 'readonly').catch(() => undefined);
    if (hit instanceof ArrayBuffer) {
      opts.onProgress?.({ phase: 'cache', loaded: hit.byteLength, total: hit.byteLength });
      return { bytes: new Uint8Array(hit), fromCache: true };
    }
  }
  let res: Response;
  try {
    res = await fetch(href, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw abortError(what, opts.signal);
    throw new EngineError('NETWORK', `${what}: could not fetch ${href}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok) throw new EngineError('NETWORK', `${what}: ${href} answered HTTP ${res.status} ${res.statusText}`.trimEnd());
  const bytes = await readBody(res, 'download', opts.onProgress, opts.signal, what);
  if (kind === 'cache-api') {
    await caches.open(CACHE_NAME)
      .then((c) => c.put(href, new Response(bytes.slice(), { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } })))
      .catch(() => undefined);
  } else if (kind === 'indexeddb') {
    await idb((s) => s.put(bytes.slice().buffer, href), 'readwrite').catch(() => undefined);
  }
  return { bytes, fromCache: false };
}

/** The file name at the end of a URL, for messages. */
export function urlName(url: string | URL): string {
  const path = String(url).split(/[?#]/)[0]!;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || String(url);
}
