// batch_norm train, pass 1 of 3: per-chunk statistics of each channel over (N, H, W).
// Workgroup (p, c) owns elements j in [p·chunk, min(M, (p+1)·chunk)) of channel c, where
// j = n·HW + s enumerates (n, s) and M = N·HW; it writes
//   partials(c, p) = (count, mean, M2),  M2 = Σ (x − mean)²
// with the corrected two-pass algorithm (Chan, Golub & LeVeque): a first sweep gives a mean m0,
// a second sums d = x − m0 and d²; then mean = m0 + Σd/count and M2 = Σd² − (Σd)²/count. The
// correction removes the rounding of m0 (which matters when |mean| >> std), and no
// E[x²] − E[x]² cancellation happens anywhere. The chunk's own data stays in cache between the
// sweeps. Chunks are combined exactly in forward_finalize.wgsl.
struct Params { C: u32, HW: u32, M: u32, chunk: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;               // (N, C, H, W)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;  // (C, P, 3)

const WG = 64u;
var<workgroup> red_mean: array<f32, WG>;
var<workgroup> red_m2: array<vec2f, WG>;

// #include "walk.wgsl"

// #include "../common/reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let p = wid.x;
  let c = wid.y;
  let begin = p * params.chunk;
  let end = min(params.M, begin + params.chunk);
  let count = f32(end - begin);
  var s = 0.0;
  var w = walk_start(begin + t);
  for (var j = begin + t; j < end; j += WG) {
    s += x[at(w, c)];
    walk_next(&w);
  }
  let m0 = reduce_sum(&red_mean, t, s) / count;
  var q = vec2f(0.0);
  w = walk_start(begin + t);
  for (var j = begin + t; j < end; j += WG) {
    let d = x[at(w, c)] - m0;
    walk_next(&w);
    q += vec2f(d, d * d);
  }
  let r = reduce_sum2(&red_m2, t, q);
  let mean = m0 + r.x / count;
  let m2 = max(r.y - r.x * r.x / count, 0.0);
  if (t == 0u) {
    let o = (c * nwg.x + p) * 3u;
    partials[o] = count;
    partials[o + 1u] = mean;
    partials[o + 2u] = m2;
  }
}
