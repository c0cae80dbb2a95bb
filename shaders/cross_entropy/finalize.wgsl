// Cross-entropy, pass 2: one workgroup turns the per-chunk partials into
//   losses(n) = Σ_s loss(n,s) / (H·W)      (mean over ALL pixels, ignored ones count as 0:
//                                          F.cross_entropy(reduction='none').mean(1).mean(1))
//   stats = [mean_loss, valid, bad, sum_loss] where
//     mean_loss = Σ_{n,s} loss(n,s) / valid   (F.cross_entropy(ignore_index=255), NaN if none valid)
//     sum_loss  = Σ_n losses(n)                (the chapter's loss.sum())
// Thread t sums the partials of images t, t+WG, ... (P is small: H·W/256), then one tree
// reduction forms the batch totals. stats(0) and stats(3) hold f32 bit patterns, stats(1) and
// stats(2) are u32 counts.
struct Params { N: u32, P: u32, HW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;      // (N, P, 3)
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;  // (N)
@group(0) @binding(3) var<storage, read_write> stats: array<u32>;   // (4)

const WG = 256u;
var<workgroup> red: array<vec4f, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  // (Σ loss, valid, bad, Σ losses(n)); per-image counts are at most H·W < 2^24, exact in f32,
  // and batch totals stay below 2^24 for the shapes the callers check.
  var acc = vec4f(0.0);
  for (var n = t; n < params.N; n += WG) {
    var img = vec3f(0.0);
    for (var p = 0u; p < params.P; p++) {
      let o = (n * params.P + p) * 3u;
      img += vec3f(partials[o], partials[o + 1u], partials[o + 2u]);
    }
    let l = img.x / f32(params.HW);
    losses[n] = l;
    acc += vec4f(img, l);
  }
  red[t] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    let r = red[0];
    let valid = u32(r.y);
    stats[0] = select(0x7fc00000u, bitcast<u32>(r.x / r.y), valid > 0u);  // NaN as PyTorch when none is valid
    stats[1] = valid;
    stats[2] = u32(r.z);
    stats[3] = bitcast<u32>(r.w);
  }
}
