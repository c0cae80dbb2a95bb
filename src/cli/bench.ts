// `webfcn bench`: where the time of a training step and an inference pass goes, on WebGPU and on
// WebAssembly, and the same model in TensorFlow.js (WebGPU, WebAssembly) and PyTorch (CPU) side by side.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchSvg, formatBench, runBench, type BenchEngines } from '../bench/index.js';
import { parsePeers, PEERS } from '../bench/peers.js';
import { acquireCompute, parseBackend, wasmAvailable, type Compute } from '../fcn/compute.js';
import { RUN_OPTIONS } from '../fcn/recipe.js';
import { parseIntFlag, parseSize, UsageError } from './args.js';

export const benchHelp = `webfcn bench [options]

Times one training step and one inference pass of FCN-ResNet18 by stage on each backend, and the
same model in peers. In bench, --backend (below) chooses the webfcn rows: auto (the default) runs
both, webfcn (webgpu) on any WebGPU adapter (software ones included) and webfcn (wasm), each where
it starts; webgpu or wasm runs that row only. --threads also sets PyTorch's threads (tfjs-wasm has
one thread in Node).

  --batch-size B        training batch (default 2)
  --size HxW            training crop, multiples of 32 (default 160x256)
  --infer-batch-size B  inference batch (default: --batch-size)
  --infer-size HxW      inference size (default: --size)
  --classes K           (default ${RUN_OPTIONS.classes.default}, Pascal VOC)
  --steps N             timed repetitions after one warm-up (default 1)
  --stat median|min     report the median of the repetitions, or the fastest (for machines shared
                        with other work; default median)
  --peers LIST          comma-separated: ${PEERS.join(', ')}, or none (default: all, tfjs-webgpu
                        only with a webgpu row; a peer that is not installed (tfjs packages, python3
                        with torch) is skipped unless named)
  --memory-mib M        activation memory per micro-batch plan (default ${RUN_OPTIONS.memoryMiB.default})
  --json                print the result as JSON
  --out DIR             also write DIR/bench.json, DIR/bench.txt and DIR/bench.svg (bar chart)
  --quiet               no progress lines on stderr

Exits non-zero when a requested peer fails (an expected 'n/a', e.g. tfjs-wasm training, is not a failure).`;

/** --backend, --adapter and --threads come with every computing command (compute.ts). */
export const benchOptions = {
  'batch-size': { type: 'string' },
  size: { type: 'string' },
  'infer-batch-size': { type: 'string' },
  'infer-size': { type: 'string' },
  classes: { type: 'string' },
  steps: { type: 'string' },
  stat: { type: 'string' },
  peers: { type: 'string' },
  'memory-mib': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

function size32(flag: string, v: string): [number, number] {
  const s = parseSize(flag, v);
  if (s[0] % 32 || s[1] % 32) throw new UsageError(`--${flag} sides must be multiples of 32 (the backbone's stride); got ${v}`);
  return s;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

/** The bench's classes and memory budget take the run recipe's defaults and limits. */
const C = RUN_OPTIONS.classes;

export async function bench(v: Record<string, string | boolean | undefined>): Promise<void> {
  const s = (k: string) => v[k] as string | undefined;
  const batch = parseIntFlag('batch-size', s('batch-size') ?? '2', 1);
  const size = size32('size', s('size') ?? '160x256');
  const threads = s('threads') !== undefined ? parseIntFlag('threads', s('threads')!, 1, 256) : undefined;
  const named = s('backend') ?? process.env.WEBFCN_BACKEND ?? 'auto';
  let choice;
  try {
    choice = parseBackend(named, s('backend') !== undefined ? '--backend' : 'WEBFCN_BACKEND');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const adapter = s('adapter') ?? choice.adapter;
  if (adapter !== undefined && !['default', 'opengles', 'swiftshader'].includes(adapter)) {
    throw new UsageError(`--adapter must be default, opengles or swiftshader; got '${adapter}'`);
  }
  if (adapter !== undefined && choice.backend === 'wasm') throw new UsageError('--adapter names a WebGPU adapter: it cannot go with --backend wasm');
  const want = { webgpu: choice.backend !== 'wasm', wasm: choice.backend === 'wasm' || (choice.backend === 'auto' && adapter === undefined) };
  let peers;
  try {
    peers = parsePeers(s('peers') ?? PEERS.filter((p) => want.webgpu || p !== 'tfjs-webgpu').join(','));
  } catch (e) {
    throw new UsageError(`--peers: ${(e as Error).message}`);
  }
  const opts = {
    batch,
    size,
    inferBatch: parseIntFlag('infer-batch-size', s('infer-batch-size') ?? String(batch), 1),
    inferSize: s('infer-size') ? size32('infer-size', s('infer-size')!) : size,
    classes: parseIntFlag('classes', s('classes') ?? String(C.default), C.min, C.max),
    steps: parseIntFlag('steps', s('steps') ?? '1', 1, 1000),
    stat: oneOf('stat', s('stat'), ['median', 'min'] as const, 'median'),
    peers,
    optionalPeers: s('peers') === undefined ? [...PEERS] : [],
    memoryBudget: parseIntFlag('memory-mib', s('memory-mib') ?? String(RUN_OPTIONS.memoryMiB.default), 64) * 2 ** 20,
    log: v.quiet ? undefined : (line: string) => process.stderr.write(`bench: ${line}\n`),
  };
  // auto: each backend that starts; one that was asked for by name must start.
  const log = opts.log ?? (() => {});
  const opened: Compute[] = [];
  const engines: BenchEngines = { skipped: [] };
  let result;
  try {
    if (want.webgpu) {
      try {
        const c = await acquireCompute({ backend: 'webgpu', adapter });
        opened.push(c);
        if (c.backend === 'webgpu') engines.gpu = c.gpu;
        log(`webgpu: ${c.report.summary}`);
      } catch (e) {
        if (choice.backend !== 'auto') throw e;
        engines.skipped!.push(`webgpu: ${(e as Error).message}`);
        log(`webgpu: skipped (${(e as Error).message})`);
      }
    }
    if (want.wasm) {
      if (choice.backend === 'auto' && !wasmAvailable()) engines.skipped!.push('wasm: this runtime does not validate WebAssembly SIMD128');
      else {
        const c = await acquireCompute({ backend: 'wasm', threads });
        opened.push(c);
        if (c.backend === 'wasm') engines.wasm = c.rt;
        log(`wasm: ${c.report.summary}`);
      }
    }
    if (!engines.gpu && !engines.wasm) throw new Error(`no backend to bench: ${engines.skipped!.join('; ')}`);
    result = await runBench(engines, opts);
  } finally {
    for (const c of opened) c.dispose();
  }
  const text = formatBench(result);
  console.log(v.json ? JSON.stringify(result, null, 1) : text);
  if (v.out) {
    const dir = v.out as string;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bench.json'), `${JSON.stringify(result, null, 1)}\n`);
    writeFileSync(join(dir, 'bench.txt'), `${text}\n`);
    writeFileSync(join(dir, 'bench.svg'), benchSvg(result));
    if (!v.quiet) process.stderr.write(`bench: wrote ${join(dir, 'bench.json')}, bench.txt, bench.svg\n`);
  }
  if (result.failures.length) throw new Error(`peer failures: ${result.failures.join('; ')}`);
}
