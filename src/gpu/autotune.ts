// Per-adapter kernel variant selection. The same kernel family has different fast forms on
// different adapters: on CPU-emulated adapters (llvmpipe, SwiftShader) register-blocked
// kernels without workgroup memory win, on real GPUs workgroup-memory tiling wins, and tile
// sizes depend on the shape. The first time a (family, shape) is seen, every candidate from a
// small table is planned on scratch buffers and timed (a warm-up, then the median of a few
// runs, each fenced with queue.onSubmittedWorkDone); the winner is cached in gpu.cache and,
// when a file is configured, in a JSON file keyed by adapter so later processes skip timing.
import type { Gpu } from './device.js';
import { policyDefaults, type AutotuneMode } from './policy.js';
import { disposeDispatch, submit, type Dispatch } from './kernel.js';

export type { AutotuneMode } from './policy.js';

/** Settings a process gives the devices it acquires later, and the file that persists choices. */
export interface AutotuneOptions {
  mode?: AutotuneMode;
  /**
   * JSON file (Node only) that persists choices across processes, for the whole process: read once,
   * rewritten on each new choice. The `webfcn` command sets it from WEBFCN_AUTOTUNE_FILE.
   */
  file?: string | null;
  force?: string | string[] | null;
  reps?: number;
}

// The persistence file is a process-wide resource, not a device setting. Only the command line
// sets it, so in browser bundles it stays null and the Node file code below is dropped.
const persistence: { file: string | null } = { file: null };
let fileTable: Record<string, Record<string, string>> | null = null;

/**
 * Sets the persistence file, and the autotune settings that devices acquired after this call
 * start with. A device's own settings are `gpu.policy.autotune` (override them for a while with
 * withPolicy, policy.ts).
 */
export function configureAutotune(opts: AutotuneOptions): void {
  if (opts.file !== undefined) {
    persistence.file = opts.file;
    fileTable = null;
  }
  for (const k of ['mode', 'force', 'reps'] as const) if (opts[k] !== undefined) (policyDefaults.autotune as Record<string, unknown>)[k] = opts[k];
}

/** A candidate: a name (stable across processes) and how to plan it on scratch buffers. */
export interface Candidate<C> {
  name: string;
  config: C;
}

/** Identifies the adapter a choice was measured on. */
export function adapterKey(gpu: Gpu): string {
  const r = gpu.report;
  return [r.backend, r.vendor, r.architecture, r.device, r.description].join('|');
}

async function loadFile(): Promise<Record<string, Record<string, string>>> {
  if (fileTable) return fileTable;
  fileTable = {};
  if (!persistence.file || typeof process === 'undefined') return fileTable;
  try {
    const fs = await import('node:fs/promises');
    fileTable = JSON.parse(await fs.readFile(persistence.file, 'utf8')) as Record<string, Record<string, string>>;
  } catch {
    fileTable = {};
  }
  return fileTable;
}

async function saveFile(): Promise<void> {
  if (!persistence.file || !fileTable || typeof process === 'undefined') return;
  const fs = await import('node:fs/promises');
  const tmp = `${persistence.file}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(fileTable, null, 1));
  await fs.rename(tmp, persistence.file);
}

/** Median wall time (ms) of `reps` fenced runs of the planned dispatches, after one warm-up run. */
export async function timeDispatches(gpu: Gpu, ds: readonly Dispatch[], reps: number): Promise<number> {
  submit(gpu, ds, 'autotune');
  await gpu.sync();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    submit(gpu, ds, 'autotune');
    await gpu.device.queue.onSubmittedWorkDone();
    times.push(performance.now() - t0);
  }
  gpu.check();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/**
 * Chooses a candidate for (family, shapeKey): forced, cached, from the file, the adapter-type
 * default (`fallback(software, architecture)`), or by timing each `plan(config)` (which must use scratch
 * buffers: the timed runs overwrite what they bind).
 */
export async function choose<C>(
  gpu: Gpu,
  family: string,
  shapeKey: string,
  candidates: readonly Candidate<C>[],
  /** The untimed choice for an adapter: (software?, its architecture string). */
  fallback: (software: boolean, architecture: string) => string,
  plan: (config: C) => Promise<{ dispatches: Dispatch[]; release: () => void }>,
): Promise<Candidate<C>> {
  const options = gpu.policy.autotune;
  const byName = (name: string) => candidates.find((c) => c.name === name);
  for (const name of [options.force ?? []].flat()) {
    const f = byName(name);
    if (f) return f;
  }
  const measure = options.mode === 'on' || (options.mode === 'auto' && !gpu.report.software);
  if (!measure || candidates.length === 1) return byName(fallback(gpu.report.software, gpu.report.architecture)) ?? candidates[0]!;

  const key = `autotune:${family}:${shapeKey}`;
  let pending = gpu.cache.get(key) as Promise<string> | undefined;
  if (!pending) {
    pending = (async () => {
      const table = await loadFile();
      const ak = adapterKey(gpu);
      const stored = table[ak]?.[`${family}:${shapeKey}`];
      if (stored && byName(stored)) return stored;
      let best = fallback(gpu.report.software, gpu.report.architecture);
      let bestMs = Infinity;
      for (const c of candidates) {
        const { dispatches, release } = await plan(c.config);
        try {
          const ms = await timeDispatches(gpu, dispatches, options.reps);
          if (ms < bestMs) {
            bestMs = ms;
            best = c.name;
          }
        } finally {
          for (const d of dispatches) disposeDispatch(gpu, d);
          release();
        }
      }
      (table[ak] ??= {})[`${family}:${shapeKey}`] = best;
      await saveFile();
      return best;
    })();
    gpu.cache.set(key, pending);
    pending.catch(() => gpu.cache.delete(key));
  }
  return byName(await pending) ?? candidates[0]!;
}
