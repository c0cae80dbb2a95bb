// The WebAssembly preprocessing kernels (assembly/index.ts) behind the same signatures as their
// TypeScript twins (preprocess-ts.ts), plus the zero-copy API the data loader uses.
//
// Memory: one linear memory, bump-allocated by this class (`alloc`), never freed. Regions the
// loader reuses (decoded-image cache, staging batches, the 16 MiB colour table) are allocated
// once; the twin-signature methods copy their arguments through a scratch region that grows
// only when a larger call arrives. Growing memory detaches every view of it, so views are
// re-created after each allocation (`u8`/`f32`/`u32` make fresh ones) and must not be kept
// across calls that may allocate.
import wasmBytes from '../../build/preprocess.wasm';
import { type ColorTable } from './colormap.js';
import { checkCrop, checkDst, overlayWeight, type PreprocessKernels } from './preprocess-ts.js';

interface Exports {
  memory: WebAssembly.Memory;
  reserve(bytes: number): number;
  cropNormalize(src: number, srcW: number, c: number, y0: number, x0: number, ch: number, cw: number, dst: number, index: number): void;
  cropLabels(src: number, srcW: number, y0: number, x0: number, ch: number, cw: number, dst: number, index: number): void;
  cropU8(src: number, srcW: number, c: number, y0: number, x0: number, ch: number, cw: number, dst: number): void;
  colorToClass(src: number, c: number, n: number, lut: number, dst: number): void;
  classToColor(ids: number, n: number, palette: number, dst: number): void;
  overlay(img: number, c: number, colors: number, n: number, a: number, dst: number): void;
  countInvalid(labels: number, n: number, k: number): number;
}

/** Bytes kept free after every region: RGB kernels read 16-byte vectors up to 4 bytes past the data. */
export const SLACK = 16;

const WASM_MAX_BYTES = 4 * 1024 ** 3;

let compiled: Promise<WebAssembly.Module> | null = null;

/** The WebAssembly preprocessing kernels and their linear memory. */
export class Preprocessor implements PreprocessKernels {
  private top: number;
  private scratchPtr = 0;
  private scratchLen = 0;
  private lutPtr = 0;
  private lutTable: ColorTable | null = null;
  private palettePtr = 0;

  private constructor(private readonly ex: Exports) {
    this.top = ex.reserve(0);
  }

  /** Compiles (once per process) and instantiates the kernels. */
  static async create(): Promise<Preprocessor> {
    compiled ??= WebAssembly.compile(wasmBytes as BufferSource);
    const instance = await WebAssembly.instantiate(await compiled, {
      env: { abort: () => { throw new Error('preprocess.wasm: abort'); } },
    });
    return new Preprocessor(instance.exports as unknown as Exports);
  }

  /** Bytes of linear memory in use by allocations. */
  get allocated(): number {
    return this.top;
  }

  /** Allocates `bytes` (+ SLACK) of linear memory, 16-byte aligned; never freed. Detaches old views. */
  alloc(bytes: number, label = 'region'): number {
    const ptr = this.top;
    const end = ptr + Math.ceil((bytes + SLACK) / 16) * 16;
    const have = this.ex.memory.buffer.byteLength;
    // Grow in large steps: each grow of a big memory costs about as much as decoding an image.
    const target = end <= have ? end : Math.max(end, Math.min(WASM_MAX_BYTES - 65536, have + Math.max(64 << 20, have >>> 2)));
    const base = this.ex.reserve(0);
    if (end > WASM_MAX_BYTES || (this.ex.reserve(target - base) === 0 && this.ex.reserve(end - base) === 0)) {
      throw new Error(`Preprocessor: cannot allocate ${bytes} bytes for ${label}: WebAssembly memory would reach ` +
        `${(end / 2 ** 20).toFixed(0)} MiB (limit 4096 MiB, or the host refused to grow it)`);
    }
    this.top = end;
    return ptr;
  }

  u8(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.ex.memory.buffer, ptr, len);
  }

  f32(ptr: number, len: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, ptr, len);
  }

  u32(ptr: number, len: number): Uint32Array {
    return new Uint32Array(this.ex.memory.buffer, ptr, len);
  }

  /** The memory's current ArrayBuffer (changes when memory grows). */
  get buffer(): ArrayBuffer {
    return this.ex.memory.buffer;
  }

  // ---- zero-copy kernels on regions of linear memory -------------------------------------

  /** cropNormalize on resident data: src (H, W, C) u8 at `src` → (N, 3, ch, cw) f32 at `dst`, image `index`. */
  cropNormalizeAt(src: number, srcW: number, channels: number, y0: number, x0: number, ch: number, cw: number, dst: number, index: number): void {
    this.ex.cropNormalize(src, srcW, channels, y0, x0, ch, cw, dst, index);
  }

  /** cropLabels on resident data: src (H, W) u8 at `src` → (N, ch, cw) u32 at `dst`, image `index`. */
  cropLabelsAt(src: number, srcW: number, y0: number, x0: number, ch: number, cw: number, dst: number, index: number): void {
    this.ex.cropLabels(src, srcW, y0, x0, ch, cw, dst, index);
  }

  /** colorToClass on resident data: src (n, C) u8 → dst (n) u8 with the loaded table. */
  colorToClassAt(src: number, channels: number, n: number, table: ColorTable, dst: number): void {
    this.ex.colorToClass(src, channels, n, this.loadTable(table), dst);
  }

  /** colorToClass from host pixels (n, C) u8 straight into resident class ids (n) u8 at `dst`. */
  colorToClassInto(src: Uint8Array, channels: number, table: ColorTable, dst: number): void {
    const n = Math.floor(src.length / channels);
    const lut = this.loadTable(table);
    const [ps] = this.scratch(n * channels);
    this.u8(ps, n * channels).set(src.subarray(0, n * channels));
    this.ex.colorToClass(ps, channels, n, lut, dst);
  }

  /** countInvalid on resident labels (n) u8. */
  countInvalidAt(labels: number, n: number, k: number): number {
    return this.ex.countInvalid(labels, n, k);
  }

  // ---- the twin signatures (arguments copied through scratch memory) ----------------------

  cropNormalize(src: Uint8Array, height: number, width: number, channels: number,
    y0: number, x0: number, ch: number, cw: number, dst: Float32Array, index: number): void {
    checkCrop('cropNormalize', src.length, height, width, channels, y0, x0, ch, cw);
    if (channels === 1) throw new Error('cropNormalize: needs 3 or 4 channels');
    checkDst('cropNormalize', dst.length, index, 3 * ch * cw);
    const n = height * width * channels;
    const out = 3 * ch * cw * 4;
    const [ps, pd] = this.scratch(n, out);
    this.u8(ps, n).set(src.subarray(0, n));
    this.ex.cropNormalize(ps, width, channels, y0, x0, ch, cw, pd, 0);
    dst.set(this.f32(pd, 3 * ch * cw), index * 3 * ch * cw);
  }

  cropLabels(src: Uint8Array, height: number, width: number,
    y0: number, x0: number, ch: number, cw: number, dst: Uint32Array, index: number): void {
    checkCrop('cropLabels', src.length, height, width, 1, y0, x0, ch, cw);
    checkDst('cropLabels', dst.length, index, ch * cw);
    const n = height * width;
    const [ps, pd] = this.scratch(n, ch * cw * 4);
    this.u8(ps, n).set(src.subarray(0, n));
    this.ex.cropLabels(ps, width, y0, x0, ch, cw, pd, 0);
    dst.set(this.u32(pd, ch * cw), index * ch * cw);
  }

  crop(src: Uint8Array, height: number, width: number, channels: number,
    y0: number, x0: number, ch: number, cw: number, dst?: Uint8Array): Uint8Array {
    checkCrop('crop', src.length, height, width, channels, y0, x0, ch, cw);
    const n = height * width * channels;
    const m = ch * cw * channels;
    const out = dst ?? new Uint8Array(m);
    checkDst('crop', out.length, 0, m);
    const [ps, pd] = this.scratch(n, m);
    this.u8(ps, n).set(src.subarray(0, n));
    this.ex.cropU8(ps, width, channels, y0, x0, ch, cw, pd);
    out.set(this.u8(pd, m));
    return out;
  }

  colorToClass(src: Uint8Array, channels: number, table: ColorTable, dst?: Uint8Array): Uint8Array {
    if (channels !== 3 && channels !== 4) throw new Error(`colorToClass: channels ${channels}, expected 3 or 4`);
    const n = Math.floor(src.length / channels);
    const out = dst ?? new Uint8Array(n);
    checkDst('colorToClass', out.length, 0, n);
    const lut = this.loadTable(table);
    const [ps, pd] = this.scratch(n * channels, n);
    this.u8(ps, n * channels).set(src.subarray(0, n * channels));
    this.ex.colorToClass(ps, channels, n, lut, pd);
    out.set(this.u8(pd, n));
    return out;
  }

  classToColor(ids: Uint32Array, palette: Uint32Array, dst?: Uint8Array): Uint8Array {
    if (palette.length !== 256) throw new Error(`classToColor: palette has ${palette.length} entries, expected 256`);
    const n = ids.length;
    const out = dst ?? new Uint8Array(n * 4);
    checkDst('classToColor', out.length, 0, n * 4);
    this.palettePtr ||= this.alloc(1024, 'palette');
    const [ps, pd] = this.scratch(n * 4, n * 4);
    this.u32(this.palettePtr, 256).set(palette);
    this.u32(ps, n).set(ids);
    this.ex.classToColor(ps, n, this.palettePtr, pd);
    out.set(this.u8(pd, n * 4));
    return out;
  }

  overlay(image: Uint8Array, channels: number, colors: Uint8Array, alpha: number, dst?: Uint8Array): Uint8Array {
    if (channels !== 3 && channels !== 4) throw new Error(`overlay: channels ${channels}, expected 3 or 4`);
    const n = Math.floor(image.length / channels);
    if (colors.length < n * 4) throw new Error(`overlay: ${colors.length} colour bytes for ${n} pixels, need ${n * 4}`);
    const out = dst ?? new Uint8Array(n * 4);
    checkDst('overlay', out.length, 0, n * 4);
    const a = overlayWeight(alpha);
    const [ps, pc, pd] = this.scratch(n * channels, n * 4, n * 4);
    this.u8(ps, n * channels).set(image.subarray(0, n * channels));
    this.u8(pc, n * 4).set(colors.subarray(0, n * 4));
    this.ex.overlay(ps, channels, pc, n, a, pd);
    out.set(this.u8(pd, n * 4));
    return out;
  }

  countInvalid(labels: Uint8Array, k: number): number {
    const [p] = this.scratch(labels.length);
    this.u8(p, labels.length).set(labels);
    return this.ex.countInvalid(p, labels.length, k);
  }

  /** Ptr of the 16 MiB colour table in linear memory, (re)loaded when `table` changes. */
  private loadTable(table: ColorTable): number {
    this.lutPtr ||= this.alloc(1 << 24, 'colour table');
    if (this.lutTable !== table) {
      this.u8(this.lutPtr, 1 << 24).set(table.lut);
      this.lutTable = table;
    }
    return this.lutPtr;
  }

  /** Consecutive scratch regions of the given sizes (each followed by SLACK), reused across calls. */
  private scratch(...sizes: number[]): number[] {
    const padded = sizes.map((s) => Math.ceil((s + SLACK) / 16) * 16);
    const total = padded.reduce((a, b) => a + b, 0);
    if (total > this.scratchLen) {
      this.scratchPtr = this.alloc(Math.max(total, this.scratchLen * 2), 'scratch');
      this.scratchLen = Math.max(total, this.scratchLen * 2);
    }
    const out: number[] = [];
    let p = this.scratchPtr;
    for (const s of padded) {
      out.push(p);
      p += s;
    }
    return out;
  }
}
