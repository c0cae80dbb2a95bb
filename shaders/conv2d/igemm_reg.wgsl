// Implicit-GEMM convolution, register-blocked, no workgroup memory (variant a: fast on
// CPU-emulated adapters, where barriers and workgroup arrays cost more than they save).
//
// One kernel serves conv forward and conv backward-input (and so transposed conv forward and
// backward-input, which are the same two with roles swapped):
//
//   forward (BWD = false):  out(n,col,y,x) = bias(col) + Σ_{ch,ky,kx} inp(n,ch,y·S−P+ky, x·S−P+kx) · w(col,ch,ky,kx)
//     inp = x (N,C,H,W), w (K,C,kh,kw), out = y (N,K,OH,OW); rows m = (n,y,x), cols = k, reduction (ky,kx,ch).
//
//   backward-input (BWD = true):  out(n,col,y,x) = Σ_{ch,ky,kx} inp(n,ch,oy,ox) · w(ch,col,ky,kx)
//     where oy·S+ky−P = y, ox·S+kx−P = x; inp = dy (N,K,OH,OW), out = dx (N,C,H,W).
//     Gather formulation that visits only the valid taps: output rows are split into S_h·S_w
//     phase classes (py,px) = ((y+P) mod S, (x+P) mod S). Within a class, y = y0 + S·u, the valid
//     taps are ky = py + S·ty (ty < ceil((kh−py)/S)) and oy = ay + u − ty with ay = (y0+P−py)/S:
//     a stride-1 correlation, so no thread ever tests a tap that cannot contribute (for the FCN
//     head, k 64 / S 32, that skips 1023 of every 1024 taps). The phase class is the grid's
//     slowest index.
//
// Each thread owns TM output rows (strided by WG, so neighbouring invocations touch
// neighbouring pixels) × TN output channels and keeps the TM×TN sums in registers; per
// reduction step it loads TM inputs and TN weights for TM·TN multiply-adds. Taps are the
// outer loops so bounds are tested once per (row, tap), not per channel.
struct Params {
  N: u32, Cred: u32, IH: u32, IW: u32,      // input (N, Cred, IH, IW): x, or dy when BWD
  Cols: u32, OH: u32, OW: u32,              // output (N, Cols, OH, OW): y, or dx when BWD
  SH: i32, SW: i32, PH: i32, PW: i32, KH: i32, KW: i32,  // the convolution's stride, padding, kernel
  wsc: u32, wsr: u32,                       // weight strides of an output channel / reduction channel
  mGroups: u32, cGroups: u32, groups: u32,  // folded grid: m-groups × col-groups × phase classes
  hasBias: u32, accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (N, Cred, IH, IW)
@group(0) @binding(2) var<storage, read> w: array<f32>;          // (K, C, kh, kw)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (Cols) or a 1-element dummy
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (N, Cols, OH, OW)

override BWD: bool = false;
const WG = 64u;
const TM = 4u;
const TN = 4u;

// One axis (rows or columns of the image) of one phase class.
struct Axis { i0: i32, is: i32, it: i32, k0: i32, ks: i32, o0: i32, os: i32, U: i32, T: i32 }

fn axis(phase: i32, S: i32, P: i32, K: i32, inSize: i32, outSize: i32) -> Axis {
  if (!BWD) {
    // input = u·S − P + t, tap = t, output = u
    return Axis(-P, S, 1, 0, 1, 0, 1, outSize, K);
  }
  let o0 = ((phase - P) % S + S) % S;                 // first output coordinate of this class
  let ai = (o0 + P - phase) / S;                      // exact: o0 + P ≡ phase (mod S)
  let T = select(0, (K - phase + S - 1) / S, phase < K);
  let U = select(0, (outSize - o0 + S - 1) / S, o0 < outSize);
  return Axis(ai, 1, -1, phase, S, o0, S, U, T);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= params.groups) { return; }
  let mg = g % params.mGroups;
  let rest = g / params.mGroups;
  let cg = rest % params.cGroups;
  let phase = i32(rest / params.cGroups);
  let SW = params.SW;
  let ay = axis(phase / SW, params.SH, params.PH, params.KH, i32(params.IH), i32(params.OH));
  let ax = axis(phase % SW, SW, params.PW, params.KW, i32(params.IW), i32(params.OW));
  if (ay.U <= 0 || ax.U <= 0) { return; }
  let M = params.N * u32(ay.U) * u32(ax.U);
  let IHW = params.IH * params.IW;
  let IH = i32(params.IH);
  let IW = i32(params.IW);

  // Per-row state: image base, input origin, and the output index.
  var nbase: array<u32, TM>;
  var iyb: array<i32, TM>;
  var ixb: array<i32, TM>;
  var obase: array<u32, TM>;
  var live: array<bool, TM>;
  let m0 = mg * WG * TM + lid;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i * WG;
    live[i] = m < M;
    let mm = min(m, M - 1u);
    let v = i32(mm % u32(ax.U));
    let t = mm / u32(ax.U);
    let u = i32(t % u32(ay.U));
    let n = t / u32(ay.U);
    nbase[i] = n * params.Cred * IHW;
    iyb[i] = ay.i0 + ay.is * u;
    ixb[i] = ax.i0 + ax.is * v;
    obase[i] = n * params.Cols * params.OH * params.OW + u32(ay.o0 + ay.os * u) * params.OW + u32(ax.o0 + ax.os * v);
  }
  var cols: array<u32, TN>;
  let c0 = cg * TN;
  for (var j = 0u; j < TN; j++) { cols[j] = min(c0 + j, params.Cols - 1u); }

  var acc: array<array<f32, TN>, TM>;
  for (var ty = 0; ty < ay.T; ty++) {
    let ky = ay.k0 + ay.ks * ty;
    for (var tx = 0; tx < ax.T; tx++) {
      let kx = ax.k0 + ax.ks * tx;
      var off: array<u32, TM>;
      var ok: array<bool, TM>;
      for (var i = 0u; i < TM; i++) {
        let iy = iyb[i] + ay.it * ty;
        let ix = ixb[i] + ax.it * tx;
        ok[i] = iy >= 0 && iy < IH && ix >= 0 && ix < IW;
        off[i] = nbase[i] + select(0u, u32(iy * IW + ix), ok[i]);
      }
      var wo: array<u32, TN>;
      for (var j = 0u; j < TN; j++) { wo[j] = cols[j] * params.wsc + u32(ky * params.KW + kx); }
      for (var ch = 0u; ch < params.Cred; ch++) {
        let io = ch * IHW;
        let wr = ch * params.wsr;
        var a: array<f32, TM>;
        for (var i = 0u; i < TM; i++) { a[i] = select(0.0, inp[off[i] + io], ok[i]); }
        for (var j = 0u; j < TN; j++) {
          let b = w[wo[j] + wr];
          for (var i = 0u; i < TM; i++) { acc[i][j] = fma(a[i], b, acc[i][j]); }
        }
      }
    }
  }

  let OHW = params.OH * params.OW;
  for (var j = 0u; j < TN; j++) {
    let col = c0 + j;
    if (col >= params.Cols) { break; }
    let bj = select(0.0, bias[col], params.hasBias != 0u);
    for (var i = 0u; i < TM; i++) {
      if (!live[i]) { continue; }
      let o = obase[i] + col * OHW;
      var v = acc[i][j] + bj;
      if (params.accumulate != 0u) { v += out[o]; }
      out[o] = v;
    }
  }
}
