// Plain matmul, workgroup-memory tiled + register-blocked: C(m,n) = Σ_k A(m,k) · B(k,n).
// A 16×16 workgroup computes a 64×64 tile of C from 64×16 / 16×64 tiles of A and B staged in
// workgroup memory; each thread owns rows tx+16i and cols ty+16j (4×4).
struct Params { M: u32, N: u32, K: u32, nBlocks: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // (M, K)
@group(0) @binding(2) var<storage, read> b: array<f32>;        // (K, N)
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // (M, N)

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, BK * BM>;  // [k][m]
var<workgroup> Bs: array<f32, BK * BN>;  // [k][n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let mTiles = (params.M + BM - 1u) / BM;
  if (g >= mTiles * params.nBlocks) { return; }
  let m0 = (g % mTiles) * BM;
  let n0 = (g / mTiles) * BN;
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += BK) {
    for (var q = 0u; q < 4u; q++) {
      let e = lid + 256u * q;
      // A tile: m fastest within a k row of the tile, read along k from global memory.
      let am = e / BK; let ak = e % BK;
      let gm = m0 + am; let gk = k0 + ak;
      As[ak * BM + am] = select(0.0, a[min(gm, params.M - 1u) * params.K + min(gk, params.K - 1u)], gm < params.M && gk < params.K);
      let bk = e / BN; let bn = e % BN;
      let hk = k0 + bk; let hn = n0 + bn;
      Bs[bk * BN + bn] = select(0.0, b[min(hk, params.K - 1u) * params.N + min(hn, params.N - 1u)], hk < params.K && hn < params.N);
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var av: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = As[k * BM + tx + 16u * i]; }
      for (var j = 0u; j < 4u; j++) {
        let bv = Bs[k * BN + ty + 16u * j];
        for (var i = 0u; i < 4u; i++) { acc[i][j] = fma(av[i], bv, acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + tx + 16u * i;
    if (m >= params.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + ty + 16u * j;
      if (n < params.N) { c[m * params.N + n] = acc[i][j]; }
    }
  }
}
