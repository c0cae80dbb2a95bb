// Run by runtime.test.ts in a Node started with --experimental-wasm-relaxed-simd: picks the
// relaxed-SIMD build and prints its SIMD level and the max error of a GEMM against float64.
import { matmul, matmulScratchBytes } from '../../src/backends/wasm/gemm.js';
import { WasmRuntime } from '../../src/backends/wasm/runtime.js';

const rt = await WasmRuntime.create({ threads: 2 });
const M = 37, N = 45, K = 300;
const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
const [pa, pb, pc, s] = rt.arena.plan([{ label: 'a', bytes: a.length * 4 }, { label: 'b', bytes: b.length * 4 }, { label: 'c', bytes: M * N * 4 }, { label: 's', bytes: matmulScratchBytes(M, N, K) }]);
rt.write(pa!, a);
rt.write(pb!, b);
matmul(rt, { M, N, K, a: pa!, b: pb!, c: pc!, scratch: s! });
const c = rt.read(pc!, M * N);
let err = 0;
for (let i = 0; i < M; i++)
  for (let j = 0; j < N; j++) {
    let r = 0;
    for (let k = 0; k < K; k++) r += a[i * K + k]! * b[k * N + j]!;
    err = Math.max(err, Math.abs(r - c[i * N + j]!));
  }
console.log(JSON.stringify({ simd: rt.simd, threads: rt.threads, err }));
await rt.dispose();
