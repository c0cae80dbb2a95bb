// Winograd F(m×m, 3×3) input transform (Lavin & Gray 2016), for 3×3 convolutions with stride 1
// and padding 1. Tile t = (n, th, tw) covers output pixels th·m .. th·m+m−1 (rows; columns alike)
// and reads the (m+2)×(m+2) input patch d from row th·m − 1, column tw·m − 1 (zero outside):
//   V = Bᵀ d B,
// stored as v(p, c, t), p = (m+2)·a + b: P = (m+2)² "images" of Cred channels × Tpad pixels, the
// input of one implicit GEMM (a 1×1 convolution whose weights differ per image p). Tiles t ≥ T
// (padding up to a multiple of the GEMM's row block) are written as zeros.
// The planner (winograd.ts) sets MT and P and replaces the `#transform` line with straight-line
// code for Bᵀ d B (winograd_transforms.ts).
struct Params { C: u32, H: u32, W: u32, TH: u32, TW: u32, T: u32, Tpad: u32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (N, C, H, W)
@group(0) @binding(2) var<storage, read_write> v: array<f32>;   // (P, C, Tpad)

const WG = 64u;
const MT = 2;    // output tile m
const P = 16u;   // transform positions (m + 2)²

fn ld(base: u32, iy: i32, ix: i32) -> f32 {
  let H = i32(params.H);
  let W = i32(params.W);
  let ok = iy >= 0 && iy < H && ix >= 0 && ix < W;
  return select(0.0, x[base + u32(clamp(iy, 0, H - 1) * W + clamp(ix, 0, W - 1))], ok);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let c = i / params.Tpad;
  let t = i % params.Tpad;
  let plane = params.C * params.Tpad;
  let o = c * params.Tpad + t;
  if (t >= params.T) {
    for (var p = 0u; p < P; p++) { v[p * plane + o] = 0.0; }
    return;
  }
  let per = params.TH * params.TW;
  let n = t / per;
  let r = t % per;
  let y0 = i32(r / params.TW) * MT - 1;
  let x0 = i32(r % params.TW) * MT - 1;
  let base = (n * params.C + c) * params.H * params.W;
  // #transform
}
