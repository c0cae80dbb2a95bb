// relu backward: dx(i) = dy(i) if y(i) > 0 else 0. Uses the forward output y (= relu(x)),
// which the model keeps anyway. Matches PyTorch's threshold_backward (grad 0 at 0).
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;         // (n)
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // (n)
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;  // (n)

const WG = 256u;

// #include "../common/elementwise.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    dx[i] = select(0.0, dy[i], y[i] > 0.0);
  }
}
