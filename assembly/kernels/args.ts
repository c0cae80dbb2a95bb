// The calling convention every compute kernel shares. The host (src/backends/wasm/pool.ts) writes
// an op's arguments as f64 slots into the control block at `ctl + ARGS` (f64 holds any byte offset
// below 4 GiB exactly, and every f32 scalar), resets the tile counters, and then every thread of
// the pool calls `run(op, ctl, tid, nt)`. Kernels take work in tiles from an atomic counter
// (`nextTile`), so a thread slowed by another process on the machine simply takes fewer tiles;
// tiles never write the same bytes, so the result does not depend on who took which tile.
//
// Control block layout (bytes from ctl), shared with pool.ts:
//   0 generation · 4 pending · 8 op · 12 threads · 16 error · 32..48 four tile counters · 64.. args
export const ARGS: usize = 64;
export const COUNTERS: usize = 32;

/** Argument `i` as a byte offset or an integer. */
// @ts-ignore: decorator
@inline export function argU(ctl: usize, i: i32): usize {
  return <usize>load<f64>(ctl + ARGS + (<usize>i << 3));
}
/** Argument `i` as an i32. */
// @ts-ignore: decorator
@inline export function argI(ctl: usize, i: i32): i32 {
  return <i32>load<f64>(ctl + ARGS + (<usize>i << 3));
}
/** Argument `i` as an f32. */
// @ts-ignore: decorator
@inline export function argF(ctl: usize, i: i32): f32 {
  return <f32>load<f64>(ctl + ARGS + (<usize>i << 3));
}
/** Argument `i` as an f64. */
// @ts-ignore: decorator
@inline export function argD(ctl: usize, i: i32): f64 {
  return load<f64>(ctl + ARGS + (<usize>i << 3));
}
/** The next tile index of counter `which` (0..3); every tile index is handed out exactly once. */
// @ts-ignore: decorator
@inline export function nextTile(ctl: usize, which: i32): i32 {
  return atomic.add<i32>(ctl + COUNTERS + (<usize>which << 2), 1);
}
