// Every command of the README's command table, run the way a user runs it: from the packed
// package. The CLI bundles are built here (into a staging copy, so no other test's dist/ is
// touched), `npm pack` packs them with exactly the files package.json ships, and the tarball is
// unpacked as node_modules/webfcn of an empty project with node_modules/.bin/webfcn linked to
// its bin, as `npm install` leaves it; commands run through that link, as `npx webfcn ...` does.
// (Its dependencies are linked from this checkout rather than downloaded: the test needs no
// network.) Checked: exit codes, what each command prints, the files it writes, that stderr holds
// only webfcn's own messages by default (no native warnings) and Dawn's too with --verbose, that
// `bench` finds its peers, and that a signal stops the command and its child.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { rollup, type OutputOptions, type RollupOptions } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'webfcn-package-'));
const stage = join(tmp, 'stage');
const app = join(tmp, 'app');
const BIN = join(app, 'node_modules', '.bin', 'webfcn');
const data = join(app, 'data');
/** Per test: each runs several commands, each a fresh process that opens the GPU. */
const LONG = 600_000;

/** What Dawn prints on its own; none of it may reach stderr without --verbose. */
const NATIVE = /^Warning: |vkCreateInstance|VK_ERROR_|artificially reduced|CheckVkSuccessImpl/m;

interface Run { code: number | null; signal: string | null; out: string; err: string }

/** Runs `webfcn ...args` through node_modules/.bin in the project folder. */
function webfcn(args: string[], env: Record<string, string> = {}, timeout = 600_000): Run {
  const r = spawnSync(BIN, args, { cwd: app, encoding: 'utf8', timeout, env: { ...process.env, WEBFCN_LOG: '', WEBFCN_DEBUG: '', ...env } });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** Bundles the Node CLI and the bench peer runner (the rollup configs that write dist/ and dist/bench-peers) into `out`. */
async function buildInto(out: string): Promise<void> {
  const configs = ((await import('../../rollup.config.js')) as { default: RollupOptions[] }).default;
  const node = configs.filter((c) => ['dist', 'dist/bench-peers'].includes((c.output as OutputOptions).dir!));
  expect(node.length).toBe(2);
  for (const cfg of node) {
    const bundle = await rollup({ ...cfg, onwarn: (w) => { throw new Error(`rollup: ${w.message}`); } });
    try {
      const { output } = await bundle.generate(cfg.output as OutputOptions);
      for (const f of output) {
        const file = join(out, (cfg.output as OutputOptions).dir!, f.fileName);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, f.type === 'chunk' ? f.code : f.source);
      }
    } finally {
      await bundle.close();
    }
  }
}

beforeAll(async () => {
  // The package's sources (npm pack picks what package.json `files` names) and its build.
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', 'bin', 'shaders', 'assembly', 'tools']) cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  await buildInto(stage);
  const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: stage, encoding: 'utf8', timeout: 120_000 });
  expect(pack.status, pack.stderr).toBe(0);
  const tarball = join(tmp, pack.stdout.trim().split('\n').pop()!);
  // Unpacked as `npm install` would place it; its dependencies come from this checkout.
  mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', join(app, 'node_modules')], { encoding: 'utf8' });
  expect(untar.status, untar.stderr).toBe(0);
  renameSync(join(app, 'node_modules', 'package'), join(app, 'node_modules', 'webfcn'));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules', 'webfcn', 'node_modules'), 'dir');
  chmodSync(join(app, 'node_modules', 'webfcn', 'bin', 'webfcn.js'), 0o755);
  symlinkSync('../webfcn/bin/webfcn.js', BIN);
}, 1_200_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the packed package', () => {
  it('ships the CLI, its launcher and the bench peers, and no sources or tests', () => {
    const pkg = join(app, 'node_modules', 'webfcn');
    for (const f of ['bin/webfcn.js', 'bin/native-noise.js', 'dist/cli.js', 'dist/worker.js', 'dist/bench-peers/tfjs.js', 'dist/bench-peers/resolve-hooks.js',
      'tools/bench-peers/torch_peer.py', 'tools/golden/model.py']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    for (const f of ['src', 'test', 'tools/golden/ops.py', 'tools/bench-peers/tfjs.ts']) expect(existsSync(join(pkg, f)), f).toBe(false);
  });
});

describe('webfcn (installed), as `npx webfcn ...` runs it', () => {
  it('--help lists every command and the global --verbose; each command has --help', () => {
    const r = webfcn(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['info', 'synth', 'train', 'evaluate', 'predict', 'upsample', 'bench']) {
      expect(r.out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
      const h = webfcn([c, '--help']);
      expect(h.code, c).toBe(0);
      expect(h.out.startsWith(`webfcn ${c}`), `${c} --help: ${h.out.slice(0, 80)}`).toBe(true);
      expect(h.err).toBe('');
    }
    expect(r.out).toMatch(/--verbose/);
    expect(webfcn([]).code).toBe(1);
  }, LONG);

  it('info: the adapter and why, with no native warnings on stderr unless --verbose', () => {
    const r = webfcn(['info']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^backend +\S+/m);
    expect(r.out).toMatch(/^why +auto: /m);
    expect(r.err).toBe('');
    const j = JSON.parse(webfcn(['info', '--json']).out) as { backend: string; reason: string };
    expect(typeof j.backend).toBe('string');
    // Mesa's OpenGL ES adapter makes Dawn warn about reduced limits: hidden by default, shown with --verbose.
    const quiet = webfcn(['info'], { WEBFCN_BACKEND: 'opengles' });
    expect(quiet.code, quiet.err).toBe(0);
    expect(quiet.err).toBe('');
    const verbose = webfcn(['info', '--verbose'], { WEBFCN_BACKEND: 'opengles' });
    expect(verbose.code).toBe(0);
    expect(verbose.err).toMatch(NATIVE);
    expect(webfcn(['info'], { WEBFCN_BACKEND: 'opengles', WEBFCN_LOG: 'debug' }).err).toMatch(NATIVE);
  }, LONG);

  it('synth -> train -> evaluate -> predict -> upsample on a tiny dataset', () => {
    const s = webfcn(['synth', '--out', data, '--classes', '3', '--train', '4', '--val', '2', '--size', '64x96', '--seed', '1']);
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/wrote 4 train \+ 2 val images/);
    expect(s.out).toMatch(/classes: background, circle\/stripes, square\/checker/);
    expect(s.err).toBe('');

    const t = webfcn(['train', '--data', data, '--classes', '3', '--epochs', '1', '--batch-size', '2', '--crop', '64x96', '--head', 'fcn8s',
      '--lr', '0.005', '--momentum', '0.9', '--out', 'run']);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^model: FCN-ResNet18 fcn8s, 3 classes/m);
    expect(t.out).toMatch(/^epoch 1: loss \d/m);
    expect(t.out).toMatch(/^run folder: run /m);
    for (const f of ['last.safetensors', 'epoch-1.safetensors', 'metrics.json', 'curves.svg', 'predictions.png']) expect(existsSync(join(app, 'run', f)), f).toBe(true);
    // stderr is the progress bar (one line per 10 steps and per epoch end when not a terminal) and nothing else.
    const errLines = t.err.split('\n').filter(Boolean);
    expect(errLines.length).toBeGreaterThan(0);
    for (const l of errLines) expect(l).toMatch(/^epoch 1\/1 \[[#.]+\] \d+\/2 loss /);

    const e = webfcn(['evaluate', '--model', 'run/last.safetensors', '--data', data, '--split', 'val']);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/^val: 2 images, \d+ labelled pixels/m);
    expect(e.out).toMatch(/mIoU 0\.\d{4}/);
    expect(e.out).toMatch(/^ {2}circle\/stripes +IoU/m);
    expect(e.err).toBe('');
    const ej = JSON.parse(webfcn(['evaluate', '--model', 'run/last.safetensors', '--data', data, '--json']).out) as { iou: Record<string, number> };
    expect(Object.keys(ej.iou)).toEqual(['background', 'circle/stripes', 'square/checker']);

    const p = webfcn(['predict', '--model', 'run/last.safetensors', '--input', join(data, 'VOCdevkit/VOC2012/JPEGImages'), '--out', 'pred']);
    expect(p.code, p.err).toBe(0);
    expect(p.out.trim().split('\n')).toHaveLength(6);
    expect(p.err).toBe('');
    expect(readdirSync(join(app, 'pred')).sort()).toContain('val_00001.overlay.png');
    const pred = PNG.sync.read(readFileSync(join(app, 'pred', 'val_00001.png')));
    expect([pred.height, pred.width]).toEqual([64, 96]);
    // The held-out images only: a dataset split instead of a folder.
    const held = webfcn(['predict', '--model', 'run/last.safetensors', '--data', data, '--out', 'held-out']);
    expect(held.code, held.err).toBe(0);
    expect(held.out.trim().split('\n').map((l) => l.replace(/: .*/, '').replace(/.*\//, ''))).toEqual(['val_00000.jpg', 'val_00001.jpg']);
    expect(readdirSync(join(app, 'held-out')).sort()).toEqual(['val_00000.overlay.png', 'val_00000.png', 'val_00001.overlay.png', 'val_00001.png']);

    const u = webfcn(['upsample', '--input', join(app, 'pred', 'val_00001.png'), '--out', 'up.png']);
    expect(u.code, u.err).toBe(0);
    expect(u.out).toMatch(/input image shape: 64x96, output image shape: 128x192/);
    expect(u.err).toBe('');
    for (const r of [s, t, e, p, u]) expect(r.err).not.toMatch(NATIVE);
  }, LONG);

  it('bench finds and runs its peers (the built tfjs runner and the PyTorch script)', () => {
    const r = webfcn(['bench', '--batch-size', '1', '--size', '64x64', '--classes', '5', '--peers', 'tfjs-wasm,torch', '--json', '--quiet']);
    expect(r.code, r.err).toBe(0);
    const b = JSON.parse(r.out) as { failures: string[]; peers: Array<{ peer: string; error?: string; infer: { perSec?: number } }> };
    expect(b.failures).toEqual([]);
    expect(b.peers.map((p) => p.peer)).toEqual(['tfjs-wasm', 'torch']);
    for (const p of b.peers) {
      expect(p.error, p.peer).toBeUndefined();
      expect(p.infer.perSec, p.peer).toBeGreaterThan(0);
    }
    expect(r.err).not.toMatch(NATIVE);
  }, LONG);

  it('errors: usage errors exit 2 with the help, run errors exit 1 naming the file, stacks only with --verbose', () => {
    const unknown = webfcn(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^webfcn: unknown command 'frobnicate'/);
    const missing = webfcn(['train']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^webfcn train: --data DIR is required/);
    expect(missing.err).toMatch(/^ {2}--epochs E/m);
    const nofile = webfcn(['evaluate', '--model', 'nowhere.safetensors', '--data', data]);
    expect(nofile.code).toBe(1);
    expect(nofile.err.trim()).toBe('webfcn evaluate: nowhere.safetensors: cannot read (ENOENT)');
    const verbose = webfcn(['evaluate', '--model', 'nowhere.safetensors', '--data', data, '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.err).toMatch(/^ {4}at /m);
  }, LONG);

  it('a signal stops the command: the launcher passes it on and dies of it once the CLI has', async () => {
    const child = spawn(BIN, ['train', '--data', data, '--classes', '3', '--epochs', '50', '--batch-size', '2', '--crop', '64x96', '--out', 'sig'], { cwd: app });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    // Started training (the model is built) before the signal.
    for (let i = 0; i < 600 && !/^model:/m.test(out); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/^model:/m);
    child.kill('SIGTERM');
    const r = await exited;
    expect(r).toEqual({ code: null, signal: 'SIGTERM' });
    expect(existsSync(join(app, 'sig', 'epoch-50.safetensors'))).toBe(false);
  }, LONG);
});
