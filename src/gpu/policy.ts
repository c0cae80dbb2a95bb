// Kernel policy: the choices a device's planners make that tests, benchmarks and users may
// override (variant forcing, split counts, Winograd tiles, CPU-adapter variants). One object per
// device (Gpu.policy), read from the environment when the device is acquired, instead of
// process-wide option objects: two devices in one process can be tuned differently, and a test
// that overrides something (withPolicy) restores it when it ends.

/** 'auto': measure on hardware adapters, fixed defaults on software ones; 'on': always measure; 'off': never. */
export type AutotuneMode = 'auto' | 'on' | 'off';

export interface AutotunePolicy {
  /** From WEBFCN_AUTOTUNE (0 → 'off', 1 → 'on'), else 'auto'. */
  mode: AutotuneMode;
  /** Forces candidates by name, in every family that has one of them (tests and benchmarks compare variants this way). */
  force: string | string[] | null;
  /** Timed runs per candidate (after one warm-up). */
  reps: number;
}

export interface ConvPolicy {
  /** Pretend storage bindings are at most this many bytes (exercises the split-over-N path). */
  maxBindingBytes?: number;
  /** Fixed split count for the weight-gradient reduction (else chosen from the shape). */
  wgradSplits?: number;
  /** Fixed split-K counts for forward / backward-input over kernel rows and over channels (else chosen from the shape). */
  igemmSplits?: number;
  igemmChSplits?: number;
  /**
   * Winograd for 3×3 stride-1 padding-1 passes: unset = where it pays (winograd.ts),
   * true = wherever the shape allows, false = never. Env: WEBFCN_WINOGRAD=off.
   */
  winograd?: boolean;
  /** Winograd tile F(m×m, 3×3), m = 2, 3 or 4 (else chosen per shape). Env: WEBFCN_WINOGRAD=2|3|4. */
  winogradTile?: 2 | 3 | 4;
}

export interface BatchNormPolicy {
  /** true = the CPU-adapter (narrow) reduction variants, false = the 64-wide ones; unset = by adapter. */
  cpuVariants?: boolean;
}

export interface KernelPolicy {
  autotune: AutotunePolicy;
  conv: ConvPolicy;
  batchNorm: BatchNormPolicy;
}

/** Overrides of some fields of a policy. */
export interface PolicyOverrides {
  autotune?: Partial<AutotunePolicy>;
  conv?: ConvPolicy;
  batchNorm?: BatchNormPolicy;
}

type Env = Record<string, string | undefined>;

/**
 * Process-wide starting values for devices acquired later (configureAutotune); a device's own
 * policy is what its planners read.
 */
export const policyDefaults: { autotune: Partial<AutotunePolicy> } = { autotune: {} };

/** The policy a new device starts with: the environment's settings over the built-in defaults. */
export function policyFromEnv(env: Env = typeof process !== 'undefined' ? process.env ?? {} : {}): KernelPolicy {
  const tune = env.WEBFCN_AUTOTUNE;
  const conv: ConvPolicy = {};
  const w = env.WEBFCN_WINOGRAD;
  if (w === 'off' || w === '0') conv.winograd = false;
  else if (w === '2' || w === '3' || w === '4') conv.winogradTile = Number(w) as 2 | 3 | 4;
  return {
    autotune: { mode: tune === '0' ? 'off' : tune === '1' ? 'on' : 'auto', force: null, reps: 3, ...policyDefaults.autotune },
    conv,
    batchNorm: {},
  };
}

/** Applies `o` to `p` and returns a function that puts back what was there before. */
export function overridePolicy(p: KernelPolicy, o: PolicyOverrides): () => void {
  const undo: (() => void)[] = [];
  for (const part of ['autotune', 'conv', 'batchNorm'] as const) {
    const target = p[part] as Record<string, unknown>;
    for (const [k, v] of Object.entries(o[part] ?? {})) {
      const had = Object.prototype.hasOwnProperty.call(target, k);
      const old = target[k];
      if (v === undefined) delete target[k];
      else target[k] = v;
      undo.push(() => {
        if (had) target[k] = old;
        else delete target[k];
      });
    }
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/** Runs `fn` with `o` applied to `holder.policy`, restoring the policy afterwards (even on failure). */
export async function withPolicy<T>(holder: { policy: KernelPolicy }, o: PolicyOverrides, fn: () => Promise<T>): Promise<T> {
  const restore = overridePolicy(holder.policy, o);
  try {
    return await fn();
  } finally {
    restore();
  }
}
