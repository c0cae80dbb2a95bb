// Plain float64 reference convolution (NCHW, dilation 1, groups 1), written from the
// definitions with no cleverness, to check the GPU kernels and to be checked itself by finite
// differences:
//   y(n,k,oy,ox) = b(k) + Σ_{c,ky,kx} x(n,c,oy·S−P+ky, ox·S−P+kx) · w(k,c,ky,kx)
// and its exact gradients for an upstream gradient dy. Transposed convolution (weight
// (Cin,Cout,kh,kw)) is written directly by scattering, independently of the conv code:
//   y(n,co, i·S−P+ky, j·S−P+kx) += x(n,ci,i,j) · w(ci,co,ky,kx).

export interface RefConvParams {
  N: number; C: number; H: number; W: number; K: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

export interface RefConvTParams {
  N: number; Cin: number; H: number; W: number; Cout: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number;
}

type Arr = ArrayLike<number>;

export function refOutSize(p: RefConvParams) {
  return { OH: Math.floor((p.H + 2 * p.padH - p.kh) / p.strideH) + 1, OW: Math.floor((p.W + 2 * p.padW - p.kw) / p.strideW) + 1 };
}

/** Visits every (output, input, weight) index triple that contributes to the convolution. */
function forEachTap(p: RefConvParams, f: (yi: number, xi: number, wi: number, k: number) => void): void {
  const { OH, OW } = refOutSize(p);
  for (let n = 0; n < p.N; n++)
    for (let k = 0; k < p.K; k++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const yi = ((n * p.K + k) * OH + oy) * OW + ox;
          for (let c = 0; c < p.C; c++)
            for (let ky = 0; ky < p.kh; ky++) {
              const iy = oy * p.strideH - p.padH + ky;
              if (iy < 0 || iy >= p.H) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ix = ox * p.strideW - p.padW + kx;
                if (ix < 0 || ix >= p.W) continue;
                f(yi, ((n * p.C + c) * p.H + iy) * p.W + ix, ((k * p.C + c) * p.kh + ky) * p.kw + kx, k);
              }
            }
        }
}

export function refConvForward(x: Arr, w: Arr, b: Arr | null, p: RefConvParams): Float64Array {
  const { OH, OW } = refOutSize(p);
  const y = new Float64Array(p.N * p.K * OH * OW);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (OH * OW)) % p.K]!;
  forEachTap(p, (yi, xi, wi) => {
    y[yi] += x[xi]! * w[wi]!;
  });
  return y;
}

/** Gradients of L = Σ y·dy: dx, dw, db. */
export function refConvBackward(x: Arr, w: Arr, dy: Arr, p: RefConvParams) {
  const { OH, OW } = refOutSize(p);
  const dx = new Float64Array(p.N * p.C * p.H * p.W);
  const dw = new Float64Array(p.K * p.C * p.kh * p.kw);
  const db = new Float64Array(p.K);
  forEachTap(p, (yi, xi, wi) => {
    dx[xi] += dy[yi]! * w[wi]!;
    dw[wi] += dy[yi]! * x[xi]!;
  });
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (OH * OW)) % p.K] += dy[i]!;
  return { dx, dw, db };
}

export function refConvTOutSize(p: RefConvTParams) {
  return { OH: (p.H - 1) * p.strideH - 2 * p.padH + p.kh, OW: (p.W - 1) * p.strideW - 2 * p.padW + p.kw };
}

function forEachScatter(p: RefConvTParams, f: (yi: number, xi: number, wi: number) => void): void {
  const { OH, OW } = refConvTOutSize(p);
  for (let n = 0; n < p.N; n++)
    for (let ci = 0; ci < p.Cin; ci++)
      for (let i = 0; i < p.H; i++)
        for (let j = 0; j < p.W; j++) {
          const xi = ((n * p.Cin + ci) * p.H + i) * p.W + j;
          for (let co = 0; co < p.Cout; co++)
            for (let ky = 0; ky < p.kh; ky++) {
              const oy = i * p.strideH - p.padH + ky;
              if (oy < 0 || oy >= OH) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ox = j * p.strideW - p.padW + kx;
                if (ox < 0 || ox >= OW) continue;
                f(((n * p.Cout + co) * OH + oy) * OW + ox, xi, ((ci * p.Cout + co) * p.kh + ky) * p.kw + kx);
              }
            }
        }
}

export function refConvTForward(x: Arr, w: Arr, b: Arr | null, p: RefConvTParams): Float64Array {
  const { OH, OW } = refConvTOutSize(p);
  const y = new Float64Array(p.N * p.Cout * OH * OW);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (OH * OW)) % p.Cout]!;
  forEachScatter(p, (yi, xi, wi) => {
    y[yi] += x[xi]! * w[wi]!;
  });
  return y;
}

export function refConvTBackward(x: Arr, w: Arr, dy: Arr, p: RefConvTParams) {
  const { OH, OW } = refConvTOutSize(p);
  const dx = new Float64Array(p.N * p.Cin * p.H * p.W);
  const dw = new Float64Array(p.Cin * p.Cout * p.kh * p.kw);
  const db = new Float64Array(p.Cout);
  forEachScatter(p, (yi, xi, wi) => {
    dx[xi] += dy[yi]! * w[wi]!;
    dw[wi] += dy[yi]! * x[xi]!;
  });
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (OH * OW)) % p.Cout] += dy[i]!;
  return { dx, dw, db };
}
