// SGD step over a flat parameter arena, PyTorch's torch.optim.SGD (dampening 0):
//   d = g + wd·p
//   momentum:  buf = μ·buf + d            (buf starts at 0: the same as PyTorch's first-step clone)
//              d = nesterov ? d + μ·buf : buf
//   p = p − lr·d
// lr lives in the uniform so a schedule rewrites it each step without replanning.
struct Params { n: u32, lr: f32, weight_decay: f32, momentum: f32, nesterov: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;    // (n) parameters
@group(0) @binding(2) var<storage, read> g: array<f32>;          // (n) gradients
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;  // (n) momentum buffer

const WG = 256u;

// #include "../common/elementwise.wgsl"

@compute @workgroup_size(WG)
fn with_momentum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    let w = p[i];
    var d = g[i] + params.weight_decay * w;
    let b = params.momentum * buf[i] + d;
    buf[i] = b;
    if (params.nesterov != 0u) { d = d + params.momentum * b; } else { d = b; }
    p[i] = w - params.lr * d;
  }
}

@compute @workgroup_size(WG)
fn plain(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var k = 0u; k < ITEMS; k++) {
    let i = element(gid, nwg, k);
    if (i >= params.n) { return; }
    let w = p[i];
    let d = g[i] + params.weight_decay * w;
    p[i] = w - params.lr * d;
  }
}
