// argmax over channels: out(n,y,x) = argmax_k logits(n,k,y,x). Ties go to the lowest k (strict
// '>' in ascending scan) and a NaN wins, as torch.argmax on CPU.
struct Params { N: u32, K: u32, HW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (N, K, H, W)
@group(0) @binding(2) var<storage, read_write> out: array<u32>;  // (N, H, W)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.N * params.HW) { return; }
  let n = i / params.HW;
  let s = i - n * params.HW;
  let base = n * params.K * params.HW + s;
  var best = logits[base];
  var arg = 0u;
  for (var k = 1u; k < params.K; k++) {
    let v = logits[base + k * params.HW];
    if (best == best && (v > best || v != v)) {
      best = v;
      arg = k;
    }
  }
  out[i] = arg;
}
