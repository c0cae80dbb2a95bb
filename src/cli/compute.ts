// The flags every computing command takes to choose where it runs (INTERFACE.md): --backend
// auto|webgpu|wasm, --adapter for Dawn's adapters, --threads for wasm; and opening that backend.
import { acquireCompute, type Compute } from '../fcn/compute.js';
import { parseIntFlag, UsageError } from './args.js';

export const computeOptions = {
  backend: { type: 'string' },
  adapter: { type: 'string' },
  threads: { type: 'string' },
} as const;

export const computeHelp = `where it runs:
  --backend B   auto (default): a hardware WebGPU adapter if there is one, else WebAssembly;
                webgpu (a software adapter when there is no GPU); wasm (CPU, SIMD and threads).
                WEBFCN_BACKEND does the same for every command
  --adapter A   WebGPU in Node: default (hardware), opengles (Mesa llvmpipe) or swiftshader; implies
                --backend webgpu (WEBFCN_ADAPTER)
  --threads N   wasm threads, default: the machine's cores (WEBFCN_THREADS)`;

/** Opens the backend the flags (and environment) name; flag mistakes are usage errors. */
export async function openCompute(v: Record<string, string | boolean | undefined>): Promise<Compute> {
  const threads = v.threads !== undefined ? parseIntFlag('threads', v.threads as string, 1, 256) : undefined;
  if (v.backend !== undefined && !['auto', 'webgpu', 'wasm', 'default', 'opengles', 'swiftshader'].includes(v.backend as string)) {
    throw new UsageError(`--backend must be auto, webgpu or wasm; got '${v.backend}'`);
  }
  if (v.adapter !== undefined && !['default', 'opengles', 'swiftshader'].includes(v.adapter as string)) {
    throw new UsageError(`--adapter must be default, opengles or swiftshader; got '${v.adapter}'`);
  }
  if (v.adapter !== undefined && v.backend === 'wasm') throw new UsageError('--adapter names a WebGPU adapter: it cannot go with --backend wasm');
  return acquireCompute({ backend: v.backend as string | undefined, adapter: v.adapter as string | undefined, threads });
}

/** A few words for progress lines: the Dawn adapter (opengles, swiftshader, vulkan...) or wasm and its threads. */
export function computeLabel(c: Compute): string {
  const r = c.report;
  return r.backend === 'wasm' ? `wasm (${r.threads} thread${r.threads === 1 ? '' : 's'})` : r.adapter!.backend;
}
