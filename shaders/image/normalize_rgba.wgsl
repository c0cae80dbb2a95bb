// Normalise RGBA frames on the GPU: rgba (N, H, W) u32, one pixel per u32 with R in the low byte
// (the byte order of ImageData and of a Uint8Array (N, H, W, 4) viewed as u32 on little-endian
// hosts) → out (N, 3, TH, TW) f32 with
//   out(n, c, y, x) = f32(v_c · scale_c) + bias_c,  scale_c = 1/(255·std_c), bias_c = −mean_c/std_c
// for y < H, x < W (the WebAssembly normaliser's two roundings, assembly/index.ts), and 0 — the
// dataset mean — in the padding up to the plan's (TH, TW). Alpha is ignored.
struct Params { N: u32, H: u32, W: u32, TH: u32, TW: u32, sR: f32, sG: f32, sB: f32, bR: f32, bG: f32, bB: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rgba: array<u32>;       // (N, H, W)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (N, 3, TH, TW)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let plane = params.TH * params.TW;
  if (i >= params.N * plane) { return; }
  let n = i / plane;
  let s = i % plane;
  let y = s / params.TW;
  let x = s % params.TW;
  let o = n * 3u * plane + s;
  if (y >= params.H || x >= params.W) {
    out[o] = 0.0;
    out[o + plane] = 0.0;
    out[o + 2u * plane] = 0.0;
    return;
  }
  let p = rgba[(n * params.H + y) * params.W + x];
  out[o] = f32(p & 0xffu) * params.sR + params.bR;
  out[o + plane] = f32((p >> 8u) & 0xffu) * params.sG + params.bG;
  out[o + 2u * plane] = f32((p >> 16u) & 0xffu) * params.sB + params.bB;
}
