// max_pool2d forward (PyTorch semantics, ceil_mode false, dilation 1):
//   y(n,c,oy,ox) = max over ky,kx < k of x(n,c, oy·S+ky−P, ox·S+kx−P), padding counting as −inf;
//   indices(n,c,oy,ox) = (iy·W + ix) of the winner within its (H, W) plane.
// The scan is row-major and only a strictly larger value (or a NaN) replaces the current one,
// so ties keep the first maximum in scan order and NaN propagates, as PyTorch's CPU kernel.
// PyTorch starts from −inf with the index of the window's first in-bounds element (every window
// has one because P <= k/2); starting from that element's value selects the same winner.
// Workgroup (bx, by, plane), plane = n·C + c, covers ROWS output rows of WG columns: coordinates
// come from the grid (no run-time division; k, S, P are pipeline constants) and workgroups are
// few and large (launches are costly on CPU adapters).
override K: u32;
override S: u32;
override P: u32;

struct Params { H: u32, W: u32, OH: u32, OW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (N, C, H, W)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;        // (N, C, OH, OW)
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;  // (N, C, OH, OW)

const WG = 64u;
const ROWS = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let ox = wid.x * WG + t;
  if (ox >= params.OW) { return; }
  for (var r = 0u; r < ROWS; r++) {
    let oy = wid.y * ROWS + r;
    if (oy < params.OH) { pool(oy, ox, wid.z); }
  }
}

fn pool(oy: u32, ox: u32, plane: u32) {
  let y0 = i32(oy * S) - i32(P);
  let x0 = i32(ox * S) - i32(P);
  let y1 = min(y0 + i32(K), i32(params.H));
  let x1 = min(x0 + i32(K), i32(params.W));
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
  let o = (plane * params.OH + oy) * params.OW + ox;
  y[o] = best;
  indices[o] = arg;
}
