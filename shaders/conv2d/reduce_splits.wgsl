// Split-K reduce: dw(i) += Σ_s part(s, i). Accumulates, as parameter gradients do (or, with
// overwrite, dw(i) = Σ_s part(s, i): Winograd's transformed gradient, a scratch value).
struct Params { size: u32, splits: u32, overwrite: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;       // (splits, size)
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;   // (size)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.size) { return; }
  var s = 0.0;
  for (var k = 0u; k < params.splits; k++) { s += part[k * params.size + i]; }
  dw[i] = s + select(dw[i], 0.0, params.overwrite != 0u);
}
