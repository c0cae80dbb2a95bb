// fill: out(i) = value for every i. The value arrives as its 32-bit pattern, so one kernel
// fills f32, u32 and i32 tensors (zeroing gradients, resetting counters).
struct Params { n: u32, bits: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;  // (n)

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
    out[i] = params.bits;
  }
}
