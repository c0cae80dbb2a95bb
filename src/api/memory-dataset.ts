// A segmentation dataset built from pixels in memory (browsers have no VOC folder to open): the
// same resident layout as SegDataset (images HWC u8 and labels HW u8 in the Preprocessor's
// WebAssembly memory), so DataLoader batches it with the same kernels, crops and seeding.
//
// SegDataset itself reads files (node:fs) when a sample is first used, so it cannot be imported
// where there is no file system; this class provides the members DataLoader uses instead.
import type { ResidentSample, SampleEntry, SegDataset } from '../data/dataset.js';
import { IGNORE_LABEL } from '../data/colormap.js';
import type { Preprocessor } from '../data/preprocess.js';
import type { ImageInput, MemoryDatasetInput } from './types.js';

/** The members of SegDataset that DataLoader reads. */
export type LoaderSource = Pick<SegDataset, 'pre' | 'name' | 'entries' | 'length' | 'get' | 'maxPixels' | 'numClasses' | 'classNames'>;

/** Channels of an image input: given, or data.length / (width·height); throws unless 3 or 4. */
export function imageChannels(img: ImageInput, what: string): 3 | 4 {
  const { width, height } = img;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`${what}: width ${width} and height ${height} must be positive integers`);
  }
  if (!(img.data instanceof Uint8Array || img.data instanceof Uint8ClampedArray)) {
    throw new Error(`${what}: data must be a Uint8Array or Uint8ClampedArray of 8-bit pixels`);
  }
  const c = img.channels ?? img.data.length / (width * height);
  if (c !== 3 && c !== 4) throw new Error(`${what}: ${img.data.length} bytes for ${height}x${width} pixels is neither RGB nor RGBA (channels ${c})`);
  if (img.data.length !== height * width * c) {
    throw new Error(`${what}: ${img.data.length} bytes, expected ${height}x${width}x${c} = ${height * width * c}`);
  }
  return c;
}

/** A Uint8Array view of 8-bit pixels (Uint8ClampedArray shares the bytes). */
export function bytesOf(data: Uint8Array | Uint8ClampedArray): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Images and labels copied into WebAssembly memory once, at construction. */
export class MemoryDataset implements LoaderSource {
  readonly name: string;
  readonly entries: SampleEntry[] = [];
  readonly classNames: readonly string[];
  /** Samples dropped as smaller than the crop. */
  readonly filtered: number;
  private readonly resident: ResidentSample[] = [];

  /**
   * Checks every sample (sizes, channels, class ids < numClasses or 255) and copies the ones at
   * least `crop` big into `pre`'s memory. Throws naming the sample on bad input.
   */
  constructor(
    readonly pre: Preprocessor,
    input: MemoryDatasetInput,
    readonly numClasses: number,
    crop?: [number, number],
  ) {
    this.name = input.name ?? 'memory';
    const { images, labels } = input;
    if (!Array.isArray(images) || !Array.isArray(labels)) throw new Error(`${this.name}: a dataset needs images: [...] and labels: [...]`);
    if (images.length !== labels.length) throw new Error(`${this.name}: ${images.length} images but ${labels.length} labels`);
    this.classNames = input.classNames?.slice(0, numClasses) ?? Array.from({ length: numClasses }, (_, i) => `class${i}`);
    let filtered = 0;
    images.forEach((img, i) => {
      const what = `${this.name}[${i}]`;
      const channels = imageChannels(img, `${what} image`);
      const { height, width } = img;
      const label = labels[i];
      if (!(label instanceof Uint8Array) || label.length !== height * width) {
        throw new Error(`${what} label: expected a Uint8Array of ${height}x${width} class ids, got ${label?.constructor?.name ?? label} of ${label?.length} values`);
      }
      let bad = 0;
      let example = -1;
      for (const v of label) {
        if (v >= numClasses && v !== IGNORE_LABEL) {
          bad++;
          example = v;
        }
      }
      if (bad) throw new Error(`${what} label: ${bad} pixels have class ids ≥ ${numClasses} (e.g. ${example}); ids must be < ${numClasses} or ${IGNORE_LABEL} (ignore)`);
      if (crop && (height < crop[0] || width < crop[1])) {
        filtered++;
        return;
      }
      const n = height * width;
      // Allocate both regions first: allocation may grow memory, which detaches views.
      const imagePtr = pre.alloc(n * channels, `image ${what}`);
      const labelPtr = pre.alloc(n, `label ${what}`);
      pre.u8(imagePtr, n * channels).set(bytesOf(img.data));
      pre.u8(labelPtr, n).set(label);
      this.entries.push({ id: `${i}`, image: `${what} image`, label: `${what} label`, height, width });
      this.resident.push({ image: imagePtr, label: labelPtr, height, width, channels });
    });
    this.filtered = filtered;
    if (this.entries.length === 0) {
      throw new Error(`${this.name}: no usable examples (${images.length} given, ${filtered} smaller than the ${crop?.join('x')} crop)`);
    }
  }

  get length(): number {
    return this.entries.length;
  }

  get maxPixels(): number {
    return this.entries.reduce((m, e) => Math.max(m, e.height * e.width), 0);
  }

  get(i: number): ResidentSample {
    const s = this.resident[i];
    if (!s) throw new Error(`${this.name}: sample ${i} of ${this.length}`);
    return s;
  }

  /** DataLoader's parameter type is the SegDataset class; it only reads LoaderSource's members. */
  asSegDataset(): SegDataset {
    return this as unknown as SegDataset;
  }
}
