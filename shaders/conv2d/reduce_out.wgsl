// Split-K reduce for the implicit-GEMM passes:
//   out(i) = Σ_s part(s, i) + bias(col(i)) + (accumulate ? out(i) : 0),  col(i) = (i / (OH·OW)) mod Cols
// so the op keeps its overwrite-or-accumulate contract however the reduction was split.
struct Params { size: u32, splits: u32, Cols: u32, OHW: u32, hasBias: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;       // (splits, N, Cols, OH, OW)
@group(0) @binding(2) var<storage, read> bias: array<f32>;       // (Cols) or a 1-element dummy
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (N, Cols, OH, OW)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.size) { return; }
  var s = select(0.0, bias[(i / params.OHW) % params.Cols], params.hasBias != 0u);
  for (var k = 0u; k < params.splits; k++) { s += part[k * params.size + i]; }
  if (params.accumulate != 0u) { s += out[i]; }
  out[i] = s;
}
