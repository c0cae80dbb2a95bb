// relu forward: y(i) = max(x(i), 0), elementwise over any shape.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (n)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (n)

const WG = 256u;

// #include "../common/elementwise.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    y[i] = max(x[i], 0.0);
  }
}
