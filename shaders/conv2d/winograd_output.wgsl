// Winograd F(m×m, 3×3) output transform: y = Aᵀ M A (+ bias, + the old output when accumulating),
// where M(p, col, t), p = (m+2)·a + b, is the GEMM's output for tile t = (n, th, tw); the m×m
// result goes to the pixels (th·m + i, tw·m + j) that lie inside the (OH, OW) image.
// The planner sets MT and replaces the `#transform` line with straight-line code for Aᵀ M A.
struct Params { Cols: u32, OH: u32, OW: u32, TH: u32, TW: u32, T: u32, Tpad: u32, n: u32, hasBias: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> m: array<f32>;          // (P, Cols, Tpad)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (N, Cols, OH, OW)
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (Cols) or a 1-element dummy

const WG = 64u;
const MT = 2u;

fn put(o: u32, oy: u32, ox: u32, val: f32, b: f32) {
  if (oy >= params.OH || ox >= params.OW) { return; }
  let k = o + oy * params.OW + ox;
  var r = val + b;
  if (params.accumulate != 0u) { r += out[k]; }
  out[k] = r;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let col = i / params.T;
  let t = i % params.T;
  let plane = params.Cols * params.Tpad;
  let s = col * params.Tpad + t;
  let b = select(0.0, bias[col], params.hasBias != 0u);
  let per = params.TH * params.TW;
  let n = t / per;
  let r = t % per;
  let oy = (r / params.TW) * MT;
  let ox = (r % params.TW) * MT;
  let o = (n * params.Cols + col) * params.OH * params.OW;
  // #transform
}
