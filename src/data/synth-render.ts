// Synthetic segmentation samples, rendered in memory with no file or Node dependency (so the
// browser demo can draw its training set in the page): the pure half of synth.ts, which writes
// these samples as a VOC-layout folder.
//
// Classes differ by SHAPE and TEXTURE, and lean towards a COLOUR FAMILY: every object gets two
// colours from a hue range of its class (±90° around the class's own hue, so neighbouring classes'
// ranges overlap and colour alone does not name the class), one light and one dark, so the texture
// shows in brightness as well as hue. The background (class 0) gets fully random colours and is
// textured too, so telling objects from background still takes form and pattern. Objects overlap
// (later ones occlude earlier ones, and the label map follows). Texture periods are 6 pixels or
// more: finer patterns vanish in the network's first stride-4 stage and in JPEG.
import { IGNORE_LABEL } from './colormap.js';

type Shape = (u: number, v: number) => boolean;

// Membership tests in object-local coordinates (u, v) ∈ [−1, 1]², already rotated.
export const SYNTH_SHAPES: [string, Shape][] = [
  ['circle', (u, v) => u * u + v * v <= 1],
  ['square', (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 0.8],
  ['triangle', (u, v) => v <= 0.7 && Math.abs(u) <= (v + 0.9) * 0.62],
  ['diamond', (u, v) => Math.abs(u) + Math.abs(v) <= 1],
  ['ring', (u, v) => { const r = u * u + v * v; return r <= 1 && r >= 0.3; }],
  ['cross', (u, v) => (Math.abs(u) <= 0.3 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 1)],
  ['ellipse', (u, v) => u * u + 4 * v * v <= 1],
  ['star', (u, v) => Math.hypot(u, v) <= 0.55 + 0.4 * Math.cos(5 * Math.atan2(v, u))],
  ['hexagon', (u, v) => Math.max(Math.abs(u) * 0.866 + Math.abs(v) * 0.5, Math.abs(v)) <= 0.85],
  ['crescent', (u, v) => u * u + v * v <= 1 && (u - 0.45) ** 2 + v * v >= 0.3],
];

type Texture = (x: number, y: number, p: number) => number;

// Two-tone patterns in object-local pixel coordinates (x, y) with period p; 0 or 1 picks a colour.
const frac = (t: number) => t - Math.floor(t);
export const SYNTH_TEXTURES: [string, Texture][] = [
  ['stripes', (_x, y, p) => (frac(y / p) < 0.5 ? 0 : 1)],
  ['checker', (x, y, p) => ((Math.floor(x / p) + Math.floor(y / p)) & 1)],
  ['dots', (x, y, p) => ((frac(x / p) - 0.5) ** 2 + (frac(y / p) - 0.5) ** 2 < 0.09 ? 1 : 0)],
  ['grid', (x, y, p) => (frac(x / p) < 0.25 || frac(y / p) < 0.25 ? 1 : 0)],
  ['rings', (x, y, p) => (frac(Math.hypot(x, y) / p) < 0.5 ? 0 : 1)],
  ['spokes', (x, y) => (frac((Math.atan2(y, x) / (2 * Math.PI)) * 8) < 0.5 ? 0 : 1)],
  ['waves', (x, y, p) => (frac(y / p + 0.35 * Math.sin((2 * Math.PI * x) / (2 * p))) < 0.5 ? 0 : 1)],
  ['plain', () => 0],
];

/** Shape and texture of object class c (1..20): each (shape, texture) pair is used once. */
export function classLook(c: number): [number, number] {
  const j = c - 1;
  return [j % SYNTH_SHAPES.length, (j + 13 * Math.floor(j / SYNTH_SHAPES.length)) % SYNTH_TEXTURES.length];
}

/** Names of the K classes of a synthetic dataset. */
export function syntheticClassNames(k: number): string[] {
  const names = ['background'];
  for (let c = 1; c < k; c++) {
    const [s, t] = classLook(c);
    names.push(`${SYNTH_SHAPES[s]![0]}/${SYNTH_TEXTURES[t]![0]}`);
  }
  return names;
}

function randomColor(r: () => number): [number, number, number] {
  return [Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 256)];
}

/** Half-width in degrees of an object class's hue range. */
export const CLASS_HUE_SPREAD = 90;

/** Centre hue in degrees of object class c's colours: golden-angle steps, so consecutive classes differ most. */
export function classHue(c: number): number {
  return (c * 137.5) % 360;
}

/** Rec. 601 luma of an RGB colour, 0..255. */
function luma(c: readonly number[]): number {
  return 0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!;
}

/** A colour of class c's family: hue within ±CLASS_HUE_SPREAD of classHue(c), saturation 0.4–1, value 0.25–1. */
function familyColor(c: number, r: () => number): [number, number, number] {
  const h = (classHue(c) + (2 * r() - 1) * CLASS_HUE_SPREAD + 360) % 360;
  const s = 0.4 + 0.6 * r(), v = 0.25 + 0.75 * r();
  const f = (n: number) => {
    const k = (n + h / 60) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

/** An object's two colours: both of class c's family, their lumas at least 80 apart (the texture survives JPEG and greyscale). */
function objectColors(c: number, r: () => number): [[number, number, number], [number, number, number]] {
  const a = familyColor(c, r);
  for (;;) {
    const b = familyColor(c, r);
    if (Math.abs(luma(a) - luma(b)) >= 80) return [a, b];
  }
}

/**
 * Renders one image: (h, w, 4) RGBA and (h, w) class ids (255 = ignore band). `first` is the
 * class of the top object, so cycling it over a split guarantees every class appears.
 */
export function renderSample(h: number, w: number, k: number, first: number, rng: () => number, border = 0) {
  const rgba = new Uint8Array(h * w * 4);
  const label = new Uint8Array(h * w);
  // Background: a colour gradient plus two oriented sinusoids and per-pixel noise.
  const c0 = randomColor(rng), c1 = randomColor(rng);
  const f1 = 0.05 + rng() * 0.3, f2 = 0.05 + rng() * 0.3, a1 = rng() * Math.PI, a2 = rng() * Math.PI;
  // sin(f·(x·cos a + y·sin a)) = sin(fx·x)·cos(fy·y) + cos(fx·x)·sin(fy·y): per-row/column tables.
  const wave = (f: number, n: number, c: number) => {
    const s = new Float64Array(n), co = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = Math.sin(f * c * i); co[i] = Math.cos(f * c * i); }
    return [s, co] as const;
  };
  const [sx1, cx1] = wave(f1, w, Math.cos(a1)), [sy1, cy1] = wave(f1, h, Math.sin(a1));
  const [sx2, cx2] = wave(f2, w, Math.cos(a2)), [sy2, cy2] = wave(f2, h, Math.sin(a2));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const g = (x / w + y / h) / 2;
      const s = 0.5 + 0.25 * (sx1[x]! * cy1[y]! + cx1[x]! * sy1[y]!) + 0.25 * (sx2[x]! * cy2[y]! + cx2[x]! * sy2[y]!);
      const t = Math.min(1, Math.max(0, 0.6 * g + 0.4 * s));
      const o = 4 * (y * w + x);
      for (let c = 0; c < 3; c++) rgba[o + c] = Math.min(255, Math.max(0, c0[c]! * (1 - t) + c1[c]! * t + (rng() - 0.5) * 24));
      rgba[o + 3] = 255;
    }
  }
  if (k > 1) {
    const count = 1 + Math.floor(rng() * 4);
    for (let n = 0; n < count; n++) {
      // `first` is drawn last, on top, so it is never fully hidden.
      const cls = n === count - 1 ? first : 1 + Math.floor(rng() * (k - 1));
      const [si, ti] = classLook(cls);
      const shape = SYNTH_SHAPES[si]![1], texture = SYNTH_TEXTURES[ti]![1];
      const rad = Math.min(h, w) * (0.18 + rng() * 0.2);
      const cy = (0.1 + 0.8 * rng()) * h, cx = (0.1 + 0.8 * rng()) * w;
      const th = rng() * 2 * Math.PI, cos = Math.cos(th), sin = Math.sin(th);
      const period = Math.max(6, rad * (0.35 + rng() * 0.15));
      const [ca, cb] = objectColors(cls, rng);
      const ext = rad * 1.05;
      for (let y = Math.max(0, Math.floor(cy - ext)); y < Math.min(h, Math.ceil(cy + ext)); y++) {
        for (let x = Math.max(0, Math.floor(cx - ext)); x < Math.min(w, Math.ceil(cx + ext)); x++) {
          const dx = x - cx, dy = y - cy;
          const lx = cos * dx + sin * dy, ly = -sin * dx + cos * dy;
          if (!shape(lx / rad, ly / rad)) continue;
          const col = texture(lx, ly, period) ? cb : ca;
          const o = 4 * (y * w + x);
          rgba[o] = col[0]; rgba[o + 1] = col[1]; rgba[o + 2] = col[2];
          label[y * w + x] = cls;
        }
      }
    }
  }
  // VOC-style ignore band: pixels within `border` steps of a class boundary.
  let edge = label.slice();
  for (let pass = 0; pass < border; pass++) {
    const next = edge.slice();
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x, v = label[i]!;
        let hit = false;
        if (x > 0) hit ||= edge[i - 1] === IGNORE_LABEL || label[i - 1] !== v;
        if (x + 1 < w) hit ||= edge[i + 1] === IGNORE_LABEL || label[i + 1] !== v;
        if (y > 0) hit ||= edge[i - w] === IGNORE_LABEL || label[i - w] !== v;
        if (y + 1 < h) hit ||= edge[i + w] === IGNORE_LABEL || label[i + w] !== v;
        if (hit) next[i] = IGNORE_LABEL;
      }
    }
    edge = next;
  }
  return { rgba, label: edge };
}
