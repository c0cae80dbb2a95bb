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

// Tree reduction over the workgroup into `buf`. Every reduction in a kernel gets its own
// workgroup array: reusing one right after reading its result races on Mesa llvmpipe (the read
// of buf[0] can land after the next reduction's first write despite the barrier between them),
// and with one array per reduction no location is ever written after it is read.
fn reduce_sum2(buf: ptr<workgroup, array<vec2f, WG>>, t: u32, v: vec2f) -> vec2f {
  (*buf)[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { (*buf)[t] += (*buf)[t + s]; }
    workgroupBarrier();
  }
  return (*buf)[0];
}

// Thread t visits j = begin + t, j + WG, ... ; (n, s) of j are tracked by adding WG = q·HW + r
// instead of dividing per element (integer division is scalarised and slow on CPU adapters).
struct Walk { n: u32, s: u32, q: u32, r: u32 }

fn walk_start(j: u32) -> Walk {
  let n = j / params.HW;
  let q = WG / params.HW;
  return Walk(n, j - n * params.HW, q, WG - q * params.HW);
}

fn walk_next(w: ptr<function, Walk>) {
  (*w).n += (*w).q;
  (*w).s += (*w).r;
  if ((*w).s >= params.HW) {
    (*w).s -= params.HW;
    (*w).n += 1u;
  }
}

fn at(w: Walk, c: u32) -> u32 {
  return (w.n * params.C + c) * params.HW + w.s;
}

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
