// Softmax over channels, cropped: probs(n, k, y, x) = exp(l_k − m) / Σ_j exp(l_j − m), with
// l_j = logits(n, j, y, x) and m = max_j l_j, for y < H, x < W of logits (N, K, TH, TW) (a plan
// padded to TH × TW). Subtracting the max keeps every exp ≤ 1 (no overflow for any finite logit).
// One invocation per pixel, two passes over K ≤ 256 (well inside llvmpipe's 65,535-iteration cap).
struct Params { N: u32, K: u32, H: u32, W: u32, TH: u32, TW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (N, K, TH, TW)
@group(0) @binding(2) var<storage, read_write> probs: array<f32>; // (N, K, H, W)

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * WG;
  let hw = params.H * params.W;
  if (j >= params.N * hw) { return; }
  let n = j / hw;
  let s = j % hw;
  let plane = params.TH * params.TW;
  let src = n * params.K * plane + (s / params.W) * params.TW + s % params.W;
  let dst = n * params.K * hw + s;
  var m = logits[src];
  for (var k = 1u; k < params.K; k++) { m = max(m, logits[src + k * plane]); }
  var sum = 0.0;
  for (var k = 0u; k < params.K; k++) {
    let e = exp(logits[src + k * plane] - m);
    probs[dst + k * hw] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var k = 0u; k < params.K; k++) { probs[dst + k * hw] *= inv; }
}
