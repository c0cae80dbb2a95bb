// Winograd F(m×m, 3×3) weight gradient, step 1 of 2, for the upstream gradient: the forward pass is
// y = Aᵀ (U ⊙ V) A per tile, so ∂L/∂(U ⊙ V) = A g Aᵀ for the tile's m×m upstream gradient g (zero
// outside the image). Stored as dm(p, k, t), p = (m+2)·a + b, t = (n, th, tw): T tiles, no padding.
// The planner sets MT and replaces the `#transform` line with straight-line code for A g Aᵀ.
struct Params { K: u32, OH: u32, OW: u32, TH: u32, TW: u32, T: u32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;         // (N, K, OH, OW)
@group(0) @binding(2) var<storage, read_write> dm: array<f32>;   // (P, K, T)

const WG = 64u;
const MT = 2u;

fn ld(base: u32, oy: u32, ox: u32) -> f32 {
  let ok = oy < params.OH && ox < params.OW;
  return select(0.0, dy[base + min(oy, params.OH - 1u) * params.OW + min(ox, params.OW - 1u)], ok);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let k = i / params.T;
  let t = i % params.T;
  let per = params.TH * params.TW;
  let n = t / per;
  let r = t % per;
  let y0 = (r / params.TW) * MT;
  let x0 = (r % params.TW) * MT;
  let base = (n * params.K + k) * params.OH * params.OW;
  let plane = params.K * params.T;
  // #transform
}
