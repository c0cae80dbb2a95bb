// Cross-entropy reduction 'mean', pass 3: dlogits(i) = dlogits(i) / valid · inv_parts, valid being
// the batch's count of non-ignored pixels (stats(1), from finalize.wgsl) and inv_parts 1 over the
// number of micro-batches whose gradients are summed. With no valid pixel the gradient is all
// zeros already and stays so.
struct Params { n: u32, inv_parts: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stats: array<u32>;          // (4)
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;  // (N, K, H, W)

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let valid = stats[1];
  if (valid == 0u) { return; }
  dlogits[i] = dlogits[i] / f32(valid) * params.inv_parts;
}
