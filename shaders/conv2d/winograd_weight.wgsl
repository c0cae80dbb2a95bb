// Winograd F(m×m, 3×3) weight transform: U = G g Gᵀ for every (ch, col) 3×3 filter g, stored as
// u(p, ch, col), p = (m+2)·a + b, output channels fastest and padded to ColsPad (zeros): the layout
// the implicit-GEMM kernels read weights in (weight_t.wgsl), one block per image p.
// g(ky, kx) = w(col·wsc + ch·wsr + 3ky + kx); with flip (backward-input, which correlates dy with
// the filter rotated by 180°) g(ky, kx) = w(col·wsc + ch·wsr + 8 − 3ky − kx).
// The planner sets P and replaces the `#transform` line with straight-line code for G g Gᵀ.
struct Params { Cred: u32, Cols: u32, ColsPad: u32, wsc: u32, wsr: u32, flip: u32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;         // (K, C, 3, 3)
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;  // (P, Cred, ColsPad)

const WG = 64u;
const P = 16u;

fn tap(base: u32, k: u32) -> f32 {
  return w[base + select(k, 8u - k, params.flip != 0u)];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let col = i % params.ColsPad;
  let ch = i / params.ColsPad;
  let plane = params.Cred * params.ColsPad;
  if (col >= params.Cols) {
    for (var p = 0u; p < P; p++) { wt[p * plane + i] = 0.0; }
    return;
  }
  let base = col * params.wsc + ch * params.wsr;
  // #transform
}
