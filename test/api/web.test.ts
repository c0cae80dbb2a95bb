// The web-app API in Node (worker_threads): segment() with the outputs asked for, video mode's
// latest-frame-wins, loadModel from a URL with progress, save({ weightsOnly, dtype: 'f16' }),
// build({ backbone }), AbortSignal, errors keeping class and code across the worker, and
// releaseCaches(). The DOM sources (<img>, <canvas>, VideoFrame) are covered in
// test/browser/web-api.test.ts.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/api/engine.js';
import { EngineError } from '../../src/api/errors.js';
import type { Engine, LoadProgress } from '../../src/api/types.js';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample } from '../../src/data/synth.js';
import { CheckpointError } from '../../src/io/errors.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';

const K = 3;
const [H, W] = [40, 56];

function image(seed: number, h = H, w = W) {
  const s = renderSample(h, w, K, 1, mulberry32(seed));
  return { data: s.rgba, width: w, height: h };
}

let engine: Engine;
let server: Server;
let base: string;
const files = new Map<string, Uint8Array>();

beforeAll(async () => {
  engine = await createEngine({ backend: 'webgpu' });
  await engine.build({ classes: K, seed: 3 });
  server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    // In pieces, so progress has more than one step.
    const step = Math.ceil(body.length / 4);
    for (let i = 0; i < body.length; i += step) res.write(body.subarray(i, i + step));
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
  server?.close();
});

describe('warmup()', () => {
  it('compiles segment()\'s pipelines once, reporting compile progress', async () => {
    const events: LoadProgress[] = [];
    const first = await engine.warmup({ width: W, height: H, onProgress: (p) => events.push(p) });
    expect(first.pipelines).toBeGreaterThan(5);
    expect(events.length).toBe(first.pipelines);
    expect(events.every((e) => e.phase === 'compile')).toBe(true);
    expect(events.map((e) => e.loaded)).toEqual(Array.from({ length: first.pipelines }, (_, i) => i + 1));
    expect(events.at(-1)).toEqual({ phase: 'compile', loaded: first.pipelines, total: first.pipelines });
    const again = await engine.warmup({ width: W, height: H });
    expect(again.pipelines).toBe(0); // compiled pipelines are kept per device
    await expect(engine.warmup({ width: 0, height: H })).rejects.toThrow(/warmup: width must be an integer in \[1, 8192\], got 0/);
  }, 120_000);
});

describe('segment()', () => {
  it('returns the category mask, GPU softmax confidences and the overlay asked for, leaving the caller\'s pixels attached', async () => {
    const img = image(1);
    const r = await engine.segment(img, { outputs: ['category', 'confidence', 'overlay'], alpha: 0.5 });
    expect(img.data.byteLength).toBe(H * W * 4); // not detached
    expect([r.width, r.height]).toEqual([W, H]);
    expect(r.categoryMask).toHaveLength(H * W);
    expect(r.confidenceMasks).toHaveLength(K);
    expect(r.overlay).toBeInstanceOf(Uint8ClampedArray);
    expect(r.overlay).toHaveLength(H * W * 4);
    let mismatches = 0;
    for (let i = 0; i < H * W; i++) {
      const p = r.confidenceMasks!.map((m) => m[i]!);
      expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      const best = p.indexOf(Math.max(...p));
      // argmax of the logits and of their softmax agree unless two classes are within float rounding.
      if (best !== r.categoryMask![i] && Math.abs(p[best]! - p[r.categoryMask![i]!]!) > 1e-6) mismatches++;
    }
    expect(mismatches).toBe(0);
    // The same model through the tiled predict(): same classes, same overlay.
    const pred = await engine.predict({ ...img, data: img.data.slice() }, { alpha: 0.5 });
    let same = 0;
    for (let i = 0; i < H * W; i++) if (pred.classes[i] === r.categoryMask![i]) same++;
    expect(same / (H * W)).toBeGreaterThan(0.99);
    let overlayDiff = 0;
    for (let i = 0; i < H * W; i++) {
      if (pred.classes[i] !== r.categoryMask![i]) continue;
      for (let c = 0; c < 4; c++) overlayDiff = Math.max(overlayDiff, Math.abs(pred.overlay[4 * i + c]! - r.overlay![4 * i + c]!));
    }
    expect(overlayDiff).toBe(0);
    const only = await engine.segment(image(1), { outputs: ['confidence'] });
    expect(only.categoryMask).toBeUndefined();
    expect(only.overlay).toBeUndefined();
    expect(Array.from(only.confidenceMasks![1]!.subarray(0, 50))).toEqual(Array.from(r.confidenceMasks![1]!.subarray(0, 50)));
  }, 120_000);

  it('video mode: latest frame wins, timestamps kept, and they must increase', async () => {
    const frames = [0, 1, 2, 3, 4].map((i) => image(10 + i));
    const calls = frames.map((f, i) => engine.segmentForVideo(f, 100 + 33 * i));
    const results = await Promise.all(calls);
    expect(results[0]?.timestampMs).toBe(100);
    expect(results.slice(1, 4)).toEqual([null, null, null]); // replaced while frame 0 ran
    expect(results[4]?.timestampMs).toBe(232);
    expect(results[4]?.categoryMask).toHaveLength(H * W);
    await expect(engine.segmentForVideo(frames[0]!, 232)).rejects.toThrow(RangeError);
    await expect(engine.segmentForVideo(frames[0]!, 232)).rejects.toThrow(/timestamps must increase; got 232 after 232/);
  }, 120_000);

  it('rejects bad options with a RangeError (class and code kept across the worker)', async () => {
    const err = await engine.segment(image(2), { outputs: ['mask' as 'category'] }).catch((e) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/segment: outputs must be a non-empty list of 'category', 'confidence', 'overlay', got \["mask"\]/);
  });
});

describe('errors across the worker', () => {
  it('keep their class and code: model files, no model, disposed', async () => {
    const bad = await engine.load(new TextEncoder().encode('not a model at all'), 'junk.safetensors').catch((e) => e);
    expect(bad).toBeInstanceOf(CheckpointError);
    expect(bad.code).toBe('MODEL_FILE');
    expect(bad.message).toMatch(/^junk\.safetensors: /);
    const other = await createEngine({ backend: 'webgpu' });
    try {
      const none = await other.segment(image(3)).catch((e) => e);
      expect(none).toBeInstanceOf(EngineError);
      expect(none.code).toBe('NO_MODEL');
      expect(none.message).toMatch(/segment: there is no model yet; call build\(\) or load\(\) first/);
    } finally {
      await other.dispose();
    }
    const gone = await other.info().catch((e) => e);
    expect(gone).toBeInstanceOf(EngineError);
    expect(gone.code).toBe('DISPOSED');
  }, 120_000);
});

describe('AbortSignal', () => {
  it('rejects predict() and segment() with an AbortError, before or during the call', async () => {
    const ac = new AbortController();
    ac.abort(new Error('user left'));
    const pre = await engine.predict(image(4), { signal: ac.signal }).catch((e) => e);
    expect(pre).toBeInstanceOf(EngineError);
    expect([pre.name, pre.code]).toEqual(['AbortError', 'ABORTED']);
    expect(pre.message).toMatch(/predict: aborted: user left/);
    const during = new AbortController();
    const p = engine.segment(image(5), { signal: during.signal });
    during.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    // The engine is still usable.
    expect((await engine.segment(image(5))).categoryMask).toHaveLength(H * W);
  }, 120_000);

  it('stops train() after the current step', async () => {
    const ac = new AbortController();
    const ds = { images: [image(6, 64, 64), image(7, 64, 64)], labels: [new Uint8Array(64 * 64), new Uint8Array(64 * 64).fill(1)] };
    let steps = 0;
    const run = engine.train(ds, { epochs: 50, batchSize: 2, crop: [64, 64], signal: ac.signal }, (e) => {
      if (e.type === 'step' && ++steps === 1) ac.abort();
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    const info = await engine.info(); // waits for the worker's train() to stop
    expect(info.model?.epochs).toBeLessThan(50);
    expect(steps).toBeLessThan(50);
  }, 240_000);

  it('stops an aborted predict() between tiles in the worker; the call queued behind it runs as usual', async () => {
    // 64 x 256 in 32 x 32 tiles without overlap: 2 x 8 = 16 tiles, one forward pass each.
    const big = image(11, 64, 256);
    const opts = { tile: [32, 32] as [number, number], overlap: 0 };
    const ac = new AbortController();
    const tiles: number[] = [];
    let atAbort = -1;
    const aborted = engine.predict({ ...big, data: big.data.slice() }, {
      ...opts, signal: ac.signal,
      onProgress: (p) => {
        tiles.push(p.done);
        if (p.done === 2) {
          atAbort = tiles.length;
          ac.abort();
        }
      },
    });
    const full: number[] = [];
    const next = engine.predict({ ...big, data: big.data.slice() }, { ...opts, onProgress: (p) => full.push(p.done) }); // queued behind it
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    const got = await next;
    // The worker serves calls in order, so `next` resolving means the aborted call has ended there:
    // it stopped at most a tile or two after the abort arrived (a message takes far less than a
    // tile's forward pass), not after all 16; the next call ran every tile.
    expect(atAbort).toBe(2);
    expect(tiles.length).toBeLessThanOrEqual(atAbort + 2);
    expect(full).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(got.classes).toHaveLength(64 * 256);
  }, 240_000);

  it('stops an aborted evaluate() between images; a running train() is not touched', async () => {
    const n = 12;
    const ds = () => {
      const images = Array.from({ length: n }, (_, i) => image(20 + i));
      return { images, labels: images.map(() => new Uint8Array(H * W)) };
    };
    const ac = new AbortController();
    const seen: number[] = [];
    const totals = new Set<number>();
    let atAbort = -1;
    const aborted = engine.evaluate(ds(), {
      signal: ac.signal,
      onProgress: (p) => {
        totals.add(p.total);
        seen.push(p.done);
        if (p.done === 1) {
          atAbort = seen.length;
          ac.abort();
        }
      },
    });
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    const after = await engine.evaluate(ds()); // runs once the aborted one has ended in the worker
    expect(after.images).toBe(n);
    expect(atAbort).toBe(1);
    expect([...totals]).toEqual([n]);
    expect(seen.length).toBeLessThanOrEqual(atAbort + 2);
    expect(seen.length).toBeLessThan(n);

    // Aborting a call queued behind a running train(): the call never runs, training goes on to the end.
    // The weights are put back afterwards: later tests compare against this model's outputs.
    const before = await engine.save();
    const train = { images: [image(30, 32, 32), image(31, 32, 32)], labels: [new Uint8Array(32 * 32), new Uint8Array(32 * 32).fill(1)] };
    const queued = new AbortController();
    const evaluated: number[] = [];
    let pending = null as Promise<unknown> | null;
    const r = await engine.train(train, { epochs: 4, batchSize: 2, crop: [32, 32] }, (e) => {
      if (e.type !== 'step' || pending) return;
      // Rejects at once, while training runs: caught here, checked below.
      pending = engine.evaluate(ds(), { signal: queued.signal, onProgress: (p) => evaluated.push(p.done) }).catch((err: unknown) => err);
      queued.abort();
    });
    expect(r).toMatchObject({ cancelled: false, steps: 4 });
    expect(await pending).toMatchObject({ code: 'ABORTED' });
    await engine.releaseCaches(); // after the queued evaluate's turn in the worker
    expect(evaluated).toEqual([]);
    await engine.load(before, 'before.safetensors');
  }, 240_000);
});

describe('AbortSignal on the wasm backend', () => {
  it('stops an aborted predict() between tiles although each tile runs synchronously in the worker', async () => {
    const wasm = await createEngine({ backend: 'wasm', threads: 1 });
    try {
      await wasm.build({ classes: K, seed: 3 });
      expect((await wasm.info()).backend).toBe('wasm');
      const big = image(12, 64, 512); // 8 tiles of 64 x 64
      const ac = new AbortController();
      const tiles: number[] = [];
      const aborted = wasm.predict(big, {
        tile: [64, 64], overlap: 0, signal: ac.signal,
        onProgress: (p) => {
          tiles.push(p.done);
          if (p.done === 1) ac.abort();
        },
      });
      await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
      await wasm.releaseCaches(); // after the aborted call has ended in the worker
      // Without a turn of the worker's event loop between tiles the cancel would wait for all 8.
      expect(tiles.length).toBeLessThanOrEqual(4);
    } finally {
      await wasm.dispose();
    }
  }, 240_000);
});

describe('models: save options, loadModel from URLs, build({ backbone })', () => {
  it('saves weights only in f16 (half the bytes, no momentum, no progress) and loads it back from a URL with progress', async () => {
    const full = await engine.save();
    const slim = await engine.save({ weightsOnly: true, dtype: 'f16' });
    const f = readSafetensors(slim, 'slim');
    expect([...f.tensors.keys()].some((k) => k.startsWith('optimizer.'))).toBe(false);
    expect(f.metadata.progress).toBeUndefined();
    expect(f.tensors.get('conv1.weight')!.dtype).toBe('F16');
    expect(slim.length).toBeLessThan(full.length * 0.55);
    const ref = await engine.segment(image(8), { outputs: ['confidence'] });

    files.set('/models/slim.safetensors', slim.slice());
    const events: LoadProgress[] = [];
    const r = await engine.loadModel(`${base}/models/slim.safetensors`, { onProgress: (p) => events.push(p), cache: false });
    expect(r.format).toBe('webfcn');
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.length).toBeGreaterThan(2);
    expect(downloads.at(-1)).toEqual({ phase: 'download', loaded: slim.length, total: slim.length });
    expect(events.at(-1)?.phase).toBe('decode');
    // f16 weights: probabilities move by about the weights' relative rounding (2^-11) through the network.
    const got = await engine.segment(image(8), { outputs: ['confidence'] });
    let maxDiff = 0;
    for (let k = 0; k < K; k++) for (let i = 0; i < H * W; i++) maxDiff = Math.max(maxDiff, Math.abs(got.confidenceMasks![k]![i]! - ref.confidenceMasks![k]![i]!));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(0.02);

    const missing = await engine.loadModel(`${base}/models/none.safetensors`, { cache: false }).catch((e) => e);
    expect(missing).toBeInstanceOf(EngineError);
    expect(missing.code).toBe('NETWORK');
    expect(missing.message).toMatch(/none\.safetensors answered HTTP 404/);
  }, 120_000);

  it('build({ backbone }) starts the backbone from a torchvision-layout file and the head fresh', async () => {
    const donor = readSafetensors(await engine.save({ weightsOnly: true }), 'donor');
    files.set('/models/backbone.safetensors', await engine.save({ weightsOnly: true }));
    await engine.build({ classes: K, seed: 99, backbone: `${base}/models/backbone.safetensors` });
    const built = readSafetensors(await engine.save({ weightsOnly: true }), 'built');
    for (const key of ['conv1.weight', 'layer4.1.bn2.running_var']) {
      expect(Array.from(toFloat32(built.tensors.get(key)!))).toEqual(Array.from(toFloat32(donor.tensors.get(key)!)));
    }
    expect(Array.from(toFloat32(built.tensors.get('final_conv.weight')!))).not.toEqual(Array.from(toFloat32(donor.tensors.get('final_conv.weight')!)));
  }, 120_000);
});

describe('releaseCaches()', () => {
  it('frees the per-size plans, keeping the model', async () => {
    const idle = (await engine.info()).memory.liveBytes;
    await engine.segment(image(9, 64, 96));
    const held = (await engine.info()).memory.liveBytes;
    expect(held).toBeGreaterThan(idle);
    await engine.releaseCaches();
    const after = (await engine.info()).memory.liveBytes;
    expect(after).toBeLessThan(held);
    expect((await engine.segment(image(9, 64, 96))).categoryMask).toHaveLength(64 * 96);
  }, 120_000);

  it('keeps at most maxPlans plans between calls, dropping the least recently used', async () => {
    const small = await createEngine({ backend: 'webgpu', maxPlans: 1 });
    try {
      await small.build({ classes: K, seed: 3 });
      await small.segment(image(1, 32, 64));
      await small.segment(image(1, 64, 32)); // the 32x64 plan goes
      const afterTwo = (await small.info()).memory.liveBytes;
      await small.releaseCaches();
      await small.segment(image(1, 64, 32));
      expect((await small.info()).memory.liveBytes).toBe(afterTwo); // only the 64x32 plan was held
      await expect(createEngine({ maxPlans: 0 })).rejects.toThrow(/maxPlans must be an integer in \[1, 64\], got 0/);
    } finally {
      await small.dispose();
    }
  }, 120_000);
});
