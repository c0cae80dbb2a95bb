// Synthetic segmentation samples, rendered in memory with no file or Node dependency (so the
// browser demo can draw its training set in the page): the pure half of synth.ts, which writes
// these samples as a VOC-layout folder.
//
// Classes differ by SHAPE and TEXTURE, never by colour: every object gets two random colours, and
// the background (class 0) is textured too, so a model has to learn form and pattern. Objects
// overlap (later ones occlude earlier ones, and the label map follows).
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

/** A second colour at least ~100 away from `a` (so the texture stays visible after JPEG). */
function contrastColor(a: readonly number[], r: () => number): [number, number, number] {
  for (;;) {
    const b = randomColor(r);
    if (Math.abs(a[0]! - b[0]) + Math.abs(a[1]! - b[1]) + Math.abs(a[2]! - b[2]) >= 150) return b;
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
      const period = Math.max(3, rad * (0.25 + rng() * 0.15));
      const ca = randomColor(rng), cb = contrastColor(ca, rng);
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
