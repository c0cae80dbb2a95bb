// Seeded mutation fuzzing shared by the hardening tests and `tools/fuzz.ts`: byte mutations of a
// file, and a runner that classifies every case as a correct result or a clear refusal, and fails
// on anything else (a TypeError or RangeError escaping a reader, a case over its time bound, or
// resident memory growing past a bound).
import { rng } from '../io/build';

export { rng };

/** Cases per fuzz target; WEBFCN_FUZZ_CASES raises it for a deeper run. */
export const CASES = Number(process.env.WEBFCN_FUZZ_CASES ?? 150);

export { byteMutations, HUGE_U32, int, pick, type Mutant, type Mutation } from '../helpers/mutations';
import type { Mutant } from '../helpers/mutations';

export interface Tally {
  label: string;
  cases: number;
  ok: number;
  refused: number;
  /** Refusals by error class. */
  kinds: Record<string, number>;
  slowestMs: number;
  /** Largest resident-memory growth over the run's starting point, in MiB. */
  peakRssMiB: number;
}

export interface FuzzOptions<T> {
  label: string;
  cases: number;
  seed: number;
  make: (r: () => number, i: number) => Mutant<T>;
  /** Runs one case; throws to refuse. */
  run: (input: T, what: string) => void | Promise<void>;
  /** Whether an error is a clear refusal (a named error class whose message names the file). */
  refusal: (e: unknown, input: T) => boolean;
  /** Per-case time bound (default 2 s). */
  maxMs?: number;
  /** Resident-memory growth bound over the whole run (default 256 MiB). */
  maxRssMiB?: number;
}

/** Runs the cases; throws describing the first case that is neither a result nor a clear refusal. */
export async function fuzz<T>(o: FuzzOptions<T>): Promise<Tally> {
  const r = rng(o.seed);
  const t: Tally = { label: o.label, cases: o.cases, ok: 0, refused: 0, kinds: {}, slowestMs: 0, peakRssMiB: 0 };
  const rss0 = process.memoryUsage().rss;
  const maxMs = o.maxMs ?? 2000;
  const maxRss = o.maxRssMiB ?? 256;
  for (let i = 0; i < o.cases; i++) {
    const { input, what } = o.make(r, i);
    const t0 = performance.now();
    try {
      await o.run(input, what);
      t.ok++;
    } catch (e) {
      if (!o.refusal(e, input)) {
        const err = e as Error;
        throw new Error(`${o.label} case ${i} (${what}): not a clear refusal: ${err?.name}: ${String(err?.message).slice(0, 500)}\n${err?.stack ?? ''}`);
      }
      const name = (e as Error).name;
      t.kinds[name] = (t.kinds[name] ?? 0) + 1;
      t.refused++;
    }
    const ms = performance.now() - t0;
    t.slowestMs = Math.max(t.slowestMs, ms);
    if (ms > maxMs) throw new Error(`${o.label} case ${i} (${what}) took ${ms.toFixed(0)} ms (bound ${maxMs} ms)`);
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    if (process.env.WEBFCN_FUZZ_DEBUG && grown > t.peakRssMiB + 16) console.log(`  ${o.label} case ${i} (${what}): rss +${grown.toFixed(0)} MiB, ${ms.toFixed(0)} ms`);
    t.peakRssMiB = Math.max(t.peakRssMiB, grown);
    if (grown > maxRss) throw new Error(`${o.label} case ${i} (${what}): resident memory grew ${grown.toFixed(0)} MiB (bound ${maxRss} MiB)`);
  }
  console.log(report(t));
  return t;
}

export function report(t: Tally): string {
  const kinds = Object.entries(t.kinds).map(([k, n]) => `${k} ${n}`).join(', ');
  return `${t.label}: ${t.cases} cases, ${t.ok} ok, ${t.refused} refused (${kinds || 'none'}); slowest ${t.slowestMs.toFixed(0)} ms, rss +${t.peakRssMiB.toFixed(0)} MiB`;
}

/** Whether `e` is one of `classes` and its message names `file`. */
export function namedRefusal(e: unknown, classes: readonly (abstract new (...a: never[]) => Error)[], file: string): boolean {
  return classes.some((c) => e instanceof c) && (e as Error).message.includes(file);
}

/** CRC-32 (PNG chunks). */
export function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const x of bytes) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
