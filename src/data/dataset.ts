// Segmentation datasets on disk (Node): Pascal VOC 2012 and a generic folder of images + masks.
//
// Opening a dataset reads the split list and every file's header (cheap): missing files, bad
// headers and image/label size mismatches are found before training starts, and images smaller
// than the crop are filtered out and counted (d2l prints "read 1114 examples"). Pixels are decoded
// on first use, once, into the Preprocessor's WebAssembly memory (images HWC u8, labels as class
// ids HW u8), where the loader's kernels read them with no further copy. VOC train at a 320x480
// crop (1114 images of about 500x375) takes about 0.85 GB of it; WebAssembly memory is capped at
// 4 GiB, and running out is an error naming the sample being decoded.
//
// Bad input is an error naming the file. With `skipBad: true` bad samples are skipped instead and
// listed in `dataset.skipped` (and in `summary()`); then every sample is decoded while opening,
// so the sample set is fixed before the first epoch and nothing is dropped silently later.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DataError, decodeImage, decodePng, imageSize } from './codec.js';
import { ColorTable, defaultClassNames, IGNORE_LABEL, parseColormap, type Rgb, VOC_COLORMAP } from './colormap.js';
import { Preprocessor } from './preprocess.js';

export interface SampleEntry {
  id: string;
  image: string;
  label: string;
  height: number;
  width: number;
}

export interface SkippedSample {
  id: string;
  file: string;
  reason: string;
}

/** A decoded sample resident in WebAssembly memory. */
export interface ResidentSample {
  /** (height, width, channels) u8 */
  image: number;
  /** (height, width) u8 class ids, 255 = ignore */
  label: number;
  height: number;
  width: number;
  channels: 3 | 4;
}

export interface OpenOptions {
  /** Drop (and count) samples smaller than this [H, W] crop, as d2l's VOCSegDataset does. */
  crop?: [number, number];
  /** Skip and report bad samples instead of throwing. */
  skipBad?: boolean;
  /**
   * Colours not in the colour map: 'ignore' (default) labels them 255 so the loss skips them
   * (VOC's object borders); 'background' labels them 0, the d2l chapter's behaviour.
   */
  unknownColors?: 'ignore' | 'background';
  /** Number of classes K; label ids ≥ K other than 255 are errors. Default: the colour map's size. */
  classes?: number;
  /** Preprocessor to decode into (shared by loaders); a new one by default. */
  preprocessor?: Preprocessor;
}

/** How label masks encode classes. */
export type MaskFormat = { kind: 'color'; colors: readonly Rgb[] } | { kind: 'index' };

/** A split of a segmentation dataset, decoded lazily into WebAssembly memory. */
export class SegDataset {
  readonly skipped: SkippedSample[] = [];
  private resident: (ResidentSample | undefined)[];
  private table: ColorTable | null;

  constructor(
    readonly pre: Preprocessor,
    /** e.g. 'VOC2012/train' */
    readonly name: string,
    readonly entries: SampleEntry[],
    /** Samples dropped as smaller than the crop. */
    readonly filtered: number,
    readonly numClasses: number,
    readonly classNames: readonly string[],
    readonly mask: MaskFormat,
    readonly unknownColors: 'ignore' | 'background',
    skipped: SkippedSample[] = [],
  ) {
    this.skipped.push(...skipped);
    this.resident = new Array(entries.length);
    this.table = mask.kind === 'color' ? new ColorTable(mask.colors, unknownColors === 'ignore' ? IGNORE_LABEL : 0) : null;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Largest height·width over the samples (sizes the evaluation staging buffer). */
  get maxPixels(): number {
    return this.entries.reduce((m, e) => Math.max(m, e.height * e.width), 0);
  }

  /** d2l-style report: "read 1114 examples (filtered 350 smaller than 320x480, skipped 0)". */
  summary(crop?: [number, number]): string {
    const parts = [`filtered ${this.filtered}${crop ? ` smaller than ${crop[0]}x${crop[1]}` : ''}`, `skipped ${this.skipped.length}`];
    const lines = [`${this.name}: read ${this.length} examples (${parts.join(', ')})`];
    for (const s of this.skipped) lines.push(`  skipped ${s.id}: ${s.reason}`);
    return lines.join('\n');
  }

  /** Whether sample i is decoded. */
  isResident(i: number): boolean {
    return this.resident[i] !== undefined;
  }

  /** Sample i, decoded on first use. May grow WebAssembly memory (detaching earlier views). */
  get(i: number): ResidentSample {
    const have = this.resident[i];
    if (have) return have;
    const e = this.entries[i];
    if (!e) throw new Error(`${this.name}: sample ${i} of ${this.length}`);
    const s = this.decode(e);
    this.resident[i] = s;
    return s;
  }

  /** Decodes every sample now (e.g. before timing, or to fail early). */
  decodeAll(): void {
    for (let i = 0; i < this.length; i++) this.get(i);
  }

  /** Decoded copies of sample i for inspection: image (H, W, C) u8, label (H, W) u8. */
  sample(i: number): { id: string; image: Uint8Array; label: Uint8Array; height: number; width: number; channels: 3 | 4 } {
    const s = this.get(i);
    const n = s.height * s.width;
    return {
      id: this.entries[i]!.id,
      image: this.pre.u8(s.image, n * s.channels).slice(),
      label: this.pre.u8(s.label, n).slice(),
      height: s.height,
      width: s.width,
      channels: s.channels,
    };
  }

  /** Drops samples failing to decode (skipBad): decodes all, records why, keeps the rest. */
  decodeOrSkip(): void {
    const keep: SampleEntry[] = [];
    const res: ResidentSample[] = [];
    for (const e of this.entries) {
      try {
        res.push(this.decode(e));
        keep.push(e);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        this.skipped.push({ id: e.id, file: err.file, reason: err.message });
      }
    }
    this.entries.splice(0, this.entries.length, ...keep);
    this.resident = res;
  }

  private decode(e: SampleEntry): ResidentSample {
    const img = decodeImage(readBytes(e.image), e.image);
    if (img.height !== e.height || img.width !== e.width) {
      throw new DataError(e.image, `decoded size ${img.height}x${img.width} differs from its header ${e.height}x${e.width}`);
    }
    const lbl = decodePng(readBytes(e.label), e.label);
    if (lbl.height !== img.height || lbl.width !== img.width) {
      throw new DataError(e.label, `label is ${lbl.height}x${lbl.width} but image ${e.image} is ${img.height}x${img.width}`);
    }
    const n = img.height * img.width;
    const pre = this.pre;
    // Allocate both regions first: allocation may grow memory, which detaches views.
    const imagePtr = pre.alloc(n * img.channels, `image ${e.id}`);
    const labelPtr = pre.alloc(n, `label ${e.id}`);
    pre.u8(imagePtr, n * img.channels).set(img.data);
    if (this.table) {
      pre.colorToClassInto(lbl.data, 4, this.table, labelPtr);
    } else {
      const out = pre.u8(labelPtr, n);
      for (let p = 0; p < n; p++) out[p] = lbl.data[4 * p]!;
      if (!isGrey(lbl.data)) throw new DataError(e.label, 'index masks must be greyscale (value = class id); use a colour map for colour masks');
    }
    const bad = pre.countInvalidAt(labelPtr, n, this.numClasses);
    if (bad > 0) {
      const ids = new Set<number>();
      for (const v of pre.u8(labelPtr, n)) if (v >= this.numClasses && v !== IGNORE_LABEL) ids.add(v);
      throw new DataError(e.label, `${bad} pixels have class ids ≥ ${this.numClasses} (${[...ids].slice(0, 8).join(', ')}); ` +
        `ids must be < ${this.numClasses} or ${IGNORE_LABEL} (ignore)`);
    }
    return { image: imagePtr, label: labelPtr, height: img.height, width: img.width, channels: img.channels };
  }
}

function isGrey(rgba: Uint8Array): boolean {
  for (let i = 0; i < rgba.length; i += 4) if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  return true;
}

/** A file's bytes; I/O failures (a folder in its place, no permission) are DataErrors naming it. */
function readBytes(file: string, maxBytes = Infinity): Uint8Array {
  let fd: number | undefined;
  try {
    if (maxBytes === Infinity) return readFileSync(file);
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(Math.min(maxBytes, statSync(file).size));
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } catch (e) {
    throw new DataError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads up to 64 KiB of a file's head (enough for any JPEG/PNG header), the whole file if needed. */
function headerSize(file: string): { height: number; width: number } {
  const head = readBytes(file, 65536);
  const s = imageSize(head, file) ?? imageSize(readBytes(file), file);
  if (!s) throw new DataError(file, 'truncated: the file ends before its image header');
  return s;
}

/** Reads a split list (one id per line); an empty list is an error naming the file. */
/** The ids of a split list (one per line; blank lines and # comments skipped). */
export function readList(file: string): string[] {
  if (!existsSync(file)) throw new DataError(file, 'split list not found');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(file, `cannot read the split list (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ids = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
  if (ids.length === 0) throw new DataError(file, 'the split is empty');
  return ids;
}

/** An id for messages: JSON-quoted (control bytes visible), cut when long. */
function quoteId(id: string): string {
  return JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
}

/** Checks files and headers of the listed samples; filters by crop; collects or throws errors. */
function scan(ids: string[], listFile: string, paths: (id: string) => { image: string | null; label: string },
  opts: OpenOptions): { entries: SampleEntry[]; filtered: number; skipped: SkippedSample[] } {
  const entries: SampleEntry[] = [];
  const skipped: SkippedSample[] = [];
  let filtered = 0;
  for (const id of ids) {
    try {
      // Ids name files inside the dataset's folders: no NULs, absolute paths or '..' segments.
      if (id.includes('\0') || isAbsolute(id) || id.split(/[\\/]/).includes('..')) {
        throw new DataError(listFile, `id ${quoteId(id)} is not a file name inside the dataset`);
      }
      const { image, label } = paths(id);
      if (!image) throw new DataError(listFile, `lists ${quoteId(id)} but no image file for it exists`);
      if (!existsSync(label)) throw new DataError(label, `missing label for ${quoteId(id)} (listed in ${listFile})`);
      const si = headerSize(image);
      const sl = headerSize(label);
      if (si.height !== sl.height || si.width !== sl.width) {
        throw new DataError(label, `label is ${sl.height}x${sl.width} but image ${image} is ${si.height}x${si.width}`);
      }
      if (opts.crop && (si.height < opts.crop[0] || si.width < opts.crop[1])) {
        filtered++;
        continue;
      }
      entries.push({ id, image, label, ...si });
    } catch (err) {
      if (!(err instanceof DataError) || !opts.skipBad) throw err;
      skipped.push({ id, file: err.file, reason: err.message });
    }
  }
  return { entries, filtered, skipped };
}

async function finish(make: (pre: Preprocessor) => SegDataset, opts: OpenOptions): Promise<SegDataset> {
  const pre = opts.preprocessor ?? (await Preprocessor.create());
  const ds = make(pre);
  if (opts.skipBad) ds.decodeOrSkip();
  if (ds.length === 0) {
    throw new Error(`${ds.name}: no usable examples (filtered ${ds.filtered} smaller than the crop, skipped ${ds.skipped.length})`);
  }
  return ds;
}

/** Finds VOC2012 under `root`: root itself, root/VOC2012 or root/VOCdevkit/VOC2012. */
export function findVOCRoot(root: string): string {
  for (const c of [root, join(root, 'VOC2012'), join(root, 'VOCdevkit', 'VOC2012')]) {
    if (existsSync(join(c, 'ImageSets', 'Segmentation'))) return c;
  }
  throw new DataError(root, 'no VOC2012 folder here (looked for ImageSets/Segmentation in ., VOC2012, VOCdevkit/VOC2012)');
}

/**
 * Opens a Pascal VOC 2012 segmentation split: ImageSets/Segmentation/<split>.txt,
 * JPEGImages/<id>.jpg, SegmentationClass/<id>.png (colour or palette PNGs; either way the
 * colours are VOC_COLORMAP, and the palette's border entry 255 = (224, 224, 192) is not in the
 * map, so it becomes the ignore label, or background with unknownColors: 'background').
 */
/** Optional file in a VOC2012 folder naming its classes, one per line (written by `webfcn synth`). */
export const CLASS_NAMES_FILE = 'class_names.txt';

/**
 * The folder's class names from CLASS_NAMES_FILE (first K lines), else defaultClassNames(K): VOC's
 * for K = 21, neutral names otherwise; a blank or missing line gets the default name.
 */
function classNamesIn(dir: string, k: number): string[] {
  const file = join(dir, CLASS_NAMES_FILE);
  const dflt = defaultClassNames(k);
  if (!existsSync(file)) return dflt;
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim().slice(0, 64));
  return Array.from({ length: k }, (_, i) => lines[i] || dflt[i]!);
}

export async function openVOC(root: string, split: string, opts: OpenOptions = {}): Promise<SegDataset> {
  const dir = findVOCRoot(root);
  const listFile = join(dir, 'ImageSets', 'Segmentation', `${split}.txt`);
  const ids = readList(listFile);
  const { entries, filtered, skipped } = scan(ids, listFile, (id) => {
    const image = join(dir, 'JPEGImages', `${id}.jpg`);
    return { image: existsSync(image) ? image : null, label: join(dir, 'SegmentationClass', `${id}.png`) };
  }, opts);
  const k = opts.classes ?? VOC_COLORMAP.length;
  if (k < 1 || k > VOC_COLORMAP.length) throw new Error(`openVOC: classes ${k}, expected 1..${VOC_COLORMAP.length}`);
  return finish((pre) => new SegDataset(pre, `VOC2012/${split}`, entries, filtered, k, classNamesIn(dir, k),
    { kind: 'color', colors: VOC_COLORMAP }, opts.unknownColors ?? 'ignore', skipped), opts);
}

const IMAGE_EXTS = ['.jpg', '.jpeg', '.png'];

/**
 * Opens a folder of images and masks:
 *   images/<id>.{jpg,jpeg,png}   the images
 *   masks/<id>.png               the labels
 *   colormap.txt                 optional: `r g b name` per line, line i = class i (colour masks);
 *                                without it masks are index masks (greyscale, value = class id,
 *                                255 = ignore) and `classes` must be given
 *   <split>.txt                  optional id list; without it every image is used (sorted).
 */
export async function openFolder(root: string, split: string, opts: OpenOptions = {}): Promise<SegDataset> {
  const imgDir = join(root, 'images');
  const maskDir = join(root, 'masks');
  if (!existsSync(imgDir)) throw new DataError(imgDir, 'images folder not found');
  const listFile = join(root, `${split}.txt`);
  let ids: string[];
  if (existsSync(listFile)) ids = readList(listFile);
  else {
    ids = readdirSync(imgDir).filter((f) => IMAGE_EXTS.some((x) => f.toLowerCase().endsWith(x)))
      .map((f) => f.replace(/\.[^.]+$/, '')).sort();
    if (ids.length === 0) throw new DataError(imgDir, 'no .jpg/.jpeg/.png images (the split is empty)');
  }
  const mapFile = join(root, 'colormap.txt');
  let mask: MaskFormat;
  let names: string[];
  if (existsSync(mapFile)) {
    const cm = parseColormap(readFileSync(mapFile, 'utf8'), mapFile);
    mask = { kind: 'color', colors: cm.colors };
    names = cm.names;
  } else {
    if (!opts.classes) throw new Error(`openFolder: ${root} has no colormap.txt, so masks are index masks: pass { classes }`);
    mask = { kind: 'index' };
    names = Array.from({ length: opts.classes }, (_, i) => `class${i}`);
  }
  const k = opts.classes ?? names.length;
  const { entries, filtered, skipped } = scan(ids, existsSync(listFile) ? listFile : imgDir, (id) => {
    const image = IMAGE_EXTS.map((x) => join(imgDir, id + x)).find((f) => existsSync(f)) ?? null;
    return { image, label: join(maskDir, `${id}.png`) };
  }, opts);
  return finish((pre) => new SegDataset(pre, `${root}/${split}`, entries, filtered, k, names.slice(0, k), mask,
    opts.unknownColors ?? 'ignore', skipped), opts);
}
