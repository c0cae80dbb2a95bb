// Winograd transform matrices and the straight-line WGSL that applies them.
//
// F(m×m, 3×3) (Lavin & Gray 2016): a tile of m×m outputs from an n×n input patch, n = m + 2,
//   y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
// F(2×2, 3×3) uses interpolation points 0, 1, −1, ∞; F(4×4, 3×3) 0, ±1, ±2, ∞ (the matrices
// cuDNN and NNPACK use). The kernels in shaders/conv2d/winograd_*.wgsl are templates whose
// `// #transform` line is replaced by the code below: every product with a constant is written
// out, zeros skipped, so no compiler has to keep a matrix or a private array in memory.

export type WinogradTile = 2 | 3 | 4;

export interface WinogradMatrices {
  m: number; // output tile
  n: number; // input tile, m + 2
  BT: number[][]; // n × n
  G: number[][]; // n × 3
  AT: number[][]; // m × n
}

export const WINOGRAD: Record<WinogradTile, WinogradMatrices> = {
  2: {
    m: 2,
    n: 4,
    BT: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    G: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  3: {
    // Points 0, 1, −1, ½, ∞ (½ rather than 2 keeps Aᵀ's entries within [−1, 1]). Derived by the
    // Toom-Cook construction: Aᵀ(i, j) = p_jⁱ, G(j, k) = p_jᵏ / Π_{l≠j}(p_j − p_l), and Bᵀ solved
    // exactly from Aᵀ[(G g) ⊙ (Bᵀ d)] = correlation(d, g) for every basis d, g.
    m: 3,
    n: 5,
    BT: [
      [1 / 2, -1, -1 / 2, 1, 0],
      [0, -1 / 2, 1 / 2, 1, 0],
      [0, 1 / 2, -3 / 2, 1, 0],
      [0, -1, 0, 1, 0],
      [0, 1 / 2, -1, -1 / 2, 1],
    ],
    G: [
      [2, 0, 0],
      [1, 1, 1],
      [-1 / 3, 1 / 3, -1 / 3],
      [-8 / 3, -4 / 3, -2 / 3],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 0],
      [0, 1, -1, 1 / 2, 0],
      [0, 1, 1, 1 / 4, 1],
    ],
  },
  4: {
    m: 4,
    n: 6,
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

const lit = (c: number) => {
  const s = String(Math.abs(c));
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
};

/** Σ_k coef[k]·terms[k], constants folded (±1 without a product, zeros skipped). */
function dot(coef: number[], terms: string[]): string {
  let s = '';
  coef.forEach((c, k) => {
    if (c === 0) return;
    const t = Math.abs(c) === 1 ? terms[k]! : `${lit(c)} * ${terms[k]}`;
    s += s === '' ? (c < 0 ? `-${t}` : t) : c < 0 ? ` - ${t}` : ` + ${t}`;
  });
  return s === '' ? '0.0' : s;
}

/**
 * WGSL statements for out = L · X · Rᵀ, X named `${x}_i_j` (rows × cols), out `${out}_a_b`:
 * `let` bindings, left product first.
 */
function sandwich(L: number[][], R: number[][], x: string, out: string, rows: number, cols: number): string[] {
  const lines: string[] = [];
  L.forEach((l, a) => {
    for (let j = 0; j < cols; j++) lines.push(`let ${out}l_${a}_${j} = ${dot(l, Array.from({ length: rows }, (_, i) => `${x}_${i}_${j}`))};`);
  });
  L.forEach((_, a) => {
    R.forEach((r, b) => {
      lines.push(`let ${out}_${a}_${b} = ${dot(r, Array.from({ length: cols }, (_, j) => `${out}l_${a}_${j}`))};`);
    });
  });
  return lines;
}

const transpose = (M: number[][]) => M[0]!.map((_, j) => M.map((r) => r[j]!));

/** Input transform V = Bᵀ d B: loads d_i_j via `load(i, j)`, stores via `store(p, value)`. */
export function inputTransform(w: WinogradMatrices, load: (i: number, j: number) => string, store: (p: number, v: string) => string): string {
  const out: string[] = [];
  for (let i = 0; i < w.n; i++) for (let j = 0; j < w.n; j++) out.push(`let d_${i}_${j} = ${load(i, j)};`);
  out.push(...sandwich(w.BT, w.BT, 'd', 'v', w.n, w.n));
  for (let a = 0; a < w.n; a++) for (let b = 0; b < w.n; b++) out.push(store(a * w.n + b, `v_${a}_${b}`));
  return out.join('\n  ');
}

/** Output transform Y = Aᵀ M A: loads M via `load(p)`, stores y_i_j via `store(i, j, value)`. */
export function outputTransform(w: WinogradMatrices, load: (p: number) => string, store: (i: number, j: number, v: string) => string): string {
  const out: string[] = [];
  for (let a = 0; a < w.n; a++) for (let b = 0; b < w.n; b++) out.push(`let q_${a}_${b} = ${load(a * w.n + b)};`);
  out.push(...sandwich(w.AT, w.AT, 'q', 'y', w.n, w.n));
  for (let i = 0; i < w.m; i++) for (let j = 0; j < w.m; j++) out.push(store(i, j, `y_${i}_${j}`));
  return out.join('\n  ');
}

/** Weight transform U = G g Gᵀ: loads g_i_j (3×3) via `load(i, j)`, stores via `store(p, value)`. */
export function weightTransform(w: WinogradMatrices, load: (i: number, j: number) => string, store: (p: number, v: string) => string): string {
  const out: string[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out.push(`let g_${i}_${j} = ${load(i, j)};`);
  out.push(...sandwich(w.G, w.G, 'g', 'u', 3, 3));
  for (let a = 0; a < w.n; a++) for (let b = 0; b < w.n; b++) out.push(store(a * w.n + b, `u_${a}_${b}`));
  return out.join('\n  ');
}

/** Upstream-gradient transform ∂L/∂(U ⊙ V) = A g Aᵀ: loads the m×m tile gradient, stores n×n. */
export function dyTransform(w: WinogradMatrices, load: (i: number, j: number) => string, store: (p: number, v: string) => string): string {
  const out: string[] = [];
  for (let i = 0; i < w.m; i++) for (let j = 0; j < w.m; j++) out.push(`let g_${i}_${j} = ${load(i, j)};`);
  const A = transpose(w.AT);
  out.push(...sandwich(A, A, 'g', 'e', w.m, w.m));
  for (let a = 0; a < w.n; a++) for (let b = 0; b < w.n; b++) out.push(store(a * w.n + b, `e_${a}_${b}`));
  return out.join('\n  ');
}

/** Filter gradient ∂L/∂g = Gᵀ ∂L/∂U G: loads n×n via `load(p)`, stores the 3×3 via `store(i, j, value)`. */
export function filterGradTransform(w: WinogradMatrices, load: (p: number) => string, store: (i: number, j: number, v: string) => string): string {
  const out: string[] = [];
  for (let a = 0; a < w.n; a++) for (let b = 0; b < w.n; b++) out.push(`let q_${a}_${b} = ${load(a * w.n + b)};`);
  const GT = transpose(w.G);
  out.push(...sandwich(GT, GT, 'q', 'f', w.n, w.n));
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out.push(store(i, j, `f_${i}_${j}`));
  return out.join('\n  ');
}
