// Confusion matrix: conf(label*K + pred) += 1 for every pixel whose label < K (255 = ignore, and
// any other out-of-range label, is skipped). Rows are ground truth, columns predictions, as
// torchvision's references/segmentation ConfusionMatrix.
//
// `local_hist` (K*K <= 1024): each workgroup bins PIX pixels per thread into a workgroup
// histogram and flushes its non-zero bins, so global atomics scale with K*K per workgroup
// instead of with pixels. `global` adds straight to the global matrix for larger K.
struct Params { n: u32, K: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pred: array<u32>;                // (N, H, W)
@group(0) @binding(2) var<storage, read> labels: array<u32>;              // (N, H, W)
@group(0) @binding(3) var<storage, read_write> conf: array<atomic<u32>>;  // (K, K)

const WG = 256u;
const PIX = 16u;
const BINS = 1024u;

var<workgroup> hist: array<atomic<u32>, BINS>;

@compute @workgroup_size(WG)
fn local_hist(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32,
              @builtin(num_workgroups) nwg: vec3u) {
  let kk = params.K * params.K;
  for (var b = t; b < kk; b += WG) { atomicStore(&hist[b], 0u); }
  workgroupBarrier();
  let group = wid.x + wid.y * nwg.x;
  let begin = group * WG * PIX;
  for (var r = 0u; r < PIX; r++) {
    let i = begin + r * WG + t;
    if (i < params.n) {
      let l = labels[i];
      let p = pred[i];
      if (l < params.K && p < params.K) { atomicAdd(&hist[l * params.K + p], 1u); }
    }
  }
  workgroupBarrier();
  for (var b = t; b < kk; b += WG) {
    let v = atomicLoad(&hist[b]);
    if (v != 0u) { atomicAdd(&conf[b], v); }
  }
}

@compute @workgroup_size(WG)
fn global(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let l = labels[i];
  let p = pred[i];
  if (l < params.K && p < params.K) { atomicAdd(&conf[l * params.K + p], 1u); }
}
