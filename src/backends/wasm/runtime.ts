// The WebAssembly compute runtime: the kernels module (assembly/kernels/) in the build the host
// supports, one memory shared by a fixed pool of threads, and the arena that plans offsets in it.
//
// Builds (asconfig.json), chosen at run time:
//   kernels-relaxed.wasm  shared memory, relaxed-SIMD multiply-add — when the runtime validates a
//                         tiny relaxed-SIMD module (Node 20 needs --experimental-wasm-relaxed-simd);
//   kernels.wasm          shared memory, SIMD128 — the default;
//   kernels-single.wasm   unshared memory, SIMD128 — when SharedArrayBuffer is unavailable (a page
//                         that is not cross-origin isolated): one thread, and `reason` says why.
//                         Made from kernels.wasm at run time (unshared.ts: one byte differs), so
//                         bundles carry two builds, not three.
// Threads: the caller is thread 0 and `threads − 1` workers are the rest. An op is one `run`: its
// arguments go into the control block and a new generation into the dispatch word (generation in
// bits 8.., CLOSED in bit 7, the number of workers that joined in bits 0..6); every thread takes
// tiles from the op's atomic counter. A worker joins with a compare-exchange on that word; when
// the caller has finished its share (no tile left) it closes the op (sets CLOSED) and waits only
// for the workers that joined, so a worker still asleep costs the op nothing and a small op never
// waits for a futex wake-up. Workers poll for the next op for a short while (worker-source.ts
// SPIN_MS) before sleeping, and the caller polls the done count before sleeping on it. No
// postMessage per op. Atomics.wait is not allowed on a page's main thread, so in browsers the
// runtime lives in a worker (as the engine does).
import relaxedBytes from '../../../build/kernels-relaxed.wasm';
import sharedBytes from '../../../build/kernels.wasm';
import { Arena, PAGE, WASM32_MAX_BYTES } from './memory.js';
import { unsharedMemoryBuild } from './unshared.js';
import { SPIN_MS, WORKER_SOURCE } from './worker-source.js';

export type SimdLevel = 'relaxed-simd' | 'simd128';

export interface WasmRuntimeOptions {
  /** Threads including the caller; default: the machine's cores. 1 runs without workers. */
  threads?: number;
  /** 'auto' (default) takes relaxed SIMD when the runtime validates it. */
  simd?: 'auto' | SimdLevel;
  /** Upper bound on the memory in bytes (default and most: 4 GiB). */
  maxBytes?: number;
}

/** The op ids of assembly/kernels/index.ts. */
export const Op = {
  gemm: 0,
  packA: 1,
  packB: 2,
  fill: 3,
  im2col: 4,
  col2im: 5,
  biasGrad: 6,
  addBias: 7,
  reluForward: 8,
  reluBackward: 9,
  add: 10,
  maxPoolForward: 11,
  maxPoolBackward: 12,
  batchNormTrain: 13,
  batchNormEval: 14,
  batchNormBackward: 15,
  argmax: 16,
  confusion: 17,
  sgd: 18,
  crossEntropy: 19,
  scale: 20,
  normalizeRgba: 21,
  winogradWeights: 22,
  winogradInput: 23,
  winogradOutput: 24,
  reduceParts: 25,
  tconvPhaseWeights: 26,
  tconvScatter: 27,
  tconvGather: 28,
  tconvInputWeights: 29,
  cropColumns: 30,
  im2colPack: 31,
  im2colPackT: 32,
  tconvPad: 33,
  tconvDirectForward: 34,
  tconvDirectInput: 35,
  tconvDirectReduce: 36,
  tconvDirectWeight: 37,
  tconvChannelsForward: 38,
  tconvChannelsInput: 39,
  tconvChannelsWeight: 40,
} as const;
export type OpName = keyof typeof Op;

interface KernelExports {
  run(op: number, ctl: number, tid: number, nt: number): void;
  heapBase(): number;
  relaxed(): number;
}

// Control block (i32 words / bytes), mirrored in assembly/kernels/args.ts and worker-source.ts.
const DISPATCH = 0, DONE = 1, OP = 2, NT = 3, ERROR = 4, COUNTERS = 8, NCOUNTERS = 4;
/** Dispatch word: CLOSED bit, the joined-worker count below it (so at most 127 workers). */
const CLOSED = 0x80, JOINED = 0x7f, MAX_WORKERS = JOINED;
const ARGS_BYTES = 64, MAX_ARGS = 32, MSG_BYTES = 320, CTL_BYTES = 512;

/** (func (param v128) (result v128) local.get 0 ×3, f32x4.relaxed_madd): validates only where relaxed SIMD is on. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Whether this runtime validates relaxed-SIMD code. */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/**
 * Node 20 keeps relaxed SIMD behind a V8 flag (later versions ship it): turn it on, process-wide,
 * so runtimes created afterwards get the multiply-add build. A no-op in browsers, where it is on or
 * unavailable, and when WEBFCN_SIMD=simd128 asks for plain SIMD128. Call before creating runtimes.
 */
export function enableRelaxedSimd(): void {
  if (typeof process === 'undefined' || !process.versions?.node || relaxedSimdSupported()) return;
  if (process.env.WEBFCN_SIMD === 'simd128') return;
  try {
    nodeBuiltin<typeof import('node:v8')>('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // An embedder without the flag or the module: SIMD128 it is.
  }
}

/** Whether shared memory (and so threads) is available here. */
export function sharedMemorySupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return isolated !== false;
}

/** The machine's cores (Node: availableParallelism; pages: hardwareConcurrency). */
export async function defaultThreads(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const os = nodeBuiltin<typeof import('node:os')>('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

/**
 * A Node built-in module, without an import statement: this file is in the browser bundles too,
 * and bundlers (webpack) fail on any `node:` import they find there. Node ≥ 20.16 has getBuiltinModule.
 */
function nodeBuiltin<T>(id: string): T {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (!get) throw new Error(`wasm runtime: this Node has no process.getBuiltinModule (Node ≥ 20.16 is needed for ${id})`);
  return get(id) as T;
}

interface PoolWorker {
  terminate(): unknown;
}

const compiled = new Map<Uint8Array, Promise<WebAssembly.Module>>();
let singleBytes: Uint8Array | null = null;

/** The kernels, their memory, arena and thread pool. */
export class WasmRuntime {
  private c32!: Int32Array;
  private c64!: Float64Array;
  private view: ArrayBufferLike | null = null;
  private disposed = false;
  /** The generation of the last op dispatched (bits 8.. of the dispatch word). */
  private gen = 0;
  /** Ops run so far, and how many of them at least one worker joined (tests and benchmarks). */
  readonly stats = { ops: 0, joined: 0 };

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly arena: Arena,
    private readonly ex: KernelExports,
    private readonly workers: PoolWorker[],
    private readonly ctl: number,
    /** Threads working on each op (the caller included). */
    readonly threads: number,
    readonly simd: SimdLevel,
    /** Whether the memory is shared (threads possible). */
    readonly shared: boolean,
    /** Why the runtime runs with fewer threads or a lower SIMD level than asked, or ''. */
    readonly reason: string,
  ) {
    this.refresh();
  }

  /** Instantiates the kernels and starts `threads − 1` workers. */
  static async create(options: WasmRuntimeOptions = {}): Promise<WasmRuntime> {
    const reasons: string[] = [];
    const shared = sharedMemorySupported();
    let threads = Math.floor(options.threads ?? await defaultThreads());
    if (!(threads >= 1)) throw new Error(`wasm runtime: threads must be a positive integer, got ${options.threads}`);
    if (threads - 1 > MAX_WORKERS) throw new Error(`wasm runtime: at most ${MAX_WORKERS + 1} threads, got ${threads}`);
    if (!shared && threads > 1) {
      reasons.push('shared memory is unavailable (SharedArrayBuffer missing or the page is not cross-origin isolated): running single-threaded');
      threads = 1;
    }
    let simd: SimdLevel = 'simd128';
    const envSimd = typeof process !== 'undefined' ? process.env?.WEBFCN_SIMD : undefined;
    const wantRelaxed = options.simd === 'relaxed-simd' || ((options.simd ?? 'auto') === 'auto' && envSimd !== 'simd128');
    if (wantRelaxed && shared && relaxedSimdSupported()) simd = 'relaxed-simd';
    else if (options.simd === 'relaxed-simd') reasons.push('relaxed SIMD is not validated by this runtime (or memory is not shared): using SIMD128');
    const bytes = !shared ? (singleBytes ??= unsharedMemoryBuild(sharedBytes)) : simd === 'relaxed-simd' ? relaxedBytes : sharedBytes;

    const maxBytes = Math.min(options.maxBytes ?? WASM32_MAX_BYTES, WASM32_MAX_BYTES);
    let memory: WebAssembly.Memory | null = null;
    let maxPages = Math.floor(maxBytes / PAGE);
    // A host may refuse to reserve 4 GiB (32-bit browsers, tight address-space limits): halve until it accepts.
    while (!memory) {
      try {
        memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages, shared });
      } catch (e) {
        reasons.push(`a ${maxPages >> 4} MiB memory was refused`);
        maxPages >>= 1;
        if (maxPages < 256) throw new Error(`wasm runtime: could not create a WebAssembly memory (${reasons.join('; ')}): ${(e as Error).message}`);
      }
    }
    const limit = maxPages * PAGE;
    let p = compiled.get(bytes);
    if (!p) compiled.set(bytes, (p = WebAssembly.compile(bytes as BufferSource)));
    const module = await p;
    const imports = { env: { memory, abort: () => { throw new Error('kernels.wasm: abort'); } } };
    const ex = (await WebAssembly.instantiate(module, imports)).exports as unknown as KernelExports;
    const arena = new Arena(memory, ex.heapBase(), Math.min(limit, WASM32_MAX_BYTES));
    const ctl = arena.alloc(CTL_BYTES, 'control block');
    const workers = threads > 1 ? await startWorkers(module, memory, ctl, threads - 1) : [];
    return new WasmRuntime(memory, arena, ex, workers, ctl, threads, simd, shared, reasons.join('; '));
  }

  private refresh(): void {
    if (this.view === this.memory.buffer) return;
    this.view = this.memory.buffer;
    this.c32 = new Int32Array(this.view, this.ctl, CTL_BYTES >> 2);
    this.c64 = new Float64Array(this.view, this.ctl + ARGS_BYTES, MAX_ARGS);
  }

  /** Runs op `op` on every thread with `args` (integers, byte offsets, f32 scalars); returns when all are done. */
  run(op: OpName, args: readonly number[]): void {
    if (this.disposed) throw new Error('wasm runtime: used after dispose()');
    if (args.length > MAX_ARGS) throw new Error(`wasm runtime: ${op} has ${args.length} arguments (at most ${MAX_ARGS})`);
    const id = Op[op];
    if (id === undefined) throw new Error(`wasm runtime: unknown op ${op}`);
    this.refresh();
    const c = this.c32;
    for (let i = 0; i < args.length; i++) this.c64[i] = args[i]!;
    for (let i = 0; i < NCOUNTERS; i++) c[COUNTERS + i] = 0;
    c[ERROR] = 0;
    const nt = this.threads;
    if (nt > 1) {
      c[OP] = id;
      c[NT] = nt;
      c[DONE] = 0;
      this.gen = (this.gen + 1) & 0xffffff;
      Atomics.store(c, DISPATCH, this.gen << 8);
      Atomics.notify(c, DISPATCH);
    }
    let mine: unknown = null;
    try {
      this.ex.run(id, this.ctl, 0, nt);
    } catch (e) {
      mine = e;
    }
    if (nt > 1) {
      // Close the op: workers that have not joined yet skip it. Those that did may still be
      // writing: wait for them even when our own share failed (polling first: they are usually
      // finishing their last tile).
      const joined = Atomics.or(c, DISPATCH, CLOSED) & JOINED;
      this.stats.ops++;
      if (joined) {
        this.stats.joined++;
        const t0 = performance.now();
        for (let i = 1, v = Atomics.load(c, DONE); v < joined; i++, v = Atomics.load(c, DONE)) {
          if ((i & 63) === 0 && performance.now() - t0 > SPIN_MS) Atomics.wait(c, DONE, v);
        }
      }
    }
    if (mine) throw new Error(`wasm kernel ${op} failed: ${(mine as Error).message ?? mine}`);
    if (c[ERROR]) throw new Error(`wasm kernel ${op} failed on ${this.errorMessage()}`);
  }

  private errorMessage(): string {
    const b = new Uint8Array(this.memory.buffer, this.ctl + MSG_BYTES, CTL_BYTES - MSG_BYTES);
    let s = '';
    for (let i = 0; i < b.length && b[i]; i++) s += String.fromCharCode(b[i]!);
    return s;
  }

  /** A fresh f32 view (views made before the memory grew are stale). */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  /** Copies `data` into the memory at `ptr`. */
  write(ptr: number, data: ArrayLike<number>): void {
    this.f32(ptr, data.length).set(data);
  }

  /** A copy of `length` f32 at `ptr`. */
  read(ptr: number, length: number): Float32Array {
    return this.f32(ptr, length).slice();
  }

  /** One line for `webfcn info`: build, threads and why. */
  describe(): string {
    return `wasm ${this.simd}, ${this.threads} thread${this.threads > 1 ? 's' : ''}${this.shared ? ', shared memory' : ''}` +
      (this.reason ? ` (${this.reason})` : '');
  }

  /** Stops the workers; the runtime cannot run ops afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length) {
      const c = this.c32;
      c[OP] = -1;
      this.gen = (this.gen + 1) & 0xffffff;
      Atomics.store(c, DISPATCH, this.gen << 8); // never closed: every worker joins it and stops
      Atomics.notify(c, DISPATCH);
      await Promise.all(this.workers.map((w) => w.terminate()));
    }
  }
}

/** Starts `n` workers on the shared memory; resolves once each has instantiated the kernels. */
async function startWorkers(module: WebAssembly.Module, memory: WebAssembly.Memory, ctl: number, n: number): Promise<PoolWorker[]> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  const workers: PoolWorker[] = [];
  const ready: Promise<void>[] = [];
  if (isNode) {
    const { Worker } = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
    for (let tid = 1; tid <= n; tid++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        w.once('message', (m: { ready?: boolean; error?: string }) => {
          if (!m.ready) return reject(new Error(`wasm worker ${tid}: ${m.error}`));
          w.unref(); // once running, a forgotten dispose() must not keep the process alive
          resolve();
        });
        w.once('error', reject);
      }));
      w.postMessage({ module, memory, ctl, tid });
    }
  } else {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    for (let tid = 1; tid <= n; tid++) {
      const w = new Worker(url);
      workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        w.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) => (e.data.ready ? resolve() : reject(new Error(`wasm worker ${tid}: ${e.data.error}`)));
        w.onerror = (e) => reject(new Error(`wasm worker ${tid}: ${e.message}`));
      }));
      w.postMessage({ module, memory, ctl, tid });
    }
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  return workers;
}
