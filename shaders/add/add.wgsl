// add: out(i) = a(i) + b(i), elementwise over any shape (residual joins).
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;          // (n)
@group(0) @binding(2) var<storage, read> b: array<f32>;          // (n)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (n)

const WG = 256u;

// #include "../common/elementwise.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    out[i] = a[i] + b[i];
  }
}
