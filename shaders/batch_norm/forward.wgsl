// batch_norm normalisation, elementwise over (N, C, H, W):
//   train: y = (x − mean(c))·(invstd(c)·weight(c)) + bias(c)         (batch statistics, pass 2)
//   eval:  y = (x − running_mean(c))·(weight(c)/sqrt(running_var(c) + eps)) + bias(c)
// Workgroup (b, c, n) covers s in [b·WG·items, (b+1)·WG·items) of plane (n, c): the channel comes
// from the grid, so no thread divides by H·W (slow on CPU adapters), and the per-channel factor
// is computed once per thread for `items` elements.
struct Params { C: u32, HW: u32, items: u32, eps: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (N, C, H, W)
@group(0) @binding(2) var<storage, read> weight: array<f32>;        // (C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;          // (C)
@group(0) @binding(4) var<storage, read> mean: array<f32>;          // (C) saved batch mean
@group(0) @binding(5) var<storage, read> invstd: array<f32>;        // (C) saved batch invstd
@group(0) @binding(6) var<storage, read> running_mean: array<f32>;  // (C)
@group(0) @binding(7) var<storage, read> running_var: array<f32>;   // (C)
@group(0) @binding(8) var<storage, read_write> y: array<f32>;       // (N, C, H, W)

const WG = 64u;

fn apply(wid: vec3u, t: u32, mu: f32, scale: f32, shift: f32) {
  let base = (wid.z * params.C + wid.y) * params.HW;
  let s0 = wid.x * WG * params.items + t;
  for (var k = 0u; k < params.items; k++) {
    let s = s0 + k * WG;
    if (s < params.HW) { y[base + s] = (x[base + s] - mu) * scale + shift; }
  }
}

@compute @workgroup_size(WG)
fn normalize_train(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.y;
  apply(wid, t, mean[c], invstd[c] * weight[c], bias[c]);
}

@compute @workgroup_size(WG)
fn normalize_eval(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.y;
  apply(wid, t, running_mean[c], weight[c] / sqrt(running_var[c] + params.eps), bias[c]);
}
