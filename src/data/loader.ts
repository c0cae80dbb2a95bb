// Batches for training and evaluation, assembled by the WebAssembly kernels straight from the
// decoded-image cache into reused staging memory, from which the trainer uploads them
// (queue.writeBuffer).
//
// Determinism: epoch e's sample order and every sample's crop are pure functions of (seed, e)
// (and the sample index), so resuming at (epoch, batch) needs no saved RNG state and replays
// exactly, and `batch(e, b)` can be built in any order.
//
// Staging: two slots of (N, 3, H, W) f32 images + (N, H, W) u32 labels, used alternately, so a
// batch stays intact while the next one is prepared. A batch's data lives in slot `batch.slot`
// until the batch after next overwrites it; queue.writeBuffer copies it at upload time.
import { type SegDataset } from './dataset.js';
import { randCropOffsets } from './preprocess-ts.js';
import { hashSeed, mulberry32, permutation } from './rng.js';

export interface LoaderOptions {
  batchSize: number;
  /** Random-crop size [H, W]; every sample must be at least this big (open the dataset with the same crop). */
  crop: [number, number];
  /** Shuffle each epoch (seeded by (seed, epoch)); default true. */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last incomplete batch (default true, as d2l's training iterator). */
  dropLast?: boolean;
}

/** Host data of one batch, resident in WebAssembly memory. */
export interface HostBatch {
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
  /** Images in this batch (batchSize, or fewer for a last batch kept with dropLast: false). */
  size: number;
  /** Dataset indices and ids of the samples, and their crop origins (y0, x0). */
  samples: number[];
  ids: string[];
  crops: [number, number][];
  height: number;
  width: number;
  slot: number;
  /** Byte offsets of the (size, 3, H, W) f32 images and (size, H, W) u32 labels in wasm memory. */
  imagesPtr: number;
  labelsPtr: number;
}

/** One whole image for evaluation (no crop), in the evaluation staging region. */
export type EvalSample = HostBatch;

export class DataLoader {
  readonly batchSize: number;
  readonly crop: [number, number];
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  private slots: { images: number; labels: number }[] = [];
  private nextSlot = 0;
  private orderCache: { epoch: number; order: Uint32Array } | null = null;
  private evalRegion: { images: number; labels: number; pixels: number } | null = null;

  constructor(readonly dataset: SegDataset, opts: LoaderOptions) {
    const { batchSize, crop } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`DataLoader: batchSize ${batchSize}`);
    if (!crop.every((v) => Number.isInteger(v) && v > 0)) throw new Error(`DataLoader: crop [${crop}]`);
    this.batchSize = batchSize;
    this.crop = [crop[0], crop[1]];
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.dropLast ?? true;
    const small = dataset.entries.find((e) => e.height < crop[0] || e.width < crop[1]);
    if (small) {
      throw new Error(`DataLoader: ${small.image} is ${small.height}x${small.width}, smaller than the ${crop[0]}x${crop[1]} crop ` +
        '(open the dataset with the same crop to filter such images)');
    }
    if (this.batchesPerEpoch === 0) {
      throw new Error(`DataLoader: ${dataset.length} examples make no full batch of ${batchSize} (dropLast)`);
    }
  }

  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Sample order of epoch e: a permutation seeded by (seed, e), or 0..n−1 without shuffle. */
  order(epoch: number): Uint32Array {
    if (this.orderCache?.epoch === epoch) return this.orderCache.order;
    const n = this.dataset.length;
    const order = this.shuffle ? permutation(n, mulberry32(hashSeed(this.seed, epoch, 0x5eed))) : Uint32Array.from({ length: n }, (_, i) => i);
    this.orderCache = { epoch, order };
    return order;
  }

  /** Crop origin of sample i in epoch e, seeded by (seed, e, i). */
  cropOf(epoch: number, i: number): [number, number] {
    const e = this.dataset.entries[i]!;
    return randCropOffsets(e.height, e.width, this.crop[0], this.crop[1], mulberry32(hashSeed(this.seed, epoch, i, 0xc70b)));
  }

  /** Builds batch b of epoch e into the next staging slot. */
  batch(epoch: number, b: number): HostBatch {
    if (!(b >= 0 && b < this.batchesPerEpoch)) throw new Error(`DataLoader: batch ${b} of ${this.batchesPerEpoch}`);
    const order = this.order(epoch);
    const samples = Array.from(order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)));
    const ds = this.dataset;
    const [ch, cw] = this.crop;
    // Decode (and allocate) everything first: allocations may grow memory.
    const resident = samples.map((i) => ds.get(i));
    if (this.slots.length === 0) {
      for (let s = 0; s < 2; s++) {
        this.slots.push({
          images: ds.pre.alloc(this.batchSize * 3 * ch * cw * 4, `staging images ${s}`), // (N, 3, H, W) f32
          labels: ds.pre.alloc(this.batchSize * ch * cw * 4, `staging labels ${s}`), // (N, H, W) u32
        });
      }
    }
    const slot = this.nextSlot;
    this.nextSlot ^= 1;
    const { images, labels } = this.slots[slot]!;
    const crops: [number, number][] = [];
    samples.forEach((i, n) => {
      const s = resident[n]!;
      const [y0, x0] = this.cropOf(epoch, i);
      crops.push([y0, x0]);
      ds.pre.cropNormalizeAt(s.image, s.width, s.channels, y0, x0, ch, cw, images, n);
      ds.pre.cropLabelsAt(s.label, s.width, y0, x0, ch, cw, labels, n);
    });
    return {
      epoch, index: b, size: samples.length, samples, ids: samples.map((i) => ds.entries[i]!.id), crops,
      height: ch, width: cw, slot, imagesPtr: images, labelsPtr: labels,
    };
  }

  /** The batches of epoch e, from batch `start` (resume) on. */
  *epoch(epoch: number, start = 0): Generator<HostBatch> {
    for (let b = start; b < this.batchesPerEpoch; b++) yield this.batch(epoch, b);
  }

  /** Host views of a batch: images (size, 3, H, W) f32, labels (size, H, W) u32. Re-take after the next batch() call. */
  views(batch: HostBatch): { images: Float32Array; labels: Uint32Array } {
    const px = batch.height * batch.width;
    return {
      images: this.dataset.pre.f32(batch.imagesPtr, batch.size * 3 * px),
      labels: this.dataset.pre.u32(batch.labelsPtr, batch.size * px),
    };
  }

  /**
   * Whole images one at a time (no crop), in dataset order, for evaluation and tiled prediction:
   * each is (1, 3, H, W) f32 + (1, H, W) u32 with the image's own H, W, in one reused region.
   */
  *evaluation(): Generator<EvalSample> {
    const ds = this.dataset;
    for (let i = 0; i < ds.length; i++) {
      const s = ds.get(i);
      const px = s.height * s.width;
      if (!this.evalRegion || this.evalRegion.pixels < px) {
        const pixels = Math.max(px, ds.maxPixels);
        this.evalRegion = { images: ds.pre.alloc(pixels * 12, 'eval images'), labels: ds.pre.alloc(pixels * 4, 'eval labels'), pixels };
      }
      const { images, labels } = this.evalRegion;
      ds.pre.cropNormalizeAt(s.image, s.width, s.channels, 0, 0, s.height, s.width, images, 0);
      ds.pre.cropLabelsAt(s.label, s.width, 0, 0, s.height, s.width, labels, 0);
      yield {
        epoch: -1, index: i, size: 1, samples: [i], ids: [ds.entries[i]!.id], crops: [[0, 0]],
        height: s.height, width: s.width, slot: -1, imagesPtr: images, labelsPtr: labels,
      };
    }
  }
}
