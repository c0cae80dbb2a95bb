// The worker API in Node: createEngine() runs the engine in a worker thread (from the TypeScript
// sources, through src/api/worker-dev.mjs) and every call crosses a Comlink boundary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { createEngine } from '../../src/api/engine.js';
import { decodeModelFile } from '../../src/fcn/checkpoint.js';
import type { Engine, MemoryDatasetInput, TrainEvent } from '../../src/api/types.js';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample, writeSyntheticDataset } from '../../src/data/synth.js';

const ROOT = new URL('../../', import.meta.url);
const K = 3;

/** n rendered samples (h, w) with RGBA images and class ids < K. */
function samples(n: number, h: number, w: number, seed: number): MemoryDatasetInput {
  const rng = mulberry32(seed);
  const images = [];
  const labels = [];
  for (let i = 0; i < n; i++) {
    const s = renderSample(h, w, K, 1 + (i % (K - 1)), rng);
    images.push({ data: s.rgba, width: w, height: h });
    labels.push(s.label);
  }
  return { images, labels };
}

/** Index of the first differing byte, -1 when equal (toEqual walks big typed arrays element by element). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  return a.findIndex((v, i) => v !== b[i]);
}

const copyImage = (img: MemoryDatasetInput['images'][number]) => ({ ...img, data: img.data.slice() });

let engine: Engine;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'webfcn-api-'));
  engine = await createEngine();
});

afterAll(async () => {
  await engine?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('createEngine (worker_threads)', () => {
  it('reports the adapter and builds a model', async () => {
    const before = await engine.info();
    expect(before.compute.backend).toBe(before.backend);
    expect(before.compute.reason).toMatch(/^auto: /);
    if (before.backend === 'webgpu') {
      expect(before.adapter!.backend).toMatch(/\w/);
      expect(['core', 'compatibility']).toContain(before.adapter!.featureLevel);
    } else {
      expect(before.backend).toBe('wasm');
      expect(before.adapter).toBeNull();
      expect(before.compute.threads).toBeGreaterThanOrEqual(1);
      expect(before.compute.simd).toMatch(/simd/);
    }
    expect(before.model).toBeNull();
    const m = await engine.build({ classes: K, seed: 1 });
    expect(m).toMatchObject({ classes: K, head: 'fcn32s', epochs: 0 });
    expect(m.parameters).toBeGreaterThan(11e6);
    expect(m.colormap).toHaveLength(K);
    const after = await engine.info();
    expect(after.model?.classes).toBe(K);
    expect(after.memory.liveBytes).toBeGreaterThan(before.memory.liveBytes + 4 * m.parameters);
  });

  it('trains from an in-memory dataset with progress events, transferring the pixels', async () => {
    await engine.build({ classes: K, seed: 1 });
    const data = samples(4, 32, 40, 1);
    const events: TrainEvent[] = [];
    const r = await engine.train(data, { epochs: 2, batchSize: 2, crop: [32, 32], lr: 0.01, momentum: 0.9, validation: samples(2, 32, 32, 9) },
      (e) => events.push(e));
    // 4 images / batch 2 = 2 steps per epoch.
    expect(r.cancelled).toBe(false);
    expect(r.steps).toBe(4);
    expect(events.map((e) => (e.type === 'step' ? `s${e.epoch}.${e.step}` : `e${e.epoch}`)))
      .toEqual(['s0.1', 's0.2', 'e1', 's1.1', 's1.2', 'e2']);
    for (const e of events) {
      if (e.type === 'step') expect(e.imagesPerSec).toBeGreaterThan(0);
      else {
        expect(Number.isFinite(e.loss)).toBe(true);
        expect(e.testAccuracy).toBeGreaterThanOrEqual(0);
        expect(e.testAccuracy).toBeLessThanOrEqual(1);
      }
    }
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(r.history[1]!.loss).toBe((events[5] as TrainEvent & { type: 'epoch' }).loss);
    // Transferred, not copied: the caller's buffers are detached.
    expect(data.images[0]!.data.byteLength).toBe(0);
    expect(data.labels[0]!.byteLength).toBe(0);
    expect((await engine.info()).model?.epochs).toBe(2);
  });

  it('predicts class maps, colours and overlays of the image size (RGBA, RGB, clamped)', async () => {
    const { images } = samples(1, 40, 50, 3);
    const rgba = images[0]!.data as Uint8Array;
    const rgb = new Uint8Array(40 * 50 * 3);
    for (let i = 0; i < 40 * 50; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
    const { colormap } = (await engine.info()).model!;
    const a = await engine.predict({ data: rgba.slice(), width: 50, height: 40 }, { alpha: 1 });
    expect([a.width, a.height, a.classes.length, a.colors.length, a.overlay.length]).toEqual([50, 40, 2000, 8000, 8000]);
    for (let i = 0; i < 2000; i++) {
      const c = colormap[a.classes[i]!]!;
      expect([a.colors[4 * i], a.colors[4 * i + 1], a.colors[4 * i + 2], a.colors[4 * i + 3]]).toEqual([...c, 255]);
    }
    // alpha 1: the overlay is the class colours.
    expect(firstDiff(a.overlay.filter((_, i) => i % 4 !== 3), a.colors.filter((_, i) => i % 4 !== 3))).toBe(-1);
    const b = await engine.predict({ data: rgb.slice(), width: 50, height: 40, channels: 3 });
    expect(firstDiff(b.classes, a.classes)).toBe(-1);
    const c = await engine.predict({ data: new Uint8ClampedArray(rgba), width: 50, height: 40 }, { alpha: 0 });
    expect(firstDiff(c.classes, a.classes)).toBe(-1);
    // alpha 0: the overlay is the image.
    expect(firstDiff(c.overlay.filter((_, i) => i % 4 !== 3), rgb)).toBe(-1);
  });

  it('segments a batch of RGBA frames on the GPU as predict() does one image at a time', async () => {
    const { images } = samples(2, 40, 50, 5);
    const frames = new Uint8Array(2 * 40 * 50 * 4);
    images.forEach((im, i) => frames.set(im.data as Uint8Array, i * 40 * 50 * 4));
    const r = await engine.segmentFrames({ data: frames.slice(), width: 50, height: 40, count: 2 });
    expect([r.width, r.height, r.count, r.classes.length]).toEqual([50, 40, 2, 4000]);
    for (let i = 0; i < 2; i++) {
      const one = await engine.predict({ data: (images[i]!.data as Uint8Array).slice(), width: 50, height: 40 });
      expect(firstDiff(r.classes.subarray(i * 2000, (i + 1) * 2000), one.classes), `frame ${i}`).toBe(-1);
    }
    await expect(engine.segmentFrames({ data: frames.subarray(8), width: 50, height: 40, count: 2 })).rejects.toThrow(/frames have 15992 bytes, expected 2x40x50x4/);
    await expect(engine.segmentFrames({ data: frames, width: 50, height: 40, count: 0 })).rejects.toThrow(/count 0 must be positive/);
  });

  it('export: a PyTorch .pth holding exactly the saved weights, and an ONNX model of the network', async () => {
    const saved = decodeModelFile(await engine.save(), 'saved.safetensors');
    const pth = await engine.export({ format: 'pth', layout: 'chapter' });
    expect(pth.subarray(0, 4)).toEqual(new Uint8Array([0x50, 0x4b, 0x03, 0x04]));
    const back = decodeModelFile(pth, 'exported.pth');
    expect(back.notes.join(' ')).toMatch(/renamed the chapter's nn.Sequential keys/);
    expect(back.meta.config).toEqual(saved.meta.config);
    expect(back.state.tensors.size).toBe(saved.state.tensors.size);
    for (const [k, v] of saved.state.tensors) expect(Buffer.from(back.state.tensors.get(k)!.buffer).equals(Buffer.from(v.slice().buffer)), k).toBe(true);
    const onnx = onnxProto.onnx.ModelProto.decode(await engine.export({ format: 'onnx', foldBatchNorm: true }));
    expect(Number(onnx.opsetImport[0]!.version)).toBe(17);
    expect(onnx.graph!.initializer.find((t) => t.name === 'final_conv.bias')!.dims.map(Number)).toEqual([K]);
    await expect(engine.export({ format: 'tflite' as 'pth' })).rejects.toThrow(/format 'tflite' is not one of pth, onnx/);
  });

  it('save -> load in a fresh worker gives bit-identical predictions and checkpoint bytes', async () => {
    const img = samples(1, 48, 64, 5).images[0]!;
    const p1 = await engine.predict(copyImage(img));
    const bytes = await engine.save();
    expect(bytes.length).toBeGreaterThan(4 * 11e6);
    const other = await createEngine();
    try {
      const loaded = await other.load(bytes.slice(), 'trained.safetensors');
      expect(loaded.format).toBe('webfcn');
      expect(loaded.model).toEqual((await engine.info()).model);
      const p2 = await other.predict(copyImage(img));
      expect(firstDiff(p2.classes, p1.classes)).toBe(-1);
      expect(firstDiff(p2.overlay, p1.overlay)).toBe(-1);
      expect(firstDiff(await other.save(), bytes)).toBe(-1);
      // A differently initialised model predicts differently, so the equality above means something.
      await other.build({ classes: K, seed: 2 });
      const p3 = await other.predict(copyImage(img));
      expect(firstDiff(p3.overlay, p1.overlay)).not.toBe(-1);
    } finally {
      await other.dispose();
    }
  });

  it('evaluate matches the confusion of its own predictions', async () => {
    const data = samples(3, 40, 48, 7);
    const want = new Array<number>(K * K).fill(0);
    for (let i = 0; i < 3; i++) {
      const p = await engine.predict(copyImage(data.images[i]!));
      data.labels[i]!.forEach((t, j) => {
        if (t < K) want[t * K + p.classes[j]!]!++;
      });
    }
    const labelled = data.labels.reduce((s, l) => s + l.filter((v) => v < K).length, 0);
    const r = await engine.evaluate(data);
    expect(r.images).toBe(3);
    expect(r.pixels).toBe(labelled);
    expect(r.confusion).toEqual(want);
    const diag = want.filter((_, i) => i % (K + 1) === 0).reduce((a, b) => a + b, 0);
    expect(r.pixelAccuracy).toBeCloseTo(diag / labelled, 12);
    expect(r.classNames).toHaveLength(K);
  });

  it('upsamples 2x with the bilinear transposed convolution', async () => {
    const [H, W] = [5, 7];
    const rgb = new Uint8Array(H * W * 3).map((_, i) => (i * 37) % 256);
    const y = await engine.upsample({ data: rgb.slice(), width: W, height: H, channels: 3 }, 2);
    expect([y.height, y.width, y.data.length]).toEqual([2 * H, 2 * W, 4 * H * W * 4]);
    // Float64 reference: y(c, oy, ox) = Σ x(c, iy, ix)·f(ky)·f(kx), oy = 2·iy + ky − 1, f = [.25, .75, .75, .25].
    const f = [0.25, 0.75, 0.75, 0.25];
    let worst = 0;
    for (let oy = 0; oy < 2 * H; oy++) {
      for (let ox = 0; ox < 2 * W; ox++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let iy = 0; iy < H; iy++) {
            const ky = oy - 2 * iy + 1;
            if (ky < 0 || ky > 3) continue;
            for (let ix = 0; ix < W; ix++) {
              const kx = ox - 2 * ix + 1;
              if (kx >= 0 && kx <= 3) s += (rgb[(iy * W + ix) * 3 + c]! / 255) * f[ky]! * f[kx]!;
            }
          }
          const want = Math.max(0, Math.min(255, Math.round(s * 255)));
          worst = Math.max(worst, Math.abs(y.data[(oy * 2 * W + ox) * 4 + c]! - want));
        }
        expect(y.data[(oy * 2 * W + ox) * 4 + 3]).toBe(255);
      }
    }
    // f32 on the GPU vs float64 here: at most one step of rounding.
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('errors in the worker arrive with their name and message', async () => {
    await expect(engine.load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 'junk.bin')).rejects.toThrow(/^junk\.bin: /);
    const err = await engine.load(new Uint8Array(64), 'zeros.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/zeros\.bin/);
    expect((err as Error).name).toMatch(/Error$/);
    const bad = await engine.train(samples(2, 32, 32, 1), { crop: [30, 30] }).catch((e: unknown) => e);
    expect((bad as Error).name).toBe('RangeError');
    expect((bad as Error).message).toMatch(/crop must be \[H, W\] with positive multiples of 32.*30,30/);
    // The class and code cross the worker too (src/api/errors.ts).
    expect(bad).toBeInstanceOf(RangeError);
    expect((bad as { code?: string }).code).toBe('INVALID_ARGUMENT');
    const ids = samples(2, 32, 32, 1);
    ids.labels[1]![5] = 7;
    await expect(engine.train(ids, { crop: [32, 32], batchSize: 2 })).rejects.toThrow(/memory\[1\] label: 1 pixels have class ids ≥ 3 \(e\.g\. 7\)/);
    await expect(engine.evaluate('/nonexistent/voc')).rejects.toThrow(/\/nonexistent\/voc/);
    // The engine still works after errors.
    expect((await engine.info()).model?.classes).toBe(K);
  });

  it('cancel() stops training between steps (VOC folder dataset)', async () => {
    writeSyntheticDataset({ out: tmp, classes: K, train: 8, val: 2, size: [32, 32], seed: 3 });
    await engine.build({ classes: K, seed: 4 });
    const events: TrainEvent[] = [];
    const r = await engine.train(tmp, { epochs: 3, batchSize: 2, crop: [32, 32] }, (e) => {
      events.push(e);
      if (events.length === 1) void engine.cancel();
    });
    // 3 epochs x 4 steps planned; the cancel lands during the next step or two.
    expect(r.cancelled).toBe(true);
    expect(r.steps).toBeGreaterThanOrEqual(1);
    expect(r.steps).toBeLessThan(4);
    expect(r.history).toEqual([]);
    expect(events.every((e) => e.type === 'step')).toBe(true);
    // A later run is not affected by the earlier cancel.
    const again = await engine.train({ path: tmp, split: 'val' }, { epochs: 1, batchSize: 2, crop: [32, 32] });
    expect(again).toMatchObject({ cancelled: false, steps: 1 });
    const ev = await engine.evaluate(tmp);
    expect(ev.images).toBe(2);
    expect(ev.pixels).toBe(2 * 32 * 32);
  });

  it('a worker that fails to start rejects createEngine with its error', async () => {
    const bad = join(tmp, 'bad-worker.mjs');
    writeFileSync(bad, "throw new Error('worker script exploded');\n");
    await expect(createEngine({ workerUrl: bad })).rejects.toThrow(/worker script exploded/);
  });

  it('dispose() frees the GPU and lets the Node process exit by itself', () => {
    const r = spawnSync(process.execPath, ['--import', './tools/register.js', 'test/api/dispose-child.ts'], {
      cwd: ROOT, encoding: 'utf8', timeout: 90_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.signal).toBeNull();
    expect(r.stdout).toMatch(/events 2\n/);
    expect(r.stdout).toMatch(/disposed\n/);
    expect(r.status).toBe(0);
  });
});
