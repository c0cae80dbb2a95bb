// Workgroup tree reductions. The includer declares `const WG` (a power of two) and one
// `var<workgroup>` array per reduction: reusing one array right after reading its result races on
// Mesa llvmpipe (the read of buf[0] can land after the next reduction's first write despite the
// barrier between them); with one array per reduction no location is written after it is read.

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

fn reduce_sum3(buf: ptr<workgroup, array<vec3f, WG>>, t: u32, v: vec3f) -> vec3f {
  (*buf)[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { (*buf)[t] += (*buf)[t + s]; }
    workgroupBarrier();
  }
  return (*buf)[0];
}
