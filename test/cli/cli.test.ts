// The command line end to end on a tiny generated dataset: synth -> train -> resume (identical
// to an uninterrupted run) -> evaluate -> predict (any size, tiled) -> upsample; and bad input
// gets clear errors before any GPU work.
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'webfcn-cli-'));
const data = join(dir, 'data');

/** Runs the CLI in-process; returns exit code and what it printed. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

// --memory-mib 4 fits one 32x64 image's activations (2.3 MiB) but not two, so every batch of 2
// runs as 2 micro-batches: a resume that did not reuse it would split differently and differ.
const TRAIN = ['--data', data, '--classes', '3', '--batch-size', '2', '--crop', '32x64', '--lr', '0.01', '--momentum', '0.9', '--seed', '3', '--memory-mib', '4', '--quiet'];

beforeAll(async () => {
  const r = await run('synth', '--out', data, '--classes', '3', '--train', '4', '--val', '2', '--size', '48x80', '--seed', '7');
  expect(r.code, r.err).toBe(0);
});

describe('webfcn CLI', () => {
  it('trains and writes a run folder; resume reproduces an uninterrupted run bit for bit', async () => {
    const full = await run('train', ...TRAIN, '--epochs', '2', '--out', join(dir, 'full'));
    expect(full.code, full.err).toBe(0);
    expect(full.out).toMatch(/VOC2012\/train: read 4 examples/);
    expect(full.out).toMatch(/epoch 2: loss \d/);
    for (const f of ['last.safetensors', 'epoch-1.safetensors', 'epoch-2.safetensors', 'metrics.json', 'curves.svg', 'predictions.png', 'options.json']) {
      expect(existsSync(join(dir, 'full', f)), f).toBe(true);
    }
    const metrics = JSON.parse(readFileSync(join(dir, 'full', 'metrics.json'), 'utf8'));
    expect(metrics.history).toHaveLength(2);
    expect(metrics.history[1].testIoU).toHaveLength(3);
    expect(readFileSync(join(dir, 'full', 'curves.svg'), 'utf8')).toMatch(/<svg[\s\S]*polyline/);
    const grid = PNG.sync.read(readFileSync(join(dir, 'full', 'predictions.png')));
    expect(grid.width).toBeGreaterThan(3 * 80);

    const half = await run('train', ...TRAIN, '--epochs', '1', '--out', join(dir, 'half'));
    expect(half.code, half.err).toBe(0);
    const resumed = await run('train', '--resume', join(dir, 'half', 'last.safetensors'), '--epochs', '2', '--out', join(dir, 'resumed'), '--quiet');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resuming .* after epoch 1/);
    const progress = JSON.parse(readSafetensors(readFileSync(join(dir, 'resumed', 'last.safetensors'))).metadata.progress!);
    expect(progress.options).toMatchObject({ memoryMiB: 4, batchSize: 2, crop: [32, 64], data });
    expect(JSON.parse(readFileSync(join(dir, 'resumed', 'options.json'), 'utf8')).memoryMiB).toBe(4);
    const a = readSafetensors(readFileSync(join(dir, 'full', 'last.safetensors')));
    const b = readSafetensors(readFileSync(join(dir, 'resumed', 'last.safetensors')));
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    let differing = 0;
    for (const [k, t] of a.tensors) if (Buffer.compare(Buffer.from(t.data), Buffer.from(b.tensors.get(k)!.data)) !== 0) differing++;
    expect(differing).toBe(0);
    // Five training runs' worth of planning and steps: ~110 s on an idle 2-core machine.
  }, 300_000);

  it('evaluates whole images and reports metrics as JSON', async () => {
    const r = await run('evaluate', '--model', join(dir, 'full', 'last.safetensors'), '--data', data, '--split', 'val', '--json');
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out);
    expect(m.images).toBe(2);
    expect(m.pixels).toBeGreaterThan(0);
    expect(m.pixels).toBeLessThanOrEqual(2 * 48 * 80);
    expect(m.pixelAccuracy).toBeGreaterThanOrEqual(0);
    expect(m.pixelAccuracy).toBeLessThanOrEqual(1);
    expect(Object.keys(m.iou)).toHaveLength(3);
  });

  it('predicts images of any size (tiled, padded) and writes class maps and overlays', async () => {
    const img = join(dir, 'odd.png');
    const png = new PNG({ width: 70, height: 45 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) & 255;
    writeFileSync(img, PNG.sync.write(png));
    const r = await run('predict', '--model', join(dir, 'full', 'last.safetensors'), '--input', img, '--out', join(dir, 'pred'));
    expect(r.code, r.err).toBe(0);
    for (const f of ['odd.png', 'odd.overlay.png']) {
      const p = PNG.sync.read(readFileSync(join(dir, 'pred', f)));
      expect([p.height, p.width]).toEqual([45, 70]);
    }
  });

  it('upsamples 2x with the bilinear transposed conv', async () => {
    const img = join(dir, 'small.png');
    const png = new PNG({ width: 20, height: 12 });
    for (let y = 0; y < 12; y++) for (let x = 0; x < 20; x++) png.data.set([x * 10, y * 20, 128, 255], (y * 20 + x) * 4);
    writeFileSync(img, PNG.sync.write(png));
    const r = await run('upsample', '--input', img, '--out', join(dir, 'big.png'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/input image shape: 12x20, output image shape: 24x40/);
    const big = PNG.sync.read(readFileSync(join(dir, 'big.png')));
    expect([big.height, big.width]).toEqual([24, 40]);
    // Interior of a ramp: bilinear interpolation of x·10 at output column X is (X - 0.5)/2 · 10.
    const red = (x: number, y: number) => big.data[(y * 40 + x) * 4]!;
    for (const X of [5, 10, 21, 30]) expect(Math.abs(red(X, 10) - ((X - 0.5) / 2) * 10)).toBeLessThanOrEqual(1);
  });

  it('rejects bad input with errors that name the file or flag, before GPU work', async () => {
    const crop = await run('train', '--data', data, '--crop', '30x64');
    expect(crop.code).toBe(2);
    expect(crop.err).toMatch(/--crop sides must be multiples of 32/);
    const missing = await run('train', '--data', join(dir, 'nowhere'), '--crop', '32x64');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nowhere/);
    const bad = join(dir, 'bad.safetensors');
    copyFileSync(join(dir, 'full', 'last.safetensors'), bad);
    writeFileSync(bad, readFileSync(bad).subarray(0, 1000));
    const trunc = await run('evaluate', '--model', bad, '--data', data);
    expect(trunc.code).toBe(1);
    expect(trunc.err).toMatch(/bad\.safetensors/);
    const mib = await run('train', '--data', data, '--memory-mib', 'lots');
    expect(mib.code).toBe(2);
    expect(mib.err).toMatch(/--memory-mib must be a number >= 1; got 'lots'/);
    const unknown = await run('frobnicate');
    expect(unknown.code).toBe(2);
  });
});
