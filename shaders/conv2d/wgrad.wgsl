// Convolution weight gradient as a GEMM with split reduction:
//   dW(k,c,ky,kx) = Σ_{n,oy,ox} dy(n,k,oy,ox) · x(n,c, oy·S−P+ky, ox·S−P+kx)
// i.e. dW (K × C·kh·kw) = dYᵀ (K × N·OH·OW) · im2col(X) (N·OH·OW × C·kh·kw), im2col never
// materialised. The reduction N·OH·OW is long (tens of thousands), so it is split: split s
// sums the (n, oy) rows s·rowsPer … (s+1)·rowsPer−1 and writes its partial dW to
// out[s·K·C·kh·kw + ...] (reduce_splits.wgsl then adds the splits into dW), or, with a single
// split, adds straight into dW (accumulate = 1).
// A thread owns TK output channels × TC input channels at one tap (ky, kx): per output pixel
// it tests bounds once, loads TC inputs and TK upstream gradients, and does TK·TC multiply-adds.
// Transposed convolution reuses this kernel with operands swapped (dy := its input x,
// x := its upstream gradient dy).
struct Params {
  N: u32, C: u32, H: u32, W: u32,            // x (N, C, H, W)
  K: u32, OH: u32, OW: u32,                  // dy (N, K, OH, OW)
  SH: i32, SW: i32, PH: i32, PW: i32, KH: u32, KW: u32,
  cBlocks: u32, kBlocks: u32, threads: u32,  // threads per split = taps · cBlocks · kBlocks
  rowsPer: u32, splits: u32, accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;          // (N, K, OH, OW)
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (N, C, H, W)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (splits, K, C, kh, kw), or dW (K, C, kh, kw)

const WG = 64u;
const TK = 4u;
const TC = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= params.threads * params.splits) { return; }
  let s = id / params.threads;
  let t = id % params.threads;
  let taps = params.KH * params.KW;
  let tap = t % taps;
  let cb = (t / taps) % params.cBlocks;
  let kb = t / (taps * params.cBlocks);
  let ky = i32(tap / params.KW);
  let kx = i32(tap % params.KW);

  let HW = params.H * params.W;
  let OHW = params.OH * params.OW;
  var cs: array<u32, TC>;
  for (var j = 0u; j < TC; j++) { cs[j] = min(cb * TC + j, params.C - 1u) * HW; }
  var ks: array<u32, TK>;
  for (var i = 0u; i < TK; i++) { ks[i] = min(kb * TK + i, params.K - 1u) * OHW; }

  let H = i32(params.H);
  let W = i32(params.W);
  let rows = params.N * params.OH;
  let rBegin = s * params.rowsPer;
  let rEnd = min(rBegin + params.rowsPer, rows);
  var acc: array<array<f32, TC>, TK>;
  for (var row = rBegin; row < rEnd; row++) {
    let n = row / params.OH;
    let oy = row % params.OH;
    let iy = i32(oy) * params.SH - params.PH + ky;
    if (iy < 0 || iy >= H) { continue; }
    let xrow = n * params.C * HW + u32(iy * W);
    let dyrow = n * params.K * OHW + oy * params.OW;
    for (var ox = 0u; ox < params.OW; ox++) {
      let ix = i32(ox) * params.SW - params.PW + kx;
      if (ix < 0 || ix >= W) { continue; }
      var a: array<f32, TC>;
      for (var j = 0u; j < TC; j++) { a[j] = x[xrow + cs[j] + u32(ix)]; }
      for (var i = 0u; i < TK; i++) {
        let d = dy[dyrow + ks[i] + ox];
        for (var j = 0u; j < TC; j++) { acc[i][j] = fma(d, a[j], acc[i][j]); }
      }
    }
  }

  let size = params.K * params.C * taps;
  for (var i = 0u; i < TK; i++) {
    let k = kb * TK + i;
    if (k >= params.K) { break; }
    for (var j = 0u; j < TC; j++) {
      let c = cb * TC + j;
      if (c >= params.C) { break; }
      let o = s * size + (k * params.C + c) * taps + tap;
      var v = acc[i][j];
      if (params.accumulate != 0u) { v += out[o]; }
      out[o] = v;
    }
  }
}
