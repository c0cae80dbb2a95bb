// Faults: the GPU device lost in the middle of an epoch, the process killed while it writes a
// checkpoint, and a full disk under the run folder. Training must end with a clear error, and
// every checkpoint left in place must be complete and load back exactly.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveCheckpoint } from '../../src/cli/model-files';
import { defaultColormap } from '../../src/data/colormap';
import { openVOC } from '../../src/data/dataset';
import { DataLoader } from '../../src/data/loader';
import { writeSyntheticDataset } from '../../src/data/synth';
import { decodeModelFile, type CheckpointMeta } from '../../src/fcn/checkpoint';
import { fit } from '../../src/fcn/fit';
import { FcnModel, type StateDict } from '../../src/fcn/model';
import { acquireGpu, GpuError } from '../../src/gpu/device';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'webfcn-faults-'));
let data = '';
const mounts: string[] = [];
beforeAll(() => {
  data = join(dir, 'data');
  writeSyntheticDataset({ out: data, classes: 3, train: 4, val: 2, size: [40, 48], seed: 3 });
});
afterAll(async () => {
  for (const m of mounts) await sh(`umount ${m}`);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a shell command; resolves with its exit code and output. */
function sh(cmd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', cmd], { cwd: repo });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const CLI = ['node', '--import', './tools/register.js', 'src/cli/run.ts', 'train'];
const trainArgs = (out: string, epochs: number) =>
  ['--data', data, '--classes', '3', '--epochs', String(epochs), '--batch-size', '2', '--crop', '32x32', '--lr', '0.01', '--momentum', '0.9', '--out', out, '--quiet'];

/** Every non-hidden *.safetensors in `run` decodes completely (all tensors of the model it describes). */
function checkpointsIn(run: string): string[] {
  const files = readdirSync(run).filter((f) => f.endsWith('.safetensors') && !f.startsWith('.'));
  for (const f of files) {
    const ck = decodeModelFile(readFileSync(join(run, f)), f);
    expect(ck.meta.config.classes, f).toBe(3);
    expect(ck.meta.progress?.epoch, f).toBeGreaterThanOrEqual(1);
  }
  return files;
}

describe('device loss', () => {
  it('destroying the device during epoch 2 ends fit() with a device-loss error; the epoch-1 checkpoint loads back exactly', async () => {
    const train = await openVOC(data, 'train', { crop: [32, 32], classes: 3 });
    const val = await openVOC(data, 'val', { crop: [32, 32], classes: 3, preprocessor: train.pre });
    const trainLoader = new DataLoader(train, { batchSize: 2, crop: [32, 32], seed: 1 });
    const testLoader = new DataLoader(val, { batchSize: 2, crop: [32, 32], seed: 1, shuffle: false });
    const gpu = await acquireGpu();
    const config = { classes: 3, head: 'fcn32s' as const };
    const model = new FcnModel(gpu, config);
    model.initialise({ seed: 2 });
    const meta: CheckpointMeta = { config, colormap: defaultColormap(3), classNames: ['a', 'b', 'c'], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const ckpt = join(dir, 'loss', 'epoch-1.safetensors');
    mkdirSync(join(dir, 'loss'));
    let saved: StateDict | null = null;
    let savedMomentum: Map<string, Float32Array> | null = null;
    const steps: string[] = [];
    let destroyed = false;
    const run = fit(model, trainLoader, testLoader, {
      epochs: 3,
      optimizer: { lr: 0.01, weightDecay: 1e-4, momentum: 0.9, nesterov: false, reduction: 'sum' },
      onEpoch: async (m) => {
        await saveCheckpoint(ckpt, model, { ...meta, progress: { epoch: m.epoch, step: m.epoch * 2, seed: 1, options: {}, history: [m] } });
        saved = await model.readState();
        savedMomentum = await model.store.readAll('momentum');
      },
      onProgress: (p) => {
        steps.push(`${p.epoch + 1}.${p.step}`);
        if (p.epoch === 1 && p.step === 1) {
          gpu.device.destroy();
          destroyed = true;
        }
      },
    });
    // A hang is a failure too: the loop must notice the loss within a bounded time.
    const outcome = await Promise.race([
      run.then(() => 'finished', (e: unknown) => e),
      new Promise((resolve) => setTimeout(() => resolve('hang'), 60_000)),
    ]);
    expect(destroyed).toBe(true);
    expect(outcome).toBeInstanceOf(GpuError);
    expect((outcome as Error).message).toMatch(/device was lost/);
    // Training stopped in epoch 2, at the latest at its next step (the loss is reported asynchronously).
    expect(steps.slice(0, 3)).toEqual(['1.1', '1.2', '2.1']);
    expect(steps.length).toBeLessThanOrEqual(4);
    expect(saved).not.toBeNull();
    expect(readdirSync(join(dir, 'loss'))).toEqual(['epoch-1.safetensors']);
    try {
      await model.dispose();
    } catch {
      // Freeing buffers of a destroyed device may fail; nothing else uses them.
    }
    gpu.dispose();

    // A fresh device loads the checkpoint to exactly the tensors training had after epoch 1.
    const gpu2 = await acquireGpu();
    try {
      const ck = decodeModelFile(readFileSync(ckpt), ckpt);
      expect(ck.meta.progress?.epoch).toBe(1);
      const fresh = new FcnModel(gpu2, ck.meta.config);
      fresh.loadState(ck.state);
      fresh.store.loadMomentum(ck.momentum!);
      const back = await fresh.readState();
      const momentum = await fresh.store.readAll('momentum');
      let differing = 0;
      for (const [k, v] of saved!.tensors) if (Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(back.tensors.get(k)!.buffer)) !== 0) differing++;
      for (const [k, v] of savedMomentum!) if (Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(momentum.get(k)!.buffer)) !== 0) differing++;
      expect(back.tensors.size).toBe(saved!.tensors.size);
      expect(momentum.size).toBeGreaterThan(0);
      expect(differing).toBe(0);
      expect(back.numBatchesTracked).toBe(saved!.numBatchesTracked);
      await fresh.dispose();
      gpu2.check();
    } finally {
      gpu2.dispose();
    }
  });
});

describe('process killed during a checkpoint write', () => {
  it('SIGKILL while `webfcn train` writes a checkpoint leaves only complete .safetensors files', async () => {
    const out = join(dir, 'killed');
    const child = spawn(CLI[0]!, [...CLI.slice(1), ...trainArgs(out, 6)], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let alive = true;
    void exited.then(() => (alive = false));
    // After epoch 1's checkpoints are complete, watch the run folder for epoch 2's temp files
    // (each exists only while its bytes are written and synced) and kill the process the moment
    // one appears.
    let tmpSeen = '';
    const deadline = Date.now() + 150_000;
    while (alive && !tmpSeen && Date.now() < deadline) {
      if (stdout.includes('epoch 2:') && existsSync(out)) tmpSeen = readdirSync(out).find((f) => /^\..*\.safetensors\..*\.tmp$/.test(f)) ?? '';
      if (!tmpSeen) await new Promise((r) => setTimeout(r, 1));
    }
    child.kill('SIGKILL');
    await exited;
    expect(stderr, 'the run failed before any checkpoint').not.toMatch(/webfcn train:/);
    expect(tmpSeen, `no checkpoint write was caught in progress; output:\n${stdout}`).not.toBe('');
    const files = checkpointsIn(out);
    const target = tmpSeen.slice(1, tmpSeen.indexOf('.safetensors') + '.safetensors'.length);
    console.log(`killed while writing ${target}: left ${files.join(', ') || 'no checkpoints'} complete, ${readdirSync(out).filter((f) => f.endsWith('.tmp')).length} temp file(s)`);
    // Epoch 1's files are intact; the file being written is absent or its complete previous
    // version (checked above), never a prefix in its place.
    expect(files).toEqual(expect.arrayContaining(['epoch-1.safetensors', 'last.safetensors']));
    expect(['epoch-2.safetensors', 'last.safetensors']).toContain(target);
    const last = decodeModelFile(readFileSync(join(out, 'last.safetensors')), 'last.safetensors');
    // Whichever of epoch 2's files was being written, last.safetensors is still epoch 1's, whole.
    expect(last.meta.progress!.epoch).toBe(1);
  }, 180_000);
});

describe('full disk', () => {
  it('a run folder on a full file system: `webfcn train` exits 1 naming the path and the cause, leaving no partial files', async () => {
    const fs = join(dir, 'tiny');
    mkdirSync(fs);
    // A 64 KiB tmpfs gives a real ENOSPC; without mount rights, a file-size limit (ulimit -f) gives
    // EFBIG on the same write. Either way the checkpoint's write fails partway through.
    const mounted = await sh(`mount -t tmpfs -o size=64k tmpfs ${fs}`);
    if (mounted.code === 0) mounts.push(fs);
    const out = join(fs, 'run');
    const quoted = [...CLI, ...trainArgs(out, 2)].map((a) => `'${a}'`).join(' ');
    const r = await sh(mounted.code === 0 ? `exec ${quoted}` : `ulimit -f 1024 && exec ${quoted}`);
    const target = join(out, 'epoch-1.safetensors');
    console.log(`full disk (${mounted.code === 0 ? 'tmpfs 64 KiB' : 'ulimit -f 1024'}): exit ${r.code}, ${r.err.trim().split('\n').pop()}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`webfcn train: ${target}: cannot write`);
    expect(r.err).toMatch(mounted.code === 0 ? /ENOSPC|no space left/ : /EFBIG|file too large/);
    expect(r.out).toMatch(/epoch 1:/);
    // Nothing half-written in place of a target, and the temp file is gone.
    expect(readdirSync(out).sort()).toEqual(['options.json']);
  }, 180_000);
});
