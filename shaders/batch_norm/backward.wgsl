// batch_norm backward, pass 3 of 3 (training-mode statistics), elementwise; dx is OVERWRITTEN:
//   dx = weight(c)·invstd(c)·(dy − Σdy(c)/M − x̂·Σdy·x̂(c)/M),  x̂ = (x − mean(c))·invstd(c),
// M = N·H·W: the gradient through the batch mean and biased variance, as PyTorch's
// batch_norm_backward with train=True.
struct Params { n: u32, C: u32, HW: u32, M: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (N, C, H, W)
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // (N, C, H, W)
@group(0) @binding(3) var<storage, read> weight: array<f32>;   // (C)
@group(0) @binding(4) var<storage, read> mean: array<f32>;     // (C)
@group(0) @binding(5) var<storage, read> invstd: array<f32>;   // (C)
@group(0) @binding(6) var<storage, read> sums: array<f32>;     // (C, 2): Σdy, Σdy·x̂
@group(0) @binding(7) var<storage, read_write> dx: array<f32>; // (N, C, H, W)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  let istd = invstd[c];
  let inv_m = 1.0 / f32(params.M);
  let xhat = (x[i] - mean[c]) * istd;
  dx[i] = weight[c] * istd * (dy[i] - sums[c * 2u] * inv_m - xhat * sums[c * 2u + 1u] * inv_m);
}
