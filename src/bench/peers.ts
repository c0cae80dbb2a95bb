// Peer implementations of the same FCN-ResNet18, each run in its own child process on this
// machine, one after another (never alongside webfcn's GPU work): TensorFlow.js on its WebGPU
// backend (the same Dawn adapter webfcn uses) and on its WebAssembly backend, and PyTorch on the
// CPU. The runners live in tools/bench-peers/ and print one JSON line.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEERS = ['tfjs-webgpu', 'tfjs-wasm', 'torch'] as const;
export type PeerName = (typeof PEERS)[number];

/** One measurement of a peer: a time, or why there is none. */
export type PeerTiming = { ms: number; perSec: number } | { error: string };

export interface PeerResult {
  peer: PeerName;
  /** What ran (library version, backend, threads). */
  detail: string;
  train: PeerTiming;
  infer: PeerTiming;
  /** Inference from host pixels, upload and normalisation included (tfjs peers; webfcn's pass is timed this way). */
  inferPixels?: PeerTiming;
  /** PyTorch CPU: its best native FP32 rate on the same threads (torch.mm or a oneDNN convolution, named by peakKernel), the machine's practical peak. */
  peakGflops?: number;
  peakKernel?: string;
  /** Set when the runner itself failed (could not start, crashed, unavailable). */
  error?: string;
  wallSec: number;
}

export interface PeerRunOptions {
  batch: number;
  size: [number, number];
  inferBatch: number;
  inferSize: [number, number];
  classes: number;
  steps: number;
  stat: 'median' | 'min';
  /** webfcn's Dawn backend ('opengles', 'default', 'swiftshader'): tfjs-webgpu uses the same. */
  dawnBackend: string;
  /** CPU threads for PyTorch (default: the machine's cores); tfjs-wasm runs one thread in Node whatever this says. */
  threads?: number;
  /** Seconds before a runner is killed. */
  timeoutSec?: number;
  log?: (s: string) => void;
}

/**
 * The webfcn package folder (a checkout, or the installed package): the nearest folder above this
 * module whose package.json is webfcn's. This module may run from src/bench/ (tsx), or bundled
 * into dist/ or dist/chunks/, so no fixed number of '../' is right.
 */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'webfcn') return dir;
    } catch {
      // no package.json here; keep looking
    }
    if (dirname(dir) === dir) throw new Error(`webfcn's package.json not found above ${start}`);
  }
}

const ROOT = packageRoot();
const PYTHON = '/usr/bin/python3';
/** From the sources (npm run bench) the tfjs runner is run by tsx; bundled, it is dist/bench-peers/tfjs.js. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const TFJS_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm'];

/** The tfjs packages a peer needs that do not resolve from the package folder (they are dev dependencies). */
function missingTfjs(peer: PeerName): string[] {
  const need = [TFJS_PACKAGES[0]!, peer === 'tfjs-webgpu' ? TFJS_PACKAGES[1]! : TFJS_PACKAGES[2]!];
  const req = createRequire(join(ROOT, 'package.json'));
  return need.filter((name) => {
    try {
      req.resolve(`${name}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
}

/** Whether an error is the expected "this peer cannot do that" rather than a failure. */
export function isNotApplicable(t: PeerTiming): boolean {
  return 'error' in t && t.error.startsWith('n/a');
}

function command(peer: PeerName, o: PeerRunOptions): { cmd: string; args: string[] } {
  const shape = [
    '--batch', String(o.batch), '--size', `${o.size[0]}x${o.size[1]}`,
    '--infer-batch', String(o.inferBatch), '--infer-size', `${o.inferSize[0]}x${o.inferSize[1]}`,
    '--classes', String(o.classes), '--steps', String(o.steps), '--stat', o.stat,
  ];
  if (peer === 'torch') {
    return { cmd: PYTHON, args: [join(ROOT, 'tools', 'bench-peers', 'torch_peer.py'), ...shape, ...(o.threads ? ['--threads', String(o.threads)] : [])] };
  }
  const backend = peer === 'tfjs-webgpu' ? 'webgpu' : 'wasm';
  const runner = FROM_SOURCE
    ? ['--import', join(ROOT, 'tools', 'register.js'), join(ROOT, 'tools', 'bench-peers', 'tfjs.ts')]
    : [join(ROOT, 'dist', 'bench-peers', 'tfjs.js')];
  return { cmd: process.execPath, args: [...runner, '--backend', backend, '--dawn', o.dawnBackend, ...shape] };
}

/** The runner file in a peer's command line. */
const runnerOf = (args: string[]): string => args.find((a) => /\.(py|ts|js)$/.test(a) && !a.endsWith('register.js'))!;

function timing(v: unknown): PeerTiming {
  const r = v as { ms?: number; perSec?: number; error?: string } | undefined;
  if (!r) return { error: 'not measured' };
  if (typeof r.error === 'string') return { error: r.error };
  if (typeof r.ms === 'number' && typeof r.perSec === 'number') return { ms: r.ms, perSec: r.perSec };
  return { error: `unexpected result ${JSON.stringify(r)}` };
}

/** Runs one peer to completion in a child process. */
export async function runPeer(peer: PeerName, o: PeerRunOptions): Promise<PeerResult> {
  const t0 = performance.now();
  const fail = (error: string): PeerResult => ({
    peer, detail: '', train: { error }, infer: { error }, error, wallSec: (performance.now() - t0) / 1000,
  });
  const { cmd, args } = command(peer, o);
  if (!existsSync(cmd)) return fail(`${cmd} not found`);
  const runner = runnerOf(args);
  if (!existsSync(runner)) return fail(`runner ${runner} is missing (run \`npm run build\` in a checkout)`);
  if (peer !== 'torch') {
    const missing = missingTfjs(peer);
    if (missing.length) return fail(`unavailable: ${missing.join(', ')} not installed (npm install ${missing.join(' ')})`);
  }
  o.log?.(`peer ${peer}: ${peer === 'torch' ? 'python3' : 'node'} ${args.slice(args.indexOf(runner)).join(' ').replace(ROOT + '/', '')}`);
  const env = { ...process.env };
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.timeoutSec ?? 1800) * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(fail(`could not start: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      let parsed: Record<string, unknown> | null = null;
      try {
        parsed = JSON.parse(last) as Record<string, unknown>;
      } catch {
        parsed = null;
      }
      if (!parsed) {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        const tail = err.trim().split('\n').filter((l) => !/^Warning:|artificially reduced|XDG_RUNTIME_DIR/.test(l)).slice(-3).join(' | ');
        resolve(fail(`${why}, no result${tail ? `: ${tail}` : ''}`));
        return;
      }
      const detail = [
        parsed.version ? `v${parsed.version}` : '',
        parsed.backend ? `backend ${parsed.backend}` : '',
        parsed.threads ? `${parsed.threads} thread${parsed.threads === 1 ? '' : 's'}` : '',
        typeof parsed.simd === 'string' ? parsed.simd : '',
      ].filter(Boolean).join(', ');
      const r: PeerResult = {
        peer, detail, train: timing(parsed.train), infer: timing(parsed.infer), wallSec: (performance.now() - t0) / 1000,
      };
      if (parsed.inferPixels) r.inferPixels = timing(parsed.inferPixels);
      if (typeof parsed.peakGflops === 'number') {
        r.peakGflops = parsed.peakGflops;
        r.peakKernel = String(parsed.peakKernel ?? '');
      }
      if (typeof parsed.error === 'string') r.error = parsed.error;
      else if (code !== 0) r.error = `exit code ${code}`;
      resolve(r);
    });
  });
}

/** Parses `--peers a,b` ('none' or '' for no peers). */
export function parsePeers(v: string): PeerName[] {
  if (v === '' || v === 'none') return [];
  const names = v.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(PEERS as readonly string[]).includes(n)) throw new Error(`unknown peer '${n}' (choose from ${PEERS.join(', ')}, or none)`);
  }
  return [...new Set(names)] as PeerName[];
}
