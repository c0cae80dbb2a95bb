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

/** Settings a process gives the devices it acquires later (the `webfcn` command: the persistence file). */
export interface AutotuneOptions {
  mode?: AutotuneMode;
  /** JSON file (Node only) that persists choices across processes; read once, rewritten on each new choice. */
  file?: string | null;
  force?: string | string[] | null;
  reps?: number;
}

/**
 * Sets the autotune settings that devices acquired after this call start with. A device's own
 * settings are `gpu.policy.autotune` (override them for a while with withPolicy, policy.ts).
 */
export function configureAutotune(opts: AutotuneOptions): void {
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (policyDefaults.autotune as Record<string, unknown>)[k] = v;
}

/** Choice tables read from persistence files, by file name (each read once per process). */
const fileTables = new Map<string, Record<string, Record<string, string>>>();

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

async function loadFile(file: string | null): Promise<Record<string, Record<string, string>>> {
  if (!file || typeof process === 'undefined') return {};
  let table = fileTables.get(file);
  if (table) return table;
  try {
    const fs = await import('node:fs/promises');
    table = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  } catch {
    table = {};
  }
  fileTables.set(file, table);
  return table;
}

async function saveFile(file: string | null, table: Record<string, Record<string, string>>): Promise<void> {
  if (!file || typeof process === 'undefined') return;
  const fs = await import('node:fs/promises');
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(table, null, 1));
  await fs.rename(tmp, file);
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
      const file = options.file;
      const table = await loadFile(file);
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
      await saveFile(file, table);
      return best;
    })();
    gpu.cache.set(key, pending);
    pending.catch(() => gpu.cache.delete(key));
  }
  return byName(await pending) ?? candidates[0]!;
}
