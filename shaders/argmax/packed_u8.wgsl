// argmax over channels into packed u8 class ids: ids(n, y, x) = argmax_k logits(n, k, y, x) for
// y < H, x < W of logits (N, K, TH, TW) (a plan padded to TH × TW), four consecutive ids of the
// flattened (N, H, W) map per u32, lowest byte first — a Uint8Array (N, H, W) once read back, a
// quarter of the u32 map's bytes. Needs K ≤ 256. Ties and NaN as forward.wgsl.
struct Params { N: u32, K: u32, H: u32, W: u32, TH: u32, TW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (N, K, TH, TW)
@group(0) @binding(2) var<storage, read_write> out: array<u32>;  // (ceil(N·H·W / 4))

const WG = 64u;

fn classOf(j: u32) -> u32 {
  let hw = params.H * params.W;
  let n = j / hw;
  let s = j % hw;
  let plane = params.TH * params.TW;
  let base = n * params.K * plane + (s / params.W) * params.TW + s % params.W;
  var best = logits[base];
  var arg = 0u;
  for (var k = 1u; k < params.K; k++) {
    let v = logits[base + k * plane];
    if (best == best && (v > best || v != v)) {
      best = v;
      arg = k;
    }
  }
  return arg;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  let total = params.N * params.H * params.W;
  if (4u * t >= total) { return; }
  var word = 0u;
  for (var b = 0u; b < 4u; b++) {
    let j = 4u * t + b;
    if (j < total) { word |= classOf(j) << (8u * b); }
  }
  out[t] = word;
}
