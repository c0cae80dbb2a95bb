// Softmax cross-entropy over the channel dim, per pixel, pass 1 of 2 (or 3):
//   lse(n,s) = m + log Σ_k exp(logits(n,k,s) − m),  m = max_k logits(n,k,s)   (stable)
//   loss(n,s) = lse(n,s) − logits(n, label(n,s), s), 0 where the pixel is ignored
// A pixel is ignored when its label is ignore_index or any other label >= K (the latter also
// counts as bad so the host can raise; it is never used to index logits).
// Workgroup (p, n) takes pixels [p·WG, (p+1)·WG) of image n and writes
//   partials(n, p) = (Σ loss, valid pixels, bad labels).
// `forward_backward` also writes the gradient, OVERWRITING dlogits:
//   dlogits(n,k,s) = (softmax_k − [k == label])·grad_scale, 0 at ignored pixels,
// grad_scale = 1/(H·W) for reduction 'sum' (final) or 1 for 'mean' (scale.wgsl divides by the
// valid count once it is known).
struct Params { K: u32, HW: u32, ignore_index: u32, grad_scale: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // (N, K, H, W)
@group(0) @binding(2) var<storage, read> labels: array<u32>;          // (N, H, W)
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;  // (N, P, 3)
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;   // (N, K, H, W)

const WG = 256u;
var<workgroup> red: array<vec3f, WG>;

// #include "../common/reduce.wgsl"

struct Pixel { base: u32, label: u32, valid: bool, lse: f32, loss: f32, bad: f32 }

fn pixel(n: u32, s: u32, in_image: bool) -> Pixel {
  var px: Pixel;
  px.base = n * params.K * params.HW + s;
  px.valid = false;
  px.loss = 0.0;
  px.bad = 0.0;
  if (!in_image) { return px; }
  px.label = labels[n * params.HW + s];
  px.valid = px.label < params.K;
  if (!px.valid) {
    px.bad = select(1.0, 0.0, px.label == params.ignore_index);
    return px;
  }
  var m = logits[px.base];
  for (var k = 1u; k < params.K; k++) { m = max(m, logits[px.base + k * params.HW]); }
  var e = 0.0;
  for (var k = 0u; k < params.K; k++) { e += exp(logits[px.base + k * params.HW] - m); }
  px.lse = m + log(e);
  px.loss = px.lse - logits[px.base + px.label * params.HW];
  return px;
}

fn write_partials(n: u32, p: u32, P: u32, t: u32, px: Pixel) {
  let r = reduce_sum3(&red, t, vec3f(px.loss, select(0.0, 1.0, px.valid), px.bad));
  if (t == 0u) {
    let o = (n * P + p) * 3u;
    partials[o] = r.x;
    partials[o + 1u] = r.y;
    partials[o + 2u] = r.z;
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32,
           @builtin(num_workgroups) nwg: vec3u) {
  let s = wid.x * WG + t;
  let px = pixel(wid.y, s, s < params.HW);
  write_partials(wid.y, wid.x, nwg.x, t, px);
}

@compute @workgroup_size(WG)
fn forward_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32,
                    @builtin(num_workgroups) nwg: vec3u) {
  let s = wid.x * WG + t;
  let in_image = s < params.HW;
  let px = pixel(wid.y, s, in_image);
  if (in_image) {
    for (var k = 0u; k < params.K; k++) {
      let i = px.base + k * params.HW;
      var g = 0.0;
      if (px.valid) { g = (exp(logits[i] - px.lse) - select(0.0, 1.0, k == px.label)) * params.grad_scale; }
      dlogits[i] = g;
    }
  }
  write_partials(wid.y, wid.x, nwg.x, t, px);
}
