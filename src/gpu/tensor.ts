// GPU tensors: a buffer (or a range of one) plus a shape. Layout is NCHW, row-major, as
// PyTorch: checkpoints and goldens map 1:1 onto buffers, and the conv kernels read NCHW with
// contiguous W, which is what implicit GEMM over (C, KH, KW) needs.
import { Gpu, GpuError } from './device.js';
import { BufferPool } from './buffer-pool.js';

export type DType = 'f32' | 'u32' | 'i32';

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Element count of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A typed view of device memory: `shape` elements of `dtype` starting at byte `offset`. */
export class Tensor {
  private disposed = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** Byte offset into `buffer`; a multiple of minStorageBufferOffsetAlignment when bound. */
    readonly offset = 0,
    /** Whether dispose() frees the buffer (false for views into arenas). */
    readonly owned = true,
    readonly label = buffer.label,
  ) {}

  get size(): number {
    return numel(this.shape);
  }

  get bytes(): number {
    return this.size * 4;
  }

  /** Bind-group resource for this tensor's range. */
  binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: this.offset, size: Math.max(4, this.bytes) };
  }

  /** A zero-filled tensor (WebGPU zero-initialises new buffers). */
  static zeros(gpu: Gpu, shape: readonly number[], label: string, dtype: DType = 'f32'): Tensor {
    return new Tensor(gpu, gpu.createBuffer(label, numel(shape) * 4, STORAGE()), shape, dtype);
  }

  /** Uploads host data into a new tensor. */
  static from(gpu: Gpu, data: Float32Array | Uint32Array | Int32Array, shape: readonly number[], label: string): Tensor {
    if (data.length !== numel(shape)) {
      throw new GpuError(`data has ${data.length} elements, shape [${shape}] needs ${numel(shape)}`, label);
    }
    const dtype: DType = data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : 'i32';
    const t = Tensor.zeros(gpu, shape, label, dtype);
    t.write(data);
    return t;
  }

  /** Writes host data over the whole tensor (queue.writeBuffer; ordered before later submits). */
  write(data: Float32Array | Uint32Array | Int32Array): void {
    if (data.length !== this.size) throw new GpuError(`write of ${data.length} elements into [${this.shape}]`, this.label);
    this.gpu.device.queue.writeBuffer(this.buffer, this.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** A view of `shape` elements starting `elementOffset` elements in; shares the buffer. */
  view(shape: readonly number[], elementOffset = 0, label = this.label): Tensor {
    if (elementOffset + numel(shape) > this.size) {
      throw new GpuError(`view [${shape}] at ${elementOffset} exceeds [${this.shape}]`, label);
    }
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, this.offset + elementOffset * 4, false, label);
  }

  /** Same memory, another shape with the same element count. */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new GpuError(`reshape [${this.shape}] -> [${shape}]`, this.label);
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, this.offset, false, this.label);
  }

  /** Copies the tensor to the host. Waits for all submitted work. */
  async read(): Promise<Float32Array> {
    const raw = await readBytes(this.gpu, this.buffer, this.offset, this.bytes);
    return new Float32Array(raw);
  }

  async readU32(): Promise<Uint32Array> {
    return new Uint32Array(await readBytes(this.gpu, this.buffer, this.offset, this.bytes));
  }

  dispose(): void {
    if (this.disposed || !this.owned) return;
    this.disposed = true;
    this.gpu.destroyBuffer(this.buffer);
  }
}

/** The device's pool of MAP_READ staging buffers: repeated readbacks reuse them. */
function readbackPool(gpu: Gpu): BufferPool {
  let pool = gpu.cache.get('pool:readback') as BufferPool | undefined;
  if (!pool) gpu.cache.set('pool:readback', (pool = new BufferPool(gpu)));
  return pool;
}

/** Frees the idle staging buffers of the device's readback pool (leak checks count what remains). */
export function trimReadbackPool(gpu: Gpu): void {
  (gpu.cache.get('pool:readback') as BufferPool | undefined)?.trim();
}

/** Reads `bytes` bytes of `buffer` at `offset` through a pooled MAP_READ staging buffer. */
export async function readBytes(gpu: Gpu, buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const pool = readbackPool(gpu);
  const staging = pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${buffer.label}.readback`);
  try {
    const enc = gpu.device.createCommandEncoder({ label: `${buffer.label}.readback` });
    enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
    gpu.device.queue.submit([enc.finish()]);
    pool.onSubmit();
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    gpu.check();
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    pool.releaseCompleted(staging);
    return out;
  } catch (e) {
    // Not known to be idle (e.g. the device was lost mid-map): back through the pending list.
    pool.release(staging);
    throw e;
  }
}

/** Throws naming the op and every shape unless all tensors have the same shape. */
export function checkSameShape(op: string, tensors: Record<string, Tensor>): void {
  const entries = Object.entries(tensors);
  const first = entries[0]![1].shape;
  if (entries.some(([, t]) => t.shape.length !== first.length || t.shape.some((d, i) => d !== first[i]))) {
    const desc = entries.map(([n, t]) => `${n} [${t.shape.join(', ')}]`).join(', ');
    throw new GpuError(`shapes differ: ${desc}`, op);
  }
}
