// Winograd F(m×m, 3×3) weight gradient, step 2 of 2: with U = G g Gᵀ, the filter's gradient is
// ∂L/∂g = Gᵀ (∂L/∂U) G, where ∂L/∂U(p, k, c) = Σ_t ∂L/∂(U ⊙ V)(p, k, t) · V(p, c, t) is the batched
// GEMM before this pass (backward_weight.wgsl over the P positions). Accumulates into dw (K, C, 3, 3), as
// parameter gradients do. The planner replaces the `#transform` line with straight-line code.
struct Params { KC: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> du: array<f32>;          // (P, K, C)
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;    // (K, C, 3, 3)

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.KC) { return; }
  let o = i * 9u;
  // #transform
}
