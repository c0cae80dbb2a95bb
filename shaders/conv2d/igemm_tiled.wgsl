// Implicit-GEMM convolution, workgroup-memory tiled and register-blocked (variant b: fast on
// real GPUs, where a BM×BK input tile and a BK×BN weight tile staged in workgroup memory are
// each read BN resp. BM times from there instead of from global memory).
//
// Same maths and same phase-class decomposition as igemm_reg.wgsl:
//   forward:        out(n,col,y,x) = bias(col) + Σ_{ch,ky,kx} inp(n,ch,y·S−P+ky, x·S−P+kx) · w(col,ch,ky,kx)
//   backward-input: out(n,col,y,x) = Σ_{ch,ky,kx} inp(n,ch,oy,ox) · w(ch,col,ky,kx), oy·S+ky−P = y, ox·S+kx−P = x,
//                   visiting only ky = py + S·ty, kx = px + S·tx for the phase class (py, px).
// GEMM view: rows m = (n,u,v) of one phase class, cols = output channels, reduction
// r = (ty, tx, ch) with ch fastest. A workgroup of WGX×WGY threads computes a BM×BN tile
// (BM = WGX·TM, BN = WGY·TN); thread (tx, ty) owns rows tx + WGX·i and cols ty + WGY·j, so
// neighbouring invocations store neighbouring pixels and read distinct workgroup-memory banks.

// #include "igemm_common.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (N, Cred, IH, IW)
@group(0) @binding(2) var<storage, read> wt: array<f32>;         // (kh, kw, Cred, ColsPad): weight_t.wgsl
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (Cols) or a 1-element dummy
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (N, Cols, OH, OW), or (splits, N, Cols, OH, OW) partials

override BWD: bool = false;
const WGX = 16u;
const WGY = 16u;
const TM = 4u;
const TN = 4u;
const BK = 16u;
const BM = WGX * TM;
const BN = WGY * TN;
const NT = WGX * WGY;

var<workgroup> As: array<f32, BK * BM>;  // [kk][mm] input tile
var<workgroup> Bs: array<f32, BK * BN>;  // [kk][nn] weight tile
// Per reduction index of the current step: valid, input row/column offsets, channel offset, weight row.
var<workgroup> rOk: array<bool, BK>;
var<workgroup> rDy: array<i32, BK>;
var<workgroup> rDx: array<i32, BK>;
var<workgroup> rIn: array<u32, BK>;
var<workgroup> rW: array<u32, BK>;

@compute @workgroup_size(WGX, WGY)
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
  let Tx = u32(ax.T);
  // This split's reduction: kernel rows [tyBegin, tyEnd) × channels [chBegin, chBegin + CL),
  // flattened as r = ((ty − tyBegin)·Tx + tx)·CL + (ch − chBegin) in [0, R).
  let tyBegin = min(i32(split % params.tySplits) * params.tyPer, ay.T);
  let tyEnd = min(tyBegin + params.tyPer, ay.T);
  let chBegin = min(split / params.tySplits * params.chPer, params.Cred);
  let CL = min(chBegin + params.chPer, params.Cred) - chBegin;
  let R = u32(tyEnd - tyBegin) * Tx * CL;
  let m0 = mg * BM;
  let c0 = cg * BN;

  // The input row this thread stages (fixed for the whole reduction).
  let lm = lid % BM;
  let lmk = lid / BM;
  let mA = min(m0 + lm, M - 1u);
  let vA = i32(mA % u32(ax.U));
  let tA = mA / u32(ax.U);
  let uA = i32(tA % u32(ay.U));
  let nbaseA = (tA / u32(ay.U)) * params.Cred * IHW;
  let iybA = ay.i0 + ay.is * uA;
  let ixbA = ax.i0 + ax.is * vA;
  let rowA = m0 + lm < M;
  // The weight column this thread stages.
  let ln = lid % BN;
  let lnk = lid / BN;
  let CP = (params.Cols + 3u) / 4u * 4u;
  let colB = min(c0 + ln, CP - 1u) + (min(m0, M - 1u) / (u32(ay.U) * u32(ax.U))) * params.wImage;  // a tile's rows share n when wImage != 0

  let tx = lid % WGX;
  let ty = lid / WGX;
  var acc: array<array<f32, TN>, TM>;
  for (var r0 = 0u; r0 < R; r0 += BK) {
    // Decode this step's BK reduction indices once per workgroup (integer division by
    // runtime values is slow on GPUs; per staged element it dominated the tile loads).
    if (lid < BK) {
      let r = r0 + lid;
      let tap = r / CL;
      let tyy = tyBegin + i32(tap / Tx);
      let txx = i32(tap % Tx);
      let ch = chBegin + r % CL;
      rOk[lid] = r < R;
      rDy[lid] = ay.it * tyy;
      rDx[lid] = ax.it * txx;
      rIn[lid] = ch * IHW;
      rW[lid] = (u32((ay.k0 + ay.ks * tyy) * params.KW + ax.k0 + ax.ks * txx) * params.Cred + ch) * CP;
    }
    workgroupBarrier();
    for (var kk = lmk; kk < BK; kk += NT / BM) {
      var a = 0.0;
      let iy = iybA + rDy[kk];
      let ix = ixbA + rDx[kk];
      if (rOk[kk] && rowA && iy >= 0 && iy < IH && ix >= 0 && ix < IW) {
        a = inp[nbaseA + rIn[kk] + u32(iy * IW + ix)];
      }
      As[kk * BM + lm] = a;
    }
    for (var kk = lnk; kk < BK; kk += NT / BN) {
      Bs[kk * BN + ln] = select(0.0, wt[min(rW[kk] + colB, arrayLength(&wt) - 1u)], rOk[kk]);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      for (var i = 0u; i < TM; i++) { a[i] = As[kk * BM + tx + WGX * i]; }
      for (var j = 0u; j < TN; j++) {
        let b = Bs[kk * BN + ty + WGY * j];
        for (var i = 0u; i < TM; i++) { acc[i][j] = fma(a[i], b, acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  let OHW = params.OH * params.OW;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + tx + WGX * i;
    if (m >= M) { continue; }
    let v = i32(m % u32(ax.U));
    let t = m / u32(ax.U);
    let u = i32(t % u32(ay.U));
    let n = t / u32(ay.U);
    let ob = n * params.Cols * OHW + u32(ay.o0 + ay.os * u) * params.OW + u32(ax.o0 + ax.os * v);
    for (var j = 0u; j < TN; j++) {
      let col = c0 + ty + WGY * j;
      if (col >= params.Cols) { continue; }
      let o = ob + col * OHW;
      if (params.partial != 0u) {
        out[split * params.outSize + o] = acc[i][j];
        continue;
      }
      var val = acc[i][j] + select(0.0, bias[col], params.hasBias != 0u);
      if (params.accumulate != 0u) { val += out[o]; }
      out[o] = val;
    }
  }
}
