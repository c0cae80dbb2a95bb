// relu forward: y(i) = max(x(i), 0), elementwise over any shape.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (n)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (n)

const WG = 256u;
// ITEMS elements per invocation, grid-stride (elementwiseGrid in kernel.ts): neighbouring
// invocations still touch neighbouring elements, and there are ITEMS times fewer of them.
const ITEMS = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i0 = gid.x + gid.y * nwg.x * WG;
  let stride = nwg.x * nwg.y * WG;
  for (var k = 0u; k < ITEMS; k++) {
    let i = i0 + k * stride;
    if (i >= params.n) { return; }
    y[i] = max(x[i], 0.0);
  }
}
