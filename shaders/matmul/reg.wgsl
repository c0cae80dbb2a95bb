// Plain matmul, register-blocked, no workgroup memory: C(m,n) = Σ_k A(m,k) · B(k,n).
// The speed baseline for the convolution kernels. Each thread owns a 4×4 block of C, reads A
// and B as vec4 (M, N, K multiples of 4) and does 64 multiply-adds per 8 vector loads.
struct Params { M: u32, N: u32, K: u32, nBlocks: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;        // (M, K)
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;        // (K, N)
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;  // (M, N)

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  let mBlocks = params.M / 4u;
  if (id >= mBlocks * params.nBlocks) { return; }
  // Neighbouring invocations take neighbouring column blocks: their B loads are contiguous.
  let nb = id % params.nBlocks;
  let mb = id / params.nBlocks;
  let K4 = params.K / 4u;
  let N4 = params.N / 4u;
  var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); var acc2 = vec4<f32>(); var acc3 = vec4<f32>();
  let ar = mb * 4u * K4;
  for (var k4 = 0u; k4 < K4; k4++) {
    let a0 = a[ar + k4]; let a1 = a[ar + K4 + k4]; let a2 = a[ar + 2u * K4 + k4]; let a3 = a[ar + 3u * K4 + k4];
    let bb = k4 * 4u * N4 + nb;
    let b0 = b[bb]; let b1 = b[bb + N4]; let b2 = b[bb + 2u * N4]; let b3 = b[bb + 3u * N4];
    acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
  }
  let cr = mb * 4u * N4 + nb;
  c[cr] = acc0; c[cr + N4] = acc1; c[cr + 2u * N4] = acc2; c[cr + 3u * N4] = acc3;
}
