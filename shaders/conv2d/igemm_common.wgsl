// What the two implicit-GEMM kernels (igemm_reg.wgsl, igemm_tiled.wgsl) share: the uniform
// block and the per-axis index maps of a phase class. The includer declares `override BWD`.
struct Params {
  N: u32, Cred: u32, IH: u32, IW: u32,      // input (N, Cred, IH, IW): x, or dy when BWD
  Cols: u32, OH: u32, OW: u32,              // output (N, Cols, OH, OW): y, or dx when BWD
  SH: i32, SW: i32, PH: i32, PW: i32, KH: i32, KW: i32,  // the convolution's stride, padding, kernel
  mGroups: u32, cGroups: u32, groups: u32,  // folded grid: m-groups × col-groups × phase classes × splits
  hasBias: u32, accumulate: u32,
  phases: u32, tyPer: i32, partial: u32, outSize: u32,  // split-K (igemm_reg.wgsl)
  tySplits: u32, chPer: u32,
  wImage: u32,  // weights per image n (Winograd: one filter block per transform position), else 0
}

// One axis (rows or columns of the image) of one phase class.
struct Axis { i0: i32, is: i32, it: i32, k0: i32, ks: i32, o0: i32, os: i32, U: i32, T: i32 }

fn axis(phase: i32, S: i32, P: i32, K: i32, inSize: i32, outSize: i32) -> Axis {
  if (!BWD) {
    // input = u·S − P + t, tap = t, output = u
    return Axis(-P, S, 1, 0, 1, 0, 1, outSize, K);
  }
  let o0 = ((phase - P) % S + S) % S;                 // first output coordinate of this class
  let ai = (o0 + P - phase) / S;                      // exact: o0 + P ≡ phase (mod S)
  let T = select(0, (K - phase + S - 1) / S, phase < K);
  let U = select(0, (outSize - o0 + S - 1) / S, o0 < outSize);
  return Axis(ai, 1, -1, phase, S, o0, S, U, T);
}
