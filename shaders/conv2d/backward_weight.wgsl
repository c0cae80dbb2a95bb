// Convolution weight gradient as a GEMM with split reduction:
//   dW(k,c,ky,kx) = Σ_{n,oy,ox} dy(n,k,oy,ox) · x(n,c, oy·S−P+ky, ox·S−P+kx)
// i.e. dW (K × C·kh·kw) = dYᵀ (K × N·OH·OW) · im2col(X) (N·OH·OW × C·kh·kw), im2col never
// materialised. The reduction N·OH·OW is long (tens of thousands), so it is split: split s
// sums the (n, oy) rows s·rowsPer … (s+1)·rowsPer−1 and writes its partial dW to
// out[s·K·C·kh·kw + ...] (reduce_splits.wgsl then adds the splits into dW), or, with a single
// split, adds straight into dW (accumulate = 1).
// A thread owns TK output channels × TC input channels at one tap (ky, kx): it loops only over
// the output columns whose input column is inside the image (no per-pixel bounds test), and per
// pixel loads TC inputs and TK upstream gradients for TK·TC multiply-adds.
// Transposed convolution reuses this kernel with operands swapped (dy := its input x,
// x := its upstream gradient dy).
struct Params {
  N: u32, C: u32, H: u32, W: u32,            // x (N, C, H, W)
  K: u32, OH: u32, OW: u32,                  // dy (N, K, OH, OW)
  SH: i32, SW: i32, PH: i32, PW: i32, KH: u32, KW: u32,
  cBlocks: u32, kBlocks: u32, threads: u32,  // threads per split = taps · cBlocks · kBlocks
  rowsPer: u32, splits: u32, accumulate: u32,
  // Independent problems b < batches (Winograd's 16 transform positions) at x + b·xBatch,
  // dy + b·dyBatch, out + b·K·C·kh·kw; 1, 0, 0 for a plain convolution.
  batches: u32, xBatch: u32, dyBatch: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;          // (N, K, OH, OW)
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (N, C, H, W)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (splits, batches, K, C, kh, kw), or dW (batches, K, C, kh, kw)

const WG = 64u;
const TK = 4u;
const TC = 4u;
// Lines ending in `// each i<TK` etc. are repeated by the planner for each index value ({i}, {j}
// substituted): the TK×TC sums are plain variables, not an array a compiler might keep in memory.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= params.threads * params.splits * params.batches) { return; }
  let t = id % params.threads;
  let b = (id / params.threads) % params.batches;
  let s = id / (params.threads * params.batches);
  let taps = params.KH * params.KW;
  let tap = t % taps;
  let cb = (t / taps) % params.cBlocks;
  let kb = t / (taps * params.cBlocks);
  let ky = i32(tap / params.KW);
  let kx = i32(tap % params.KW);

  let HW = params.H * params.W;
  let OHW = params.OH * params.OW;
  let H = i32(params.H);
  let W = i32(params.W);
  let c_{j} = min(cb * TC + {j}u, params.C - 1u) * HW;  // each j<TC
  let k_{i} = min(kb * TK + {i}u, params.K - 1u) * OHW;  // each i<TK
  // Output columns whose input column ox·S − P + kx lies inside the image.
  let SW = params.SW;
  let oxLo = u32(max(0, (params.PW - kx + SW - 1) / SW));
  let last = W - 1 + params.PW - kx;  // ox·S ≤ last; i32 division truncates, so test the sign first
  let oxHi = u32(select(0, min(last / SW + 1, i32(params.OW)), last >= 0));
  let ix0 = i32(oxLo) * SW - params.PW + kx;

  let rows = params.N * params.OH;
  let rBegin = s * params.rowsPer;
  let rEnd = min(rBegin + params.rowsPer, rows);
  var acc_{i}_{j} = 0.0;  // each i<TK j<TC
  for (var row = rBegin; row < rEnd; row++) {
    let n = row / params.OH;
    let oy = row % params.OH;
    let iy = i32(oy) * params.SH - params.PH + ky;
    if (iy < 0 || iy >= H) { continue; }
    var xo = b * params.xBatch + n * params.C * HW + u32(iy * W + ix0);
    var dyo = b * params.dyBatch + n * params.K * OHW + oy * params.OW + oxLo;
    for (var ox = oxLo; ox < oxHi; ox++) {
      let a_{j} = x[xo + c_{j}];  // each j<TC
      let d_{i} = dy[dyo + k_{i}];  // each i<TK
      acc_{i}_{j} = fma(d_{i}, a_{j}, acc_{i}_{j});  // each i<TK j<TC
      xo += u32(SW);
      dyo += 1u;
    }
  }

  let size = params.K * params.C * taps;
  let o0 = (s * params.batches + b) * size + tap;
  store(o0, kb * TK + {i}u, cb * TC + {j}u, acc_{i}_{j});  // each i<TK j<TC
}

fn store(o0: u32, k: u32, c: u32, v: f32) {
  if (k >= params.K || c >= params.C) { return; }
  let o = o0 + (k * params.C + c) * params.KH * params.KW;
  var r = v;
  if (params.accumulate != 0u) { r += out[o]; }
  out[o] = r;
}
