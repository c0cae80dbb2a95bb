// Bias gradient: db(c) += Σ_{n,p} g(n,c,p) over batch and pixels; accumulates. One workgroup
// per channel: each thread sums a strided share, then a tree reduction in workgroup memory.
struct Params { N: u32, C: u32, HW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;          // (N, C, H, W)
@group(0) @binding(2) var<storage, read_write> db: array<f32>;   // (C)

const WG = 256u;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  let inRange = c < params.C;
  var s = 0.0;
  if (inRange) {
    for (var n = 0u; n < params.N; n++) {
      let base = (n * params.C + c) * params.HW;
      for (var p = lid; p < params.HW; p += WG) { s += g[base + p]; }
    }
  }
  part[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u && inRange) { db[c] += part[0]; }
}
