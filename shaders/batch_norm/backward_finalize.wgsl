// batch_norm backward, pass 2 of 3: one workgroup per channel c sums the P chunk partials,
//   Σdy(c), Σdy·x̂(c);  dbias(c) += Σdy,  dweight(c) += Σdy·x̂  (parameter grads ACCUMULATE)
// and keeps both sums for the dx pass.
struct Params { P: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;       // (C, P, 2)
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;     // (C, 2)
@group(0) @binding(3) var<storage, read_write> dweight: array<f32>;  // (C)
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;    // (C)

const WG = 64u;
var<workgroup> red: array<vec2f, WG>;

// #include "../common/reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.x;
  let base = c * params.P * 2u;
  var acc = vec2f(0.0);
  for (var p = t; p < params.P; p += WG) { acc += vec2f(partials[base + p * 2u], partials[base + p * 2u + 1u]); }
  let r = reduce_sum2(&red, t, acc);
  if (t == 0u) {
    sums[c * 2u] = r.x;
    sums[c * 2u + 1u] = r.y;
    dbias[c] = dbias[c] + r.x;
    dweight[c] = dweight[c] + r.y;
  }
}
