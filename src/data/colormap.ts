// Pascal VOC colours and class names (d2l order) and the lookup tables built from them:
// colour → class id (a dense 2^24-entry table) and class id → colour (a 256-entry palette).

/** The 21 VOC colours, index = class id (d2l's VOC_COLORMAP). */
export const VOC_COLORMAP: readonly (readonly [number, number, number])[] = [
  [0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
  [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128], [192, 0, 128],
  [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128],
];

/** The 21 VOC class names (d2l's VOC_CLASSES). */
export const VOC_CLASSES: readonly string[] = [
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'potted plant', 'sheep', 'sofa', 'train', 'tv/monitor',
];

/** Label value for pixels the loss and metrics skip. */
export const IGNORE_LABEL = 255;

/** VOC's object-boundary colour (palette index 255 in SegmentationClass PNGs). */
export const VOC_BORDER: readonly [number, number, number] = [224, 224, 192];

export type Rgb = readonly [number, number, number];

/** Key of a colour in the dense table: r + g·2^8 + b·2^16 (an RGB(A) pixel's bytes read as a little-endian u32, alpha masked off). */
export function colorKey(r: number, g: number, b: number): number {
  return (b << 16) | (g << 8) | r;
}

/**
 * Colour → class-id table: 2^24 u8 entries indexed by colorKey. Colours not in the map get
 * `unknown`: IGNORE_LABEL (255) by default, or 0 for the d2l chapter's behaviour (there every
 * unlisted colour, the VOC border included, silently becomes background).
 */
export class ColorTable {
  readonly lut: Uint8Array;

  constructor(readonly colors: readonly Rgb[], readonly unknown = IGNORE_LABEL) {
    if (colors.length > 255) throw new Error(`ColorTable: ${colors.length} colours, at most 255 (255 is the ignore label)`);
    this.lut = new Uint8Array(1 << 24).fill(unknown);
    const seen = new Map<number, number>();
    colors.forEach(([r, g, b], i) => {
      const k = colorKey(r, g, b);
      if (seen.has(k)) throw new Error(`ColorTable: colour (${r}, ${g}, ${b}) is listed for classes ${seen.get(k)} and ${i}`);
      seen.set(k, i);
      this.lut[k] = i;
    });
  }
}

/** 256 packed RGBA colours (r in the low byte) for class ids; 255 → the VOC border colour, the rest black. */
export function makePalette(colors: readonly Rgb[] = VOC_COLORMAP, ignore: Rgb = VOC_BORDER): Uint32Array {
  const pack = ([r, g, b]: Rgb) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  const p = new Uint32Array(256).fill(pack([0, 0, 0]));
  colors.forEach((c, i) => { if (i < 255) p[i] = pack(c); });
  p[IGNORE_LABEL] = pack(ignore);
  return p;
}

/** A bad colour-map file; the message starts with `file:line`. */
export class ColormapError extends Error {
  constructor(readonly file: string, message: string, line?: number) {
    super(`${file}${line ? `:${line}` : ''}: ${message}`);
    this.name = 'ColormapError';
  }
}

/**
 * Reads a colour-map file: one class per line, `r g b name` (name optional, may contain
 * spaces), `#` starts a comment, blank lines skipped. Line i (0-based, counting only class
 * lines) is class id i, so the first line is the background. At most 255 classes, each colour
 * once (255 is the ignore label; a colour maps to one class).
 */
export function parseColormap(text: string, source: string): { colors: Rgb[]; names: string[] } {
  const colors: Rgb[] = [];
  const names: string[] = [];
  const seen = new Map<number, number>();
  text.split(/\r?\n/).forEach((raw, ln) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\d+)\s+(\d+)\s+(\d+)(?:\s+(.*))?$/.exec(line);
    const rgb = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
    if (!m || rgb.some((v) => v > 255)) {
      // JSON quoting shows control bytes; long lines are cut.
      const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
      throw new ColormapError(source, `expected "r g b name" with 0..255 components, got ${shown}`, ln + 1);
    }
    const key = colorKey(rgb[0]!, rgb[1]!, rgb[2]!);
    if (seen.has(key)) throw new ColormapError(source, `colour ${rgb.join(' ')} is already class ${seen.get(key)}`, ln + 1);
    if (colors.length === 255) throw new ColormapError(source, 'more than 255 classes (255 is the ignore label)', ln + 1);
    seen.set(key, colors.length);
    colors.push([rgb[0]!, rgb[1]!, rgb[2]!]);
    names.push(m[4]?.trim() || `class${colors.length - 1}`);
  });
  if (colors.length === 0) throw new ColormapError(source, 'no colours');
  return { colors, names };
}

/** VOC colours for the first K classes, then a deterministic spread of hues (for models whose file names none). */
export function defaultColormap(K: number): Array<[number, number, number]> {
  return Array.from({ length: K }, (_, i) => {
    const c = VOC_COLORMAP[i];
    if (c) return [c[0], c[1], c[2]];
    const h = (i * 137.508) % 360;
    const f = (n: number) => Math.round(255 * (0.5 + 0.5 * Math.cos(((h + n) * Math.PI) / 180)));
    return [f(0), f(120), f(240)];
  });
}

/**
 * Class names when nothing names them: Pascal VOC's for K = 21 (a VOC model or dataset), else
 * neutral ones, 'background' (class 0 in the VOC layout) then 'class 1' ... 'class K-1': a K-class
 * dataset is not VOC's first K classes.
 */
export function defaultClassNames(K: number): string[] {
  if (K === VOC_CLASSES.length) return VOC_CLASSES.slice();
  return Array.from({ length: K }, (_, i) => (i === 0 ? 'background' : `class ${i}`));
}

/**
 * Colours a class map: classes (n) → (n, channels) u8 with colormap[id] (channels 4 adds alpha
 * 255); the ignore label 255 and ids without a colour become white.
 */
export function colorize(classes: ArrayLike<number>, colormap: ReadonlyArray<readonly number[]>, channels: 3 | 4 = 3): Uint8Array {
  const n = classes.length;
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const c = colormap[classes[i]!] ?? WHITE;
    out[i * channels] = c[0]!;
    out[i * channels + 1] = c[1]!;
    out[i * channels + 2] = c[2]!;
    if (channels === 4) out[i * channels + 3] = 255;
  }
  return out;
}

const WHITE = [255, 255, 255] as const;
