// Errors that keep their class and code across the worker boundary. Comlink's own 'throw'
// handler sends name, message and stack and rebuilds a plain Error; this one also sends a code and
// rebuilds the class (TypeError, RangeError, GpuError, CheckpointError and its kinds, EngineError),
// so callers can branch on `instanceof` or `err.code` as they would in-process.
import * as Comlink from 'comlink';
import { CheckpointError } from '../io/errors.js';
import { GpuError } from '../gpu/device.js';

/** What went wrong, for programs to branch on. */
export type EngineErrorCode =
  | 'ABORTED' // an AbortSignal fired
  | 'DISPOSED' // the engine was disposed
  | 'WORKER_FAILED' // the worker crashed or could not start
  | 'NO_MODEL' // build(), load() or loadModel() first
  | 'INVALID_ARGUMENT' // bad options or input (TypeError / RangeError)
  | 'GPU' // WebGPU: no adapter, device lost, validation, out of memory
  | 'MODEL_FILE' // a model file was rejected (CheckpointError and its kinds)
  | 'NETWORK' // loadModel could not fetch the URL
  | 'UNKNOWN';

/** An engine failure that is not an argument, GPU or model-file error (which keep their own classes). */
export class EngineError extends Error {
  constructor(readonly code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = code === 'ABORTED' ? 'AbortError' : 'EngineError';
  }
}

/** The code of any error the engine throws. */
export function errorCode(e: unknown): EngineErrorCode {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CODES.has(code as EngineErrorCode)) return code as EngineErrorCode;
  if (e instanceof GpuError) return 'GPU';
  if (e instanceof CheckpointError || (e as Error)?.name === 'CheckpointFormatError') return 'MODEL_FILE';
  if (e instanceof TypeError || e instanceof RangeError) return 'INVALID_ARGUMENT';
  if ((e as Error)?.name === 'AbortError') return 'ABORTED';
  const msg = (e as Error)?.message ?? '';
  if (/there is no model yet/.test(msg)) return 'NO_MODEL';
  if (/has been disposed/.test(msg)) return 'DISPOSED';
  return 'UNKNOWN';
}

const CODES = new Set<EngineErrorCode>(['ABORTED', 'DISPOSED', 'WORKER_FAILED', 'NO_MODEL', 'INVALID_ARGUMENT', 'GPU', 'MODEL_FILE', 'NETWORK', 'UNKNOWN']);

/** An error as it crosses the worker boundary. */
interface WireError {
  name: string;
  message: string;
  stack?: string;
  code: EngineErrorCode;
  /** The nearest class in the thrower's prototype chain that the receiver can rebuild (RecipeError → RangeError). */
  base: string;
  /** GpuError's label, CheckpointError's source. */
  label?: string;
  source?: string;
}

/** Classes rebuilt on the receiving side, by the name the thrower gave. */
const CLASSES: Record<string, { prototype: Error }> = {
  TypeError, RangeError, GpuError, EngineError, AbortError: EngineError,
  CheckpointError, CheckpointFormatError: CheckpointError, PickleError: CheckpointError, PthError: CheckpointError,
  ZipError: CheckpointError, SafetensorsError: CheckpointError, StateDictError: CheckpointError,
};

/** The first constructor name along `e`'s prototype chain that CLASSES knows. */
function baseOf(e: Error): string {
  for (let p = Object.getPrototypeOf(e); p && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name;
    if (name && name in CLASSES) return name;
  }
  return 'Error';
}

export function toWire(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), code: 'UNKNOWN', base: 'Error' };
  const x = e as Error & { label?: unknown; source?: unknown };
  return {
    name: e.name, message: e.message, stack: e.stack, code: errorCode(e), base: CLASSES[e.name] ? e.name : baseOf(e),
    ...(typeof x.label === 'string' ? { label: x.label } : {}),
    ...(typeof x.source === 'string' ? { source: x.source } : {}),
  };
}

export function fromWire(w: WireError): Error {
  const proto = (CLASSES[w.name] ?? CLASSES[w.base] ?? (w.code !== 'UNKNOWN' ? EngineError : Error)).prototype;
  const e = Object.create(proto) as Error & Record<string, unknown>;
  const own = (k: string, value: unknown) => Object.defineProperty(e, k, { value, writable: true, configurable: true, enumerable: false });
  own('message', w.message);
  own('stack', w.stack ?? `${w.name}: ${w.message}`);
  own('name', w.name);
  e.code = w.code;
  if (w.label !== undefined) e.label = w.label;
  if (w.source !== undefined) e.source = w.source;
  return e;
}

let installed = false;

/** Replaces Comlink's 'throw' handler on this side of the boundary (both sides install it). */
export function installErrorHandler(): void {
  if (installed) return;
  installed = true;
  const base = Comlink.transferHandlers.get('throw')!;
  const handler: Comlink.TransferHandler<{ value: unknown }, { webfcnError: WireError }> = {
    canHandle: (v): v is { value: unknown } => base.canHandle(v),
    serialize: ({ value }) => [{ webfcnError: toWire(value) }, []],
    deserialize: (s) => {
      throw fromWire(s.webfcnError);
    },
  };
  Comlink.transferHandlers.set('throw', handler as Comlink.TransferHandler<unknown, unknown>);
}
