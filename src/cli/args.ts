// Argument helpers shared by the CLI commands: sizes are `HxW` (height first, as the chapter's
// crop_size = (320, 480)); every parse error names the flag.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `HxW` (e.g. `320x480`) into [H, W]. */
export function parseSize(flag: string, value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value.trim());
  if (!m) throw new UsageError(`--${flag} must be HxW (height x width), e.g. 320x480; got '${value}'`);
  const h = Number(m[1]);
  const w = Number(m[2]);
  if (h < 1 || w < 1) throw new UsageError(`--${flag} must be positive; got '${value}'`);
  return [h, w];
}

/** Parses an integer flag within [min, max]. */
export function parseIntFlag(flag: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}]; got '${value}'`);
  return n;
}
