// batch_norm train, pass 2 of 3: one workgroup per channel c combines the P chunk statistics
// (count_p, mean_p, M2_p) exactly (Chan et al.'s pairwise formula, summed over all chunks):
//   mean = mean_0 + Σ count_p·(mean_p − mean_0) / M     (shifted by chunk 0's mean: exact terms)
//   M2   = Σ [M2_p + count_p·(mean_p − mean)²]
//   saved mean(c) = mean, invstd(c) = 1/sqrt(M2/M + eps)            (biased variance normalises)
//   running_mean(c) = (1−m)·running_mean(c) + m·mean
//   running_var(c)  = (1−m)·running_var(c)  + m·M2/(M−1)           (unbiased, as PyTorch)
struct Params { P: u32, M: u32, eps: f32, momentum: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;            // (C, P, 3)
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;          // (C)
@group(0) @binding(3) var<storage, read_write> invstd: array<f32>;        // (C)
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;  // (C)
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;   // (C)

const WG = 64u;
var<workgroup> red_mean: array<f32, WG>;
var<workgroup> red_m2: array<f32, WG>;

// #include "../common/reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.x;
  let base = c * params.P * 3u;
  let M = f32(params.M);
  let ref_mean = partials[base + 1u];
  var s = 0.0;
  for (var p = t; p < params.P; p += WG) { s += partials[base + p * 3u] * (partials[base + p * 3u + 1u] - ref_mean); }
  let mu = ref_mean + reduce_sum(&red_mean, t, s) / M;
  var q = 0.0;
  for (var p = t; p < params.P; p += WG) {
    let o = base + p * 3u;
    let d = partials[o + 1u] - mu;
    q += partials[o + 2u] + partials[o] * d * d;
  }
  let m2 = reduce_sum(&red_m2, t, q);
  if (t == 0u) {
    let m = params.momentum;
    mean[c] = mu;
    invstd[c] = 1.0 / sqrt(m2 / M + params.eps);
    running_mean[c] = (1.0 - m) * running_mean[c] + m * mu;
    running_var[c] = (1.0 - m) * running_var[c] + m * (m2 / (M - 1.0));
  }
}
