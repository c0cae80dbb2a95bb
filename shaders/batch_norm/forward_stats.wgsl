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

// Tree reduction over the workgroup into `buf`. Every reduction in a kernel gets its own
// workgroup array: reusing one right after reading its result races on Mesa llvmpipe (the read
// of buf[0] can land after the next reduction's first write despite the barrier between them),
// and with one array per reduction no location is ever written after it is read.
fn reduce_sum(buf: ptr<workgroup, array<f32, WG>>, t: u32, v: f32) -> f32 {
  (*buf)[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { (*buf)[t] += (*buf)[t + s]; }
    workgroupBarrier();
  }
  return (*buf)[0];
}

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
