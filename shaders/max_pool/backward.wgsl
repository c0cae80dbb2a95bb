// max_pool2d backward as a gather (no float atomics): every input element sums the upstream
// gradients of the windows that chose it,
//   dx(n,c,iy,ix) = Σ dy(n,c,oy,ox) over oy·S−P <= iy < oy·S−P+k, ox likewise,
//                   where indices(n,c,oy,ox) == iy·W + ix.
// Windows are visited in ascending (oy, ox), the order PyTorch's CPU scatter adds in.
// dx is overwritten.
struct Params { NC: u32, H: u32, W: u32, OH: u32, OW: u32, k: u32, stride: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;         // (N, C, OH, OW)
@group(0) @binding(2) var<storage, read> indices: array<u32>;    // (N, C, OH, OW)
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;   // (N, C, H, W)

const WG = 256u;

// First output index o with o·S − P + k − 1 >= v, i.e. ceil((v + P − k + 1) / S), clamped at 0.
fn first_window(v: i32) -> i32 {
  let num = v + i32(params.pad) - i32(params.k) + 1;
  if (num <= 0) { return 0; }
  return (num + i32(params.stride) - 1) / i32(params.stride);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let hw = params.H * params.W;
  if (i >= params.NC * hw) { return; }
  let plane = i / hw;
  let j = i - plane * hw;
  let iy = i32(j / params.W);
  let ix = i32(j) - iy * i32(params.W);
  let oy0 = first_window(iy);
  let ox0 = first_window(ix);
  // Last output index o with o·S − P <= v.
  let oy1 = min((iy + i32(params.pad)) / i32(params.stride), i32(params.OH) - 1);
  let ox1 = min((ix + i32(params.pad)) / i32(params.stride), i32(params.OW) - 1);
  let obase = plane * params.OH * params.OW;
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let o = obase + u32(oy) * params.OW + u32(ox);
      if (indices[o] == j) { acc += dy[o]; }
    }
  }
  dx[i] = acc;
}
