// batch_norm backward, pass 1 of 3: per-chunk sums of each channel over (N, H, W), with the
// same (p, c) chunking as forward_stats.wgsl:
//   partials(c, p) = (Σ dy, Σ dy·x̂),  x̂ = (x − mean(c))·invstd(c)
struct Params { C: u32, HW: u32, M: u32, chunk: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;               // (N, C, H, W)
@group(0) @binding(2) var<storage, read> dy: array<f32>;              // (N, C, H, W)
@group(0) @binding(3) var<storage, read> mean: array<f32>;            // (C)
@group(0) @binding(4) var<storage, read> invstd: array<f32>;          // (C)
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;  // (C, P, 2)

const WG = 64u;
var<workgroup> red: array<vec2f, WG>;

// #include "walk.wgsl"

// #include "../common/reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32,
        @builtin(num_workgroups) nwg: vec3u) {
  let p = wid.x;
  let c = wid.y;
  let begin = p * params.chunk;
  let end = min(params.M, begin + params.chunk);
  let mu = mean[c];
  let istd = invstd[c];
  var acc = vec2f(0.0);
  var w = walk_start(begin + t);
  for (var j = begin + t; j < end; j += WG) {
    let i = at(w, c);
    walk_next(&w);
    let g = dy[i];
    acc += vec2f(g, g * (x[i] - mu) * istd);
  }
  let r = reduce_sum2(&red, t, acc);
  if (t == 0u) {
    let o = (c * nwg.x + p) * 2u;
    partials[o] = r.x;
    partials[o + 1u] = r.y;
  }
}
