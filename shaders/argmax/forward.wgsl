// argmax over channels: out(n,y,x) = argmax_k logits(n,k,y,x). Ties go to the lowest k (strict
// '>' in ascending scan) and a NaN wins, as torch.argmax on CPU. Workgroup (b, n) takes pixels
// [b·WG, (b+1)·WG) of image n (no per-pixel division).
struct Params { K: u32, HW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (N, K, H, W)
@group(0) @binding(2) var<storage, read_write> out: array<u32>;  // (N, H, W)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let s = wid.x * WG + t;
  if (s >= params.HW) { return; }
  let n = wid.y;
  let i = n * params.HW + s;
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
