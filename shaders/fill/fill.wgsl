// fill: out(i) = value for every i. The value arrives as its 32-bit pattern, so one kernel
// fills f32, u32 and i32 tensors (zeroing gradients, resetting counters).
struct Params { n: u32, bits: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;  // (n)

const WG = 256u;

// #include "../common/elementwise.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    out[i] = params.bits;
  }
}
