// Weight reorder for the implicit-GEMM kernels: wt(ky, kx, ch, col) = w(col·wsc + ch·wsr + ky·kw + kx),
// zero for col ≥ Cols. With the output channel fastest (padded to a multiple of 4), the GEMM's
// B operand is read as vec4s along output channels, and a tile of it is one contiguous run.
// Forward: w (K, C, kh, kw), col = k, ch = c. Backward-input: col = c, ch = k.
struct Params { Cred: u32, Cols: u32, ColsPad: u32, taps: u32, wsc: u32, wsr: u32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;         // (K, C, kh, kw)
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;  // (kh·kw, Cred, ColsPad)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let col = i % params.ColsPad;
  let rest = i / params.ColsPad;
  let ch = rest % params.Cred;
  let tap = rest / params.Cred;
  wt[i] = select(0.0, w[min(col, params.Cols - 1u) * params.wsc + ch * params.wsr + tap], col < params.Cols);
}
