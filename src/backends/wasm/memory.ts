// One WebAssembly memory per runtime, handed out by a bump allocator (the wasm counterpart of the
// GPU plan's buffers): a plan asks for all its regions at once, the total is checked against what
// a wasm32 memory can hold (4 GiB, or the smaller maximum the host granted) before anything grows,
// and a too-large plan is refused with the regions that made it too large.

export const PAGE = 65536;
/** The most a wasm32 memory can address: 65536 pages of 64 KiB. */
export const WASM32_MAX_BYTES = 4 * 1024 ** 3;
/** Every region starts on a cache line (and so is 16-byte aligned for v128 loads). */
export const ALIGN = 64;

/** A plan or allocation does not fit in the WebAssembly memory. */
export class WasmMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmMemoryError';
  }
}

export interface Region {
  label: string;
  bytes: number;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Bump allocator over one WebAssembly.Memory; `mark`/`release` free everything allocated after a mark. */
export class Arena {
  private topPtr: number;

  /** `base`: first free byte (past the module's static data); `limit`: bytes the memory may reach. */
  constructor(readonly memory: WebAssembly.Memory, base: number, readonly limit: number) {
    this.topPtr = align(base);
  }

  /** First byte not yet handed out. */
  get top(): number {
    return this.topPtr;
  }

  /** Reserves every region at once, or none: throws WasmMemoryError before growing when they do not fit. */
  plan(regions: Region[]): number[] {
    let end = this.topPtr;
    const ptrs = regions.map((r) => {
      if (!Number.isFinite(r.bytes) || r.bytes < 0) throw new WasmMemoryError(`wasm plan: region ${r.label} has an invalid size ${r.bytes}`);
      const p = end;
      end = align(end + r.bytes);
      return p;
    });
    if (end > this.limit) {
      const largest = [...regions].sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((r) => `${r.label} ${mib(r.bytes)}`).join(', ');
      throw new WasmMemoryError(
        `wasm plan needs ${mib(end - this.topPtr)} more (${mib(end)} in all), over the ${mib(this.limit)} this WebAssembly ` +
        `memory can hold (wasm32 addresses at most 4 GiB); largest regions: ${largest}. Use a smaller batch or crop.`);
    }
    this.ensure(end);
    this.topPtr = end;
    return ptrs;
  }

  /** Reserves one region (see `plan`). */
  alloc(bytes: number, label: string): number {
    return this.plan([{ label, bytes }])[0]!;
  }

  /** A mark to `release` back to. */
  mark(): number {
    return this.topPtr;
  }

  /** Frees every region allocated since `mark` (their bytes are reused by the next allocations). */
  release(mark: number): void {
    if (mark > this.topPtr) throw new Error(`Arena.release: mark ${mark} is past the top ${this.topPtr}`);
    this.topPtr = mark;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // Grow at least by a quarter (or 16 MiB): each grow of a big memory is expensive.
    const want = Math.min(this.limit, Math.max(end, have + Math.max(16 << 20, have >>> 2)));
    try {
      this.memory.grow(Math.ceil((want - have) / PAGE));
    } catch {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw new WasmMemoryError(`wasm memory: the host refused to grow to ${mib(end)}: ${(e as Error).message}`);
      }
    }
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/**
 * One scratch region shared by the steps of a sequential plan (steps never run at the same time,
 * so each may use all of it): planning records each step's regions (`reserve`), then `allocate`
 * reserves the largest total once, and a step finds its regions at run time (`ptrs`).
 */
export class SharedScratch {
  private need = 0;
  private base = -1;

  /** Bytes the largest step needs. */
  get bytes(): number {
    return this.need;
  }

  /** Records a step's regions; returns their offsets within the scratch region, for `ptrs`. */
  reserve(regions: Region[]): number[] {
    let end = 0;
    const offs = regions.map((r) => {
      const o = end;
      end = align(end + r.bytes);
      return o;
    });
    this.need = Math.max(this.need, end);
    return offs;
  }

  /** Reserves the region in the arena (once, after planning). */
  allocate(arena: Arena, label = 'shared scratch'): void {
    if (this.base >= 0) throw new Error('SharedScratch.allocate: already allocated');
    this.base = arena.alloc(this.need, label);
  }

  /** Absolute offsets of regions recorded by `reserve`. */
  ptrs(offsets: readonly number[]): number[] {
    if (this.base < 0) throw new Error('SharedScratch: a step ran before the scratch region was allocated (call allocate after planning)');
    return offsets.map((o) => this.base + o);
  }
}

/**
 * A step's temporary regions: in `shared` when given (resolved when the step runs), else
 * reserved now in the arena. Returns a function giving the regions' offsets.
 */
export function scratchRegions(arena: Arena, regions: Region[], shared?: SharedScratch): () => number[] {
  if (shared) {
    const offs = shared.reserve(regions);
    return () => shared.ptrs(offs);
  }
  const ptrs = arena.plan(regions);
  return () => ptrs;
}
