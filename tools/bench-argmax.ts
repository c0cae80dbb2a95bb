// argmax on the WebAssembly backend: the kernel alone on (1, 21, 320, 480) logits (u32 ids, and
// packed u8 ids where the build has them), on 1 and 2 threads, and the frame pipeline
// (predictFrames on one 320×480 RGBA frame, FCN-32s, 21 classes) beside the network's forward alone
// (their difference, RGBA copy + normalise + argmax + ids out, is smaller than the forward's noise
// on a shared machine: the "ids out" rows time the argmax part on its own). Best of --reps after
// warm-ups (the machine is shared; the best run is the least disturbed).
//
//   node --import ./tools/register.js tools/bench-argmax.ts [--threads 1,2] [--reps 20] [--frames 5] [--json]
import * as ops from '../src/backends/wasm/ops.js';
import { WasmRuntime } from '../src/backends/wasm/runtime.js';
import { syntheticFrames } from '../src/bench/webfcn.js';
import { initialState } from '../src/fcn/model.js';
import { predictFrames } from '../src/fcn/predict.js';
import { WasmFcnModel } from '../src/fcn/wasm/model.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const threadCounts = opt('threads', '1,2').split(',').map(Number);
const reps = Number(opt('reps', '20'));
const frameReps = Number(opt('frames', '5'));
const N = 1, K = 21, H = 320, W = 480;

function best(f: () => void, n: number): number {
  f();
  let b = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

const rows: Record<string, number | string>[] = [];
for (const threads of threadCounts) {
  const rt = await WasmRuntime.create({ threads });
  try {
    const mark = rt.arena.mark();
    const [lg, out] = rt.arena.plan([
      { label: 'logits', bytes: N * K * H * W * 4 },
      { label: 'ids', bytes: N * H * W * 4 },
    ]) as [number, number];
    const v = rt.f32(lg, N * K * H * W);
    let s = 1;
    for (let i = 0; i < v.length; i++) v[i] = ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 8 - 4;
    const row: Record<string, number | string> = { threads, simd: rt.simd };
    row.u32Ms = best(() => ops.argmax(rt, out, lg, { N, K, H, W }), reps);
    const packed = (ops as { argmaxU8?: typeof ops.argmax }).argmaxU8;
    if (packed) row.u8Ms = best(() => packed(rt, out, lg, { N, K, H, W }), reps);
    // Class ids out as bytes, as the frame pipeline hands them back: u32 ids narrowed on the host
    // (the crop loop the pipeline had), or u8 ids copied out.
    row.u32HostBytesMs = best(() => {
      ops.argmax(rt, out, lg, { N, K, H, W });
      const ids = new Uint32Array(rt.memory.buffer, out, N * H * W);
      const classes = new Uint8Array(N * H * W);
      for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) classes[(n * H + y) * W + x] = ids[(n * H + y) * W + x]!;
    }, reps);
    if (packed) row.u8BytesMs = best(() => {
      packed(rt, out, lg, { N, K, H, W });
      new Uint8Array(rt.memory.buffer, out, N * H * W).slice();
    }, reps);
    rt.arena.release(mark);

    const config = { classes: K, head: 'fcn32s' as const };
    const model = new WasmFcnModel(rt, config);
    model.loadState(initialState(config, { seed: 0 }));
    const frames = syntheticFrames(1, H, W);
    for (let i = 0; i < 2; i++) await predictFrames(model, frames, 1, H, W);
    const plan = model.plan(1, H, W, 'eval');
    let frame = Infinity, forward = Infinity;
    for (let i = 0; i < frameReps; i++) {
      let t0 = performance.now();
      await predictFrames(model, frames, 1, H, W);
      frame = Math.min(frame, performance.now() - t0);
      t0 = performance.now();
      for (const st of plan.forward) st.run();
      forward = Math.min(forward, performance.now() - t0);
    }
    row.frameMs = frame;
    row.forwardMs = forward;
    rows.push(row);
    await model.dispose();
  } finally {
    await rt.dispose();
  }
}
if (args.includes('--json')) console.log(JSON.stringify(rows));
else for (const r of rows) console.log(Object.entries(r).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(2) : v}`).join('  '));
