// max_pool2d forward (PyTorch semantics, ceil_mode false, dilation 1):
//   y(n,c,oy,ox) = max over ky,kx < k of x(n,c, oy·S+ky−P, ox·S+kx−P), padding counting as −inf;
//   indices(n,c,oy,ox) = (iy·W + ix) of the winner within its (H, W) plane.
// The scan is row-major and only a strictly larger value (or a NaN) replaces the current one,
// so ties keep the first maximum in scan order and NaN propagates, as PyTorch's CPU kernel.
// PyTorch starts from −inf with the index of the window's first in-bounds element (every window
// has one because P <= k/2); starting from that element's value selects the same winner.
struct Params { NC: u32, H: u32, W: u32, OH: u32, OW: u32, k: u32, stride: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (N, C, H, W)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;        // (N, C, OH, OW)
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;  // (N, C, OH, OW)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let ohw = params.OH * params.OW;
  if (i >= params.NC * ohw) { return; }
  let plane = i / ohw;
  let o = i - plane * ohw;
  let oy = o / params.OW;
  let ox = o - oy * params.OW;
  let y0 = i32(oy * params.stride) - i32(params.pad);
  let x0 = i32(ox * params.stride) - i32(params.pad);
  let y1 = min(y0 + i32(params.k), i32(params.H));
  let x1 = min(x0 + i32(params.k), i32(params.W));
  let ys = max(y0, 0);
  let xs = max(x0, 0);
  let base = plane * params.H * params.W;
  var arg = u32(ys) * params.W + u32(xs);
  var best = x[base + arg];
  for (var iy = ys; iy < y1; iy++) {
    for (var ix = xs; ix < x1; ix++) {
      let j = u32(iy) * params.W + u32(ix);
      let v = x[base + j];
      if (v > best || v != v) {
        best = v;
        arg = j;
      }
    }
  }
  y[i] = best;
  indices[i] = arg;
}
