// Training curves as an SVG picture, like the chapter's plot: loss, train accuracy and test
// accuracy (and mIoU) per epoch on one axis. SVG keeps text sharp with no font rasteriser.
import type { EpochMetrics } from '../fcn/fit.js';

const SERIES: Array<{ key: keyof EpochMetrics; label: string; color: string; dash?: string }> = [
  { key: 'loss', label: 'train loss', color: '#1f77b4' },
  { key: 'trainAccuracy', label: 'train acc', color: '#9467bd', dash: '6 3' },
  { key: 'testAccuracy', label: 'test acc', color: '#2ca02c', dash: '2 3' },
  { key: 'testMIoU', label: 'test mIoU', color: '#d62728', dash: '8 3 2 3' },
];

/** An SVG line chart of the per-epoch metrics. */
export function curvesSvg(history: readonly EpochMetrics[], title = 'FCN training'): string {
  const Wd = 640;
  const Ht = 400;
  const m = { l: 56, r: 150, t: 36, b: 44 };
  const pw = Wd - m.l - m.r;
  const ph = Ht - m.t - m.b;
  const epochs = history.map((h) => h.epoch);
  const maxEpoch = Math.max(1, ...epochs);
  const values = history.flatMap((h) => SERIES.map((s) => h[s.key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
  const ymax = Math.max(1, ...values) * 1.05;
  const x = (e: number) => m.l + (maxEpoch === 1 ? pw / 2 : ((e - 1) / (maxEpoch - 1)) * pw);
  const y = (v: number) => m.t + ph - (v / ymax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${Wd}" height="${Ht}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${m.l}" y="20" font-size="14">${escape(title)}</text>`);
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  for (const e of epochs) out.push(`<text x="${x(e)}" y="${m.t + ph + 16}" text-anchor="middle">${e}</text>`);
  out.push(`<text x="${m.l + pw / 2}" y="${Ht - 8}" text-anchor="middle">epoch</text>`);
  SERIES.forEach((s, i) => {
    const pts = history.filter((h) => typeof h[s.key] === 'number' && Number.isFinite(h[s.key] as number)).map((h) => `${x(h.epoch)},${y(h[s.key] as number)}`);
    if (pts.length) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''} points="${pts.join(' ')}"/>`);
      for (const p of pts) out.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${s.color}"/>`);
    }
    const ly = m.t + 14 + i * 18;
    out.push(`<line x1="${m.l + pw + 12}" x2="${m.l + pw + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${m.l + pw + 42}" y="${ly}">${s.label}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}
