// The grid of the elementwise kernels (elementwiseGrid in src/gpu/kernel.ts): ITEMS elements per
// invocation, grid-stride, so neighbouring invocations still touch neighbouring elements and there
// are ITEMS times fewer of them. The includer declares `const WG` and loops
//   for (var k = 0u; k < ITEMS; k++) { let i = element(gid, nwg, k); if (i >= n) { return; } ... }

const ITEMS = 4u;  // ELEMENTWISE_ITEMS in src/gpu/kernel.ts

fn element(gid: vec3u, nwg: vec3u, k: u32) -> u32 {
  return gid.x + gid.y * nwg.x * WG + k * nwg.x * nwg.y * WG;
}
