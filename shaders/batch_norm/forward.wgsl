// batch_norm normalisation, elementwise over (N, C, H, W):
//   train: y = (x − mean(c))·invstd(c)·weight(c) + bias(c)         (batch statistics from pass 2)
//   eval:  y = (x − running_mean(c))/sqrt(running_var(c) + eps)·weight(c) + bias(c)
struct Params { n: u32, C: u32, HW: u32, eps: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (N, C, H, W)
@group(0) @binding(2) var<storage, read> weight: array<f32>;        // (C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;          // (C)
@group(0) @binding(4) var<storage, read> mean: array<f32>;          // (C) saved batch mean
@group(0) @binding(5) var<storage, read> invstd: array<f32>;        // (C) saved batch invstd
@group(0) @binding(6) var<storage, read> running_mean: array<f32>;  // (C)
@group(0) @binding(7) var<storage, read> running_var: array<f32>;   // (C)
@group(0) @binding(8) var<storage, read_write> y: array<f32>;       // (N, C, H, W)

const WG = 256u;

@compute @workgroup_size(WG)
fn normalize_train(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  y[i] = (x[i] - mean[c]) * invstd[c] * weight[c] + bias[c];
}

@compute @workgroup_size(WG)
fn normalize_eval(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  y[i] = (x[i] - running_mean[c]) / sqrt(running_var[c] + params.eps) * weight[c] + bias[c];
}
