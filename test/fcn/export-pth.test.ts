// `webfcn export --format pth`: the archive PyTorch 1.13 loads with torch.load(weights_only=True)
// into the chapter's network (or torchvision-named FCN-32s/16s/8s) with strict key checking, every
// tensor equal bit for bit (checked by tools/torch/check_export.py), laid out as torch.save lays
// it out, and loading back into webfcn unchanged. No GPU: export is host-only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { decodeModelFile, encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { ExportError, encodePthExport, exportCheckpoint, torchStateDict } from '../../src/fcn/export.js';
import { batchNorms, fcnParamSpecs, type FcnConfig } from '../../src/fcn/spec.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { readPthFile } from '../../src/io/pth.js';
import { ZipArchive } from '../../src/io/zip.js';
import { testCheckpoint } from '../helpers/export.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'webfcn-export-pth-'));

function shapes(cfg: FcnConfig): Map<string, number[]> {
  return new Map(fcnParamSpecs(cfg).map((s) => [s.name, s.shape]));
}

function python(args: string[]): { code: number | null; report: Record<string, unknown>; err: string } {
  const r = spawnSync('/usr/bin/python3', args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(line);
  } catch {
    /* the assertion below shows stderr */
  }
  return { code: r.status, report, err: r.stderr };
}

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('export to PyTorch .pth', () => {
  const cases: Array<[FcnConfig, 'chapter' | 'torchvision']> = [
    [{ classes: 5, head: 'fcn32s' }, 'chapter'],
    [{ classes: 5, head: 'fcn32s' }, 'torchvision'],
    [{ classes: 4, head: 'fcn8s' }, 'torchvision'],
    [{ classes: 3, head: 'fcn16s' }, 'torchvision'],
  ];
  for (const [cfg, layout] of cases) {
    it(`${cfg.head}, ${layout} layout: torch.load(weights_only=True) + strict load_state_dict, every tensor bit for bit`, async () => {
      const ck = testCheckpoint(cfg);
      const ref = join(dir, `${cfg.head}-${layout}.safetensors`);
      const pth = join(dir, `${cfg.head}-${layout}.pth`);
      await writeFileAtomic(ref, encodeCheckpoint(ck, shapes(cfg)));
      // Through the CLI, from the webfcn checkpoint file.
      const r = await run('export', '--model', ref, '--format', 'pth', '--layout', layout, '--out', pth);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`${layout} layout`);
      const py = python(['tools/torch/check_export.py', '--pth', pth, '--layout', layout, '--reference', ref]);
      expect(py.code, py.err).toBe(0);
      const nBn = batchNorms().length;
      expect(py.report).toMatchObject({ bitwise_equal: true, max_abs_diff: 0, num_batches_tracked: 7, head: cfg.head, classes: cfg.classes });
      expect(py.report.tensors).toBe(fcnParamSpecs(cfg).length + nBn);
      expect((py.report.keys as string[])[0]).toBe(layout === 'chapter' ? '0.weight' : 'conv1.weight');

      // Back into webfcn: the same tensors, the same counter.
      const back = decodeModelFile(readFileSync(pth), pth);
      expect(back.meta.config).toEqual(cfg);
      expect(back.state.numBatchesTracked).toBe(7);
      expect([...back.state.tensors.keys()].sort()).toEqual([...ck.state.tensors.keys()].sort());
      for (const [k, v] of ck.state.tensors) {
        const b = back.state.tensors.get(k)!;
        expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)), k).toBe(true);
      }
    });
  }

  it('the PyTorch check fails when one value differs (so its pass above means something)', async () => {
    const cfg: FcnConfig = { classes: 2, head: 'fcn32s' };
    const ck = testCheckpoint(cfg, 4);
    const pth = join(dir, 'differs.pth');
    await writeFileAtomic(pth, encodePthExport(ck, 'chapter'));
    const w = ck.state.tensors.get('layer3.1.bn2.running_var')!;
    w[17] = Math.fround(w[17]! * (1 + 2 ** -20)); // one float32 ulp or so
    const ref = join(dir, 'differs.safetensors');
    await writeFileAtomic(ref, encodeCheckpoint(ck, shapes(cfg)));
    const py = python(['tools/torch/check_export.py', '--pth', pth, '--layout', 'chapter', '--reference', ref]);
    expect(py.code, py.err).toBe(1);
    expect(py.report).toMatchObject({ bitwise_equal: false, mismatched: ['layer3.1.bn2.running_var'] });
    expect(py.report.max_abs_diff).toBeGreaterThan(0);
  });

  it('lays records out as torch.save does: archive/data.pkl first, stored, data 64-byte aligned, int64 counters', () => {
    const ck = testCheckpoint({ classes: 2, head: 'fcn32s' });
    const bytes = encodePthExport(ck, 'chapter');
    const zip = new ZipArchive(bytes, 'export.pth');
    const names = [...zip.entries.keys()];
    expect(names[0]).toBe('archive/data.pkl');
    expect(names.at(-1)).toBe('archive/version');
    const storages = names.filter((n) => n.startsWith('archive/data/'));
    expect(storages.length).toBe(torchStateDict(ck, 'chapter').length);
    // Sorted by key as strings, as PyTorch writes them.
    expect(storages.slice(0, 4)).toEqual(['archive/data/0', 'archive/data/1', 'archive/data/10', 'archive/data/100']);
    for (const e of zip.entries.values()) {
      expect(e.method, e.name).toBe(0);
      expect(e.dataOffset % 64, e.name).toBe(0);
    }
    const f = readPthFile(bytes, 'export.pth');
    expect(f.version).toBe('3');
    expect(f.byteorder).toBe('little');
    expect(f.prefix).toBe('archive');
    const nbt = f.stateDict.get('1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
  });

  it('refuses what has no such layout, and bad flags, with clear errors', async () => {
    const ck = testCheckpoint({ classes: 3, head: 'fcn8s' });
    expect(() => exportCheckpoint(ck, { format: 'pth', layout: 'chapter' })).toThrow(ExportError);
    expect(() => exportCheckpoint(ck, { format: 'pth', layout: 'chapter' })).toThrow(/no skip connections.*torchvision/);
    ck.state.tensors.delete('layer2.0.conv1.weight');
    expect(() => exportCheckpoint(ck, { format: 'pth', layout: 'torchvision' })).toThrow(/no 'layer2.0.conv1.weight'/);
    const bad = await run('export', '--model', join(dir, 'none.safetensors'), '--format', 'tflite', '--out', join(dir, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--format must be one of pth, onnx; got 'tflite'/);
    const missing = await run('export', '--model', join(dir, 'none.safetensors'), '--format', 'pth', '--out', join(dir, 'x'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/none\.safetensors: cannot read \(ENOENT\)/);
  });
});
