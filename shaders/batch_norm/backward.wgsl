// batch_norm backward, pass 3 of 3 (training-mode statistics), elementwise; dx is OVERWRITTEN:
//   dx = weight(c)·invstd(c)·(dy − Σdy(c)/M − x̂·Σdy·x̂(c)/M),  x̂ = (x − mean(c))·invstd(c),
// M = N·H·W: the gradient through the batch mean and biased variance, as PyTorch's
// batch_norm_backward with train=True. Grid as forward.wgsl: workgroup (b, c, n), `items`
// elements of plane (n, c) per thread, no per-element division.
struct Params { C: u32, HW: u32, items: u32, M: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (N, C, H, W)
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // (N, C, H, W)
@group(0) @binding(3) var<storage, read> weight: array<f32>;   // (C)
@group(0) @binding(4) var<storage, read> mean: array<f32>;     // (C)
@group(0) @binding(5) var<storage, read> invstd: array<f32>;   // (C)
@group(0) @binding(6) var<storage, read> sums: array<f32>;     // (C, 2): Σdy, Σdy·x̂
@group(0) @binding(7) var<storage, read_write> dx: array<f32>; // (N, C, H, W)

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.y;
  let base = (wid.z * params.C + c) * params.HW;
  let istd = invstd[c];
  let mu = mean[c];
  let inv_m = 1.0 / f32(params.M);
  let mean_dy = sums[c * 2u] * inv_m;
  let mean_dyx = sums[c * 2u + 1u] * inv_m;
  let g = weight[c] * istd;
  let s0 = wid.x * WG * params.items + t;
  for (var k = 0u; k < params.items; k++) {
    let s = s0 + k * WG;
    if (s < params.HW) {
      let i = base + s;
      let xhat = (x[i] - mu) * istd;
      dx[i] = g * (dy[i] - mean_dy - xhat * mean_dyx);
    }
  }
}
