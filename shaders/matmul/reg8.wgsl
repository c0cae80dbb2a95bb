// Plain matmul, register-blocked 8×8, no workgroup memory: C(m,n) = Σ_k A(m,k) · B(k,n).
// Each thread owns 8 rows × 8 columns of C (16 vec4 sums), reads 8 vec4s of A (4 k each) and
// 8 vec4s of B per step: 256 multiply-adds per 16 vector loads. M, N multiples of 8, K of 4.
// Lines ending in `// each ...` are repeated by the planner for every index value (the sums
// are plain variables, not an array a compiler might keep in memory).
struct Params { M: u32, N: u32, K: u32, nBlocks: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;        // (M, K)
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;        // (K, N)
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;  // (M, N)

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= params.M / 8u * params.nBlocks) { return; }
  let nb = id % params.nBlocks;
  let mb = id / params.nBlocks;
  let K4 = params.K / 4u;
  let N4 = params.N / 4u;
  let ar = mb * 8u * K4;
  var acc_{i}_{j} = vec4<f32>();  // each i<8 j<2
  for (var k4 = 0u; k4 < K4; k4++) {
    let a_{i} = a[ar + {i}u * K4 + k4];  // each i<8
    let b_{c}_{j} = b[(k4 * 4u + {c}u) * N4 + nb * 2u + {j}u];  // each c<4 j<2
    acc_{i}_{j} += a_{i}[{c}] * b_{c}_{j};  // each i<8 j<2 c<4
  }
  c[(mb * 8u + {i}u) * N4 + nb * 2u + {j}u] = acc_{i}_{j};  // each i<8 j<2
}
