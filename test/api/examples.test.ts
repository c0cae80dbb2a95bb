// Runs every Node example as a user would: against the built package (dist/, built here once),
// each in its own process, each within a minute; then checks what it printed and wrote.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHAPTER_PTH = join(ROOT, 'test/golden/model/fcn_chapter.pth');
let out: string;

function run(cmd: string, args: string[], timeout: number): { stdout: string; stderr: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status} (signal ${r.signal})`}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
  }
  return { stdout: r.stdout, stderr: r.stderr, seconds };
}

/** Runs examples/<name>.mjs; it must exit 0 within 60 s. */
function example(name: string, ...args: string[]): string {
  const r = run(process.execPath, [`examples/${name}.mjs`, ...args], 60_000);
  console.log(`examples/${name}.mjs: ${r.seconds.toFixed(1)} s`);
  return r.stdout;
}

function png(file: string): { width: number; height: number } {
  const p = PNG.sync.read(readFileSync(file));
  return { width: p.width, height: p.height };
}

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'webfcn-examples-'));
  run('npx', ['rollup', '-c'], 240_000);
  // The chapter model's .pth is generated on demand (git-ignored); `npm test` writes it first.
  if (!existsSync(CHAPTER_PTH)) run('/usr/bin/python3', ['tools/golden/model.py'], 240_000);
}, 500_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('dist/browser (the same build)', () => {
  it('imports no Node modules and exports createEngine; its worker is emitted next to it, self-contained', async () => {
    const dir = join(ROOT, 'dist/browser');
    const files = [join(dir, 'webfcn.js'), join(dir, 'worker.js')];
    const chunks = join(dir, 'chunks');
    if (existsSync(chunks)) for (const f of readdirSync(chunks)) if (f.endsWith('.js')) files.push(join(chunks, f));
    for (const f of files) {
      const code = readFileSync(f, 'utf8');
      expect(code, f).not.toMatch(/from ['"]node:|import\(['"]node:|require\(/);
      expect(code, f).not.toMatch(/from ['"](webgpu|pngjs|jpeg-js)['"]/);
    }
    // The literal shape bundlers recognise (minified: double quotes, no spaces).
    expect(readFileSync(files[0]!, 'utf8')).toMatch(/new Worker\(new URL\(["']\.\/worker\.js["'],\s*import\.meta\.url\),\s*\{\s*type:\s*["']module["']\s*\}\)/);
    // One file each: no chunks, and the worker imports nothing (it works wherever it is copied).
    for (const f of files.slice(0, 2)) expect(readFileSync(f, 'utf8'), f).not.toMatch(/\bimport\s*[{*"'(]|\bfrom\s*["']\./);
    const lib = await import(pathToFileURL(files[0]!).href);
    expect(typeof lib.createEngine).toBe('function');
  });
});

describe('examples/ (Node, built package)', () => {
  it('train.mjs: synthetic data, two epochs, a checkpoint', () => {
    const stdout = example('train', '--out', out);
    expect(stdout).toMatch(/dataset: 4 train \+ 2 val images/);
    expect(stdout).toMatch(/epoch 1 step 2\/2/);
    expect(stdout).toMatch(/epoch 2: loss \d+\.\d+, train acc 0\.\d+, test acc [01]\.\d+/);
    expect(stdout).toMatch(/trained 4 steps/);
    expect(statSync(join(out, 'model.safetensors')).size).toBeGreaterThan(4 * 11e6);
  });

  it('predict.mjs: loads the checkpoint and writes class and overlay PNGs', () => {
    const dir = join(out, 'predict');
    const stdout = example('predict', '--model', join(out, 'model.safetensors'), '--out', dir);
    expect(stdout).toMatch(/\(webfcn\), 4 classes/);
    expect(stdout).toMatch(/predicted 48x80 in \d+ ms/);
    const shares = [...stdout.matchAll(/: (\d+\.\d)% of pixels/g)].map((m) => Number(m[1]));
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
    for (const f of ['input.png', 'classes.png', 'overlay.png']) expect(png(join(dir, f))).toEqual({ width: 80, height: 48 });
  });

  it('evaluate.mjs: in-memory samples and a VOC folder', () => {
    const model = join(out, 'model.safetensors');
    const mem = example('evaluate', '--model', model);
    expect(mem).toMatch(/^3 images, \d+ labelled pixels/m);
    expect(mem).toMatch(/pixel accuracy [01]\.\d{4} {2}mean accuracy/);
    expect(mem.match(/ IoU /g)).toHaveLength(4);
    const voc = example('evaluate', '--model', model, '--data', join(out, 'data'));
    expect(voc).toMatch(/^2 images, 6144 labelled pixels/m);
  });

  it('upsample.mjs: 2x bilinear transposed convolution', () => {
    const dir = join(out, 'upsample');
    const stdout = example('upsample', '--out', dir);
    expect(stdout).toMatch(/input image shape: 40x60, output image shape: 80x120/);
    expect(png(join(dir, 'input.png'))).toEqual({ width: 60, height: 40 });
    expect(png(join(dir, 'output.png'))).toEqual({ width: 120, height: 80 });
  });

  it('load-pytorch.mjs: the chapter model saved by torch.save', () => {
    const dir = join(out, 'pytorch');
    const stdout = example('load-pytorch', '--model', CHAPTER_PTH, '--out', dir);
    expect(stdout).toMatch(/\(pytorch\) in \d+ ms: fcn32s, 21 classes/);
    expect(stdout).toMatch(/note: renamed the chapter's nn\.Sequential keys/);
    expect(stdout).toMatch(/predicted 64x96: \d+ distinct classes/);
    expect(png(join(dir, 'classes.png'))).toEqual({ width: 96, height: 64 });
  });
});
