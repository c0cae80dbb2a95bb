// max_pool2d backward as a gather (no float atomics): every input element sums the upstream
// gradients of the windows that chose it,
//   dx(n,c,iy,ix) = Σ dy(n,c,oy,ox) over oy·S−P <= iy < oy·S−P+k, ox likewise,
//                   where indices(n,c,oy,ox) == iy·W + ix.
// Windows are visited in ascending (oy, ox), the order PyTorch's CPU scatter adds in.
// dx is OVERWRITTEN. Workgroup (bx, by, plane) covers ROWS rows of WG columns (few, large
// workgroups: launches are costly on CPU adapters); k, S, P are pipeline constants, so the
// divisions by S below are by a compile-time constant.
override K: u32;
override S: u32;
override P: u32;
// At most ceil(k/S) windows cover a coordinate: fixed trip counts the compiler can unroll.
override SPAN: u32 = (K + S - 1u) / S;

struct Params { H: u32, W: u32, OH: u32, OW: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;         // (N, C, OH, OW)
@group(0) @binding(2) var<storage, read> indices: array<u32>;    // (N, C, OH, OW)
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;   // (N, C, H, W)

const WG = 64u;
const ROWS = 4u;

// Windows covering input coordinate v: o in [ceil((v + P − k + 1)/S), floor((v + P)/S)],
// clipped to [0, out − 1]. Computed on v + P + S >= 0 so unsigned division rounds correctly.
fn window_range(v: u32, out: u32) -> vec2i {
  let lo = v + P + S;  // shifted by S to stay non-negative
  var first = 0i;
  if (lo >= K - 1u + S) { first = i32((lo - (K - 1u) + S - 1u) / S) - 1; }
  let last = min(i32((v + P) / S), i32(out) - 1);
  return vec2i(max(first, 0), last);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let ix = wid.x * WG + t;
  if (ix >= params.W) { return; }
  let plane = wid.z;
  let rx = window_range(ix, params.OW);
  let obase = plane * params.OH * params.OW;
  for (var r = 0u; r < ROWS; r++) {
    let iy = wid.y * ROWS + r;
    if (iy < params.H) { dx[plane * params.H * params.W + iy * params.W + ix] = gather(iy, ix, rx, obase); }
  }
}

fn gather(iy: u32, ix: u32, rx: vec2i, obase: u32) -> f32 {
  let j = iy * params.W + ix;
  let ry = window_range(iy, params.OH);
  var acc = 0.0;
  for (var a = 0u; a < SPAN; a++) {
    let oy = ry.x + i32(a);
    for (var b = 0u; b < SPAN; b++) {
      let ox = rx.x + i32(b);
      // Loads are unconditional (from a clamped, always valid window) and the sum is
      // predicated: branch-free code vectorises far better on CPU adapters.
      let o = obase + u32(min(oy, ry.y)) * params.OW + u32(min(ox, rx.y));
      let hit = oy <= ry.y && ox <= rx.y && indices[o] == j;
      acc += select(0.0, dy[o], hit);
    }
  }
  return acc;
}
