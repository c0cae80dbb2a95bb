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
//     second slowest index of the grid (after the split).
//
// Each thread owns TM consecutive output rows × TN output channels and keeps the TM×TN sums
// in registers; per reduction step it loads TM inputs and TN/4 vec4s of weights (from wt, the
// weights reordered to (kh, kw, Cred, ColsPad) by weight_t.wgsl) for TM·TN multiply-adds.
// Taps are the outer loops, so bounds are tested once per (row, tap), not per channel.
//
// Split-K: when there are few outputs and a long reduction (FCN's k64/s32 head: 600×21 outputs,
// 86016-term sums; deep layers at small batch), split s = (sc, st) of the grid sums only kernel
// rows ty in [st·tyPer, (st+1)·tyPer) and channels ch in [sc·chPer, (sc+1)·chPer) and, with
// partial = 1, stores its raw sums at out[s·outSize + o]; reduce_out.wgsl adds the splits, the
// bias and (when accumulating) the old output.

// #include "igemm_common.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (N, Cred, IH, IW)
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;  // (kh, kw, Cred, ColsPad/4)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (Cols) or a 1-element dummy
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (N, Cols, OH, OW), or (splits, N, Cols, OH, OW) partials

override BWD: bool = false;
const WG = 64u;
const TM = 4u;
const TN = 4u;  // a multiple of 4
const TN4 = TN / 4u;
// Lines ending in `// each i<TM` (or `i<TM j<TN4`, `j<TN4 c<4`) are repeated by the planner for
// every index value, with {i}, {j}, {c} substituted: the TM×TN accumulators become plain
// variables rather than arrays, which some compilers (llvmpipe) would keep in memory.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= params.groups) { return; }
  let mg = g % params.mGroups;
  let rest = g / params.mGroups;
  let cg = rest % params.cGroups;
  let rest2 = rest / params.cGroups;
  let phase = i32(rest2 % params.phases);
  let split = rest2 / params.phases;
  let SW = params.SW;
  let ay = axis(phase / SW, params.SH, params.PH, params.KH, i32(params.IH), i32(params.OH));
  let ax = axis(phase % SW, SW, params.PW, params.KW, i32(params.IW), i32(params.OW));
  if (ay.U <= 0 || ax.U <= 0) { return; }
  let M = params.N * u32(ay.U) * u32(ax.U);
  let IHW = params.IH * params.IW;
  let IH = i32(params.IH);
  let IW = i32(params.IW);
  let Ux = u32(ax.U);
  let Uy = u32(ay.U);

  // Per-row state: row m → (n, u, v); image base, input origin, output index. A thread's rows
  // are consecutive, so with few rows (deep layers, phase classes) whole threads retire here
  // instead of computing clamped duplicates.
  let m0 = (mg * WG + lid) * TM;
  if (m0 >= M) { return; }
  let m_{i} = m0 + {i}u;  // each i<TM
  let mm_{i} = min(m_{i}, M - 1u);  // each i<TM
  let u_{i} = i32((mm_{i} / Ux) % Uy);  // each i<TM
  let v_{i} = i32(mm_{i} % Ux);  // each i<TM
  let n_{i} = mm_{i} / Ux / Uy;  // each i<TM
  let nbase_{i} = n_{i} * params.Cred * IHW;  // each i<TM
  let iyb_{i} = ay.i0 + ay.is * u_{i};  // each i<TM
  let ixb_{i} = ax.i0 + ax.is * v_{i};  // each i<TM
  let CP4 = (params.Cols + 3u) / 4u;  // vec4s per (tap, ch) row of wt
  let cb4 = cg * TN4;
  let wlast = arrayLength(&wt) - 1u;
  let wbase = n_0 * (params.wImage / 4u);  // rows of a thread share n when wImage != 0

  var acc_{i}_{j} = vec4<f32>();  // each i<TM j<TN4
  let tyBegin = i32(split % params.tySplits) * params.tyPer;
  let tyEnd = min(tyBegin + params.tyPer, ay.T);
  let chBegin = min(split / params.tySplits * params.chPer, params.Cred);
  let chEnd = min(chBegin + params.chPer, params.Cred);
  for (var ty = tyBegin; ty < tyEnd; ty++) {
    let ky = ay.k0 + ay.ks * ty;
    for (var tx = 0; tx < ax.T; tx++) {
      let kx = ax.k0 + ax.ks * tx;
      let iy_{i} = iyb_{i} + ay.it * ty;  // each i<TM
      let ix_{i} = ixb_{i} + ax.it * tx;  // each i<TM
      let ok_{i} = iy_{i} >= 0 && iy_{i} < IH && ix_{i} >= 0 && ix_{i} < IW;  // each i<TM
      var off_{i} = nbase_{i} + chBegin * IHW + select(0u, u32(iy_{i} * IW + ix_{i}), ok_{i});  // each i<TM
      var wo = (u32(ky * params.KW + kx) * params.Cred + chBegin) * CP4 + cb4 + wbase;
      for (var ch = chBegin; ch < chEnd; ch++) {
        let a_{i} = vec4<f32>(select(0.0, inp[off_{i}], ok_{i}));  // each i<TM
        let b_{j} = wt[min(wo + {j}u, wlast)];  // each j<TN4
        acc_{i}_{j} = fma(a_{i}, b_{j}, acc_{i}_{j});  // each i<TM j<TN4
        off_{i} += IHW;  // each i<TM
        wo += CP4;
      }
    }
  }

  let OHW = params.OH * params.OW;
  let acc = params.accumulate != 0u;
  let obase_{i} = n_{i} * params.Cols * OHW + u32(ay.o0 + ay.os * u_{i}) * params.OW + u32(ax.o0 + ax.os * v_{i});  // each i<TM
  let live_{i} = m_{i} < M;  // each i<TM
  let c0 = cg * TN;
  let sbase = split * params.outSize;
  store(live_{i}, obase_{i}, c0 + {j}u * 4u + {c}u, acc_{i}_{j}[{c}], acc, sbase);  // each i<TM j<TN4 c<4
}

// out(o + col·OH·OW) = v + bias(col) (+ the old value when accumulating), for real rows and columns.
fn store(live: bool, obase: u32, col: u32, v: f32, accumulate: bool, sbase: u32) {
  if (!live || col >= params.Cols) { return; }
  let o = obase + col * params.OH * params.OW;
  if (params.partial != 0u) {
    out[sbase + o] = v;
    return;
  }
  var r = v + select(0.0, bias[col], params.hasBias != 0u);
  if (accumulate) { r += out[o]; }
  out[o] = r;
}
