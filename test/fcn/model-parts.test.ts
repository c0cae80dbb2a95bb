// The model's pieces: architecture shapes, initialisation (the chapter's bilinear kernel,
// torchvision's Kaiming init), checkpoint round trips (bit-exact), PyTorch file layouts
// (torchvision and the chapter's), the pretrained backbone, FCN-16s/8s, micro-batching, and
// divergence detection.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { submit } from '../../src/gpu/kernel.js';
import { decodeCheckpoint, decodeModelFile, decodePretrainedBackbone, encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { bilinearKernel } from '../../src/fcn/init.js';
import { FcnModel, initialState } from '../../src/fcn/model.js';
import { fcnParamSpecs } from '../../src/fcn/spec.js';
import { CHAPTER_OPTIMIZER, Trainer } from '../../src/fcn/trainer.js';
import { randn, releaseGpu, testGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

/** Bit-identical float arrays (fast: one byte comparison, not a deep equal of millions of values). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
const GOLDEN = new URL('../golden/model/', import.meta.url);

describe('architecture', () => {
  it('has exactly the state-dict keys, order and shapes of torchvision resnet18 (without fc) + the chapter head', () => {
    // Recorded from torchvision 0.14 by tools/golden/pth.py.
    const file = JSON.parse(readFileSync(new URL('../golden/pth/resnet18_keys.json', import.meta.url), 'utf8')) as {
      torchvision_resnet18: Array<[string, number[], string]>;
    };
    const tv = file.torchvision_resnet18.filter(([k]) => !k.startsWith('fc.') && !k.endsWith('num_batches_tracked'));
    const head: Array<[string, number[]]> = [['final_conv.weight', [21, 512, 1, 1]], ['final_conv.bias', [21]], ['transpose_conv.weight', [21, 21, 64, 64]], ['transpose_conv.bias', [21]]];
    const ours = fcnParamSpecs({ classes: 21, head: 'fcn32s' }).map((s) => [s.name, s.shape]);
    expect(ours).toEqual([...tv.map(([k, shape]) => [k, shape]), ...head]);
    const trained = fcnParamSpecs({ classes: 21, head: 'fcn32s' }).filter((s) => s.kind === 'param').reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    // torchvision resnet18 has 11,689,512 parameters; fc has 513,000; the head adds 10,773 + 1,806,357.
    expect(trained).toBe(11_689_512 - 513_000 + 512 * 21 + 21 + 21 * 21 * 64 * 64 + 21);
  });

  it('gives features of 1 x 512 x 10 x 15 and logits of the input size for 320 x 480', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 1 });
    const plan = await model.plan(1, 320, 480, 'eval');
    expect(plan.logits.shape).toEqual([1, 3, 320, 480]);
    const features = plan.forward.filter((d) => d.label.includes('final_conv'));
    expect(features.length).toBeGreaterThan(0);
    await expect(model.plan(1, 100, 480, 'eval')).rejects.toThrow(/100x480 is not a multiple of 32/);
    await model.dispose();
  });
});

describe('initialisation', () => {
  it('bilinear_kernel matches the chapter (diagonal channels only, the 4x4 filter)', () => {
    const w = bilinearKernel(3, 3, 4);
    // factor 2, center 1.5: filt[i] = 1 - |i - 1.5| / 2 = [0.25, 0.75, 0.75, 0.25]
    const f = [0.25, 0.75, 0.75, 0.25];
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 4; j++) expect(w[((a * 3 + b) * 4 + i) * 4 + j]).toBeCloseTo(a === b ? f[i]! * f[j]! : 0, 7);
        }
      }
    }
  });

  it('follows torchvision: Kaiming-normal fan_out convs, BN weight 1 bias 0; the head bilinear; seeded', () => {
    const a = initialState({ classes: 5, head: 'fcn32s' }, { seed: 3 });
    const b = initialState({ classes: 5, head: 'fcn32s' }, { seed: 3 });
    const c = initialState({ classes: 5, head: 'fcn32s' }, { seed: 4 });
    expect(sameBits(a.tensors.get('layer3.0.conv1.weight')!, b.tensors.get('layer3.0.conv1.weight')!)).toBe(true);
    expect(sameBits(a.tensors.get('layer3.0.conv1.weight')!, c.tensors.get('layer3.0.conv1.weight')!)).toBe(false);
    const w = a.tensors.get('layer3.0.conv1.weight')!; // (256, 128, 3, 3): std sqrt(2 / (256·9))
    let s2 = 0;
    for (const v of w) s2 += v * v;
    expect(Math.sqrt(s2 / w.length)).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
    expect([...a.tensors.get('bn1.weight')!].every((v) => v === 1)).toBe(true);
    expect([...a.tensors.get('bn1.bias')!].every((v) => v === 0)).toBe(true);
    expect(sameBits(a.tensors.get('transpose_conv.weight')!, bilinearKernel(5, 5, 64))).toBe(true);
    const x = initialState({ classes: 5, head: 'fcn32s' }, { seed: 3, transposeInit: 'xavier' }).tensors.get('transpose_conv.weight')!;
    expect(sameBits(x, bilinearKernel(5, 5, 64))).toBe(false);
  });
});

describe('checkpoints', () => {
  it('a webfcn checkpoint loads back bit-exactly, with metadata and momentum', async () => {
    const gpu = await testGpu();
    const cfg = { classes: 4, head: 'fcn16s' as const };
    const model = new FcnModel(gpu, cfg);
    model.initialise({ seed: 9 });
    model.store.numBatchesTracked = 42;
    const state = await model.readState();
    const momentum = new Map([...state.tensors].filter(([k]) => !k.includes('running')).map(([k, v]) => [k, v.map((x) => x * 0.5)]));
    const meta = { config: cfg, colormap: [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]] as Array<[number, number, number]>, classNames: ['bg', 'a', 'b', 'c'], mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.2, 0.2, 0.2] as [number, number, number] };
    const bytes = encodeCheckpoint({ meta, state, momentum }, model.shapes());
    const back = decodeCheckpoint(bytes, 'mem');
    expect(back.meta.config).toEqual(cfg);
    expect(back.meta.colormap).toEqual(meta.colormap);
    expect(back.meta.std).toEqual(meta.std);
    expect(back.state.numBatchesTracked).toBe(42);
    for (const [k, v] of state.tensors) expect(sameBits(back.state.tensors.get(k)!, v), k).toBe(true);
    for (const [k, v] of momentum) expect(sameBits(back.momentum!.get(k)!, v), k).toBe(true);
    const model2 = new FcnModel(gpu, cfg);
    model2.loadState(back.state);
    const again = await model2.readState();
    for (const [k, v] of state.tensors) expect(sameBits(again.tensors.get(k)!, v), k).toBe(true);
    await model.dispose();
    await model2.dispose();
  });

  it('refuses a state dict that does not fit, naming every bad key and both shapes', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 4, head: 'fcn32s' });
    const state = initialState({ classes: 5, head: 'fcn32s' });
    state.tensors.delete('layer1.0.conv1.weight');
    expect(() => model.loadState(state)).toThrow(/missing 'layer1.0.conv1.weight' \[64,64,3,3\].*'final_conv.weight' has 2560 values, expected \[4,512,1,1\]/);
    await model.dispose();
  });

  it('loads the torchvision-layout .pth of the same model to the same tensors as the chapter-layout one', () => {
    const chapter = decodeModelFile(readFileSync(new URL('fcn_chapter.pth', GOLDEN)), 'fcn_chapter.pth');
    const tv = decodeModelFile(readFileSync(new URL('fcn_torchvision.pth', GOLDEN)), 'fcn_torchvision.pth');
    expect(tv.meta.config).toEqual(chapter.meta.config);
    expect(tv.state.numBatchesTracked).toBe(7);
    for (const [k, v] of chapter.state.tensors) expect(sameBits(tv.state.tensors.get(k)!, v), k).toBe(true);
  });

  it('loads an ImageNet-format torchvision resnet18 file as the backbone, dropping fc with a note', () => {
    const file = new URL('resnet18_torchvision.pth', GOLDEN);
    expect(existsSync(file)).toBe(true);
    const { tensors, notes } = decodePretrainedBackbone(readFileSync(file), 'resnet18.pth');
    expect(notes.join(' ')).toMatch(/dropped the ImageNet classifier \(fc.weight, fc.bias\)/);
    expect(tensors.get('conv1.weight')!.length).toBe(64 * 3 * 7 * 7);
    expect(tensors.has('fc.weight')).toBe(false);
    expect([...tensors.keys()].some((k) => k.startsWith('final_conv'))).toBe(false);
  });
});

describe('training paths', () => {
  it('FCN-16s and FCN-8s: skip-layer gradients match central finite differences; outputs at the input size', async () => {
    const gpu = await testGpu();
    const images = randn(2 * 3 * 64 * 64, 5);
    const labels = Uint32Array.from({ length: 2 * 64 * 64 }, (_, i) => (i >> 6) % 3);
    const frozen = { ...CHAPTER_OPTIMIZER, lr: 0, weightDecay: 0 };
    const probes = { fcn16s: ['score_layer3.bias', 'upscore2.weight', 'final_conv.bias'], fcn8s: ['score_layer2.bias', 'upscore_pool4.weight', 'score_layer3.bias'] };
    for (const head of ['fcn16s', 'fcn8s'] as const) {
      const model = new FcnModel(gpu, { classes: 3, head });
      model.initialise({ seed: 2 });
      const trainer = new Trainer(gpu, model, frozen);
      // lr 0: the step leaves parameters alone; train-mode BN uses batch statistics, so the
      // loss is a pure function of the parameters.
      const loss = async () => {
        await trainer.step({ images, labels }, 2, 64, 64);
        const l = (await trainer.flush())!;
        return l[0]! + l[1]!;
      };
      await loss();
      const grads = await model.store.readAll('grads');
      const values = await model.store.readAll('values');
      for (const name of probes[head]) {
        const g = grads.get(name)!;
        // The element with the largest gradient: the finite difference is well above f32 noise there.
        let idx = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[idx]!)) idx = i;
        const h = 1e-2;
        const v = values.get(name)!;
        const at = async (delta: number) => {
          const w = v.slice();
          w[idx] = w[idx]! + delta;
          model.store.get(name).write(w);
          return loss();
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        model.store.get(name).write(v);
        // f32 losses (~1e-7 relative) over 2h = 2e-2 bound the difference's noise to ~1e-4.
        expect(Math.abs(fd - g[idx]!), `${head} ${name}[${idx}]: analytic ${g[idx]}, numeric ${fd}`).toBeLessThanOrEqual(0.03 * Math.abs(g[idx]!) + 2e-3);
      }
      const plan = await model.plan(1, 64, 64, 'eval');
      expect(plan.logits.shape).toEqual([1, 3, 64, 64]);
      await trainer.dispose();
      await model.dispose();
    }
  });

  it('micro-batches accumulate exactly the gradients of their parts (one encoder per step)', async () => {
    const gpu = await testGpu();
    const cfg = { classes: 3, head: 'fcn32s' as const };
    const images = randn(4 * 3 * 32 * 32, 11);
    const labels = Uint32Array.from({ length: 4 * 32 * 32 }, (_, i) => (i * 7) % 3);
    const noUpdate = { ...CHAPTER_OPTIMIZER, lr: 0, weightDecay: 0 };
    // One step of 4 images split into micro-batches of 2 (memory budget forces the split).
    const m1 = new FcnModel(gpu, cfg);
    m1.initialise({ seed: 5 });
    const budget = (await import('../../src/fcn/graph.js')).perImageFootprint(cfg, 32, 32).bytes * 2;
    const split = new Trainer(gpu, m1, noUpdate, budget);
    await split.step({ images, labels }, 4, 32, 32);
    const lossesSplit = (await split.flush())!;
    const gSplit = await m1.store.readAll('grads');
    // The same halves as two separate steps of 2; their gradients summed.
    const m2 = new FcnModel(gpu, cfg);
    m2.initialise({ seed: 5 });
    const whole = new Trainer(gpu, m2, noUpdate);
    const half = (a: Float32Array | Uint32Array, i: number) => a.subarray((i * a.length) / 2, ((i + 1) * a.length) / 2);
    await whole.step({ images: half(images, 0) as Float32Array, labels: half(labels, 0) as Uint32Array }, 2, 32, 32);
    const l0 = (await whole.flush())!;
    const g0 = await m2.store.readAll('grads');
    await whole.step({ images: half(images, 1) as Float32Array, labels: half(labels, 1) as Uint32Array }, 2, 32, 32);
    const l1 = (await whole.flush())!;
    const g1 = await m2.store.readAll('grads');
    expect([...lossesSplit]).toEqual([...l0, ...l1]);
    for (const [k, g] of gSplit) {
      const want = g0.get(k)!.map((v, i) => v + g1.get(k)![i]!);
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      // Same kernels, same order; only the final add of the two halves is rounded differently.
      let worst = 0;
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - want[i]!));
      expect(worst, k).toBeLessThanOrEqual(1e-6 * scale + 1e-9);
    }
    await split.dispose();
    await whole.dispose();
    await m1.dispose();
    await m2.dispose();
  });

  it('a run of eval forwards returns GPU buffers and bytes to their baseline', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 3, head: 'fcn32s' });
    model.initialise({ seed: 1 });
    await (await model.plan(1, 32, 32, 'eval')).logits.read(); // scratch buffers grow once
    await model.releasePlans();
    const base = gpu.stats();
    for (let i = 0; i < 3; i++) {
      const plan = await model.plan(1, 32, 32, 'eval');
      plan.images.write(randn(3 * 32 * 32, i));
      submit(gpu, plan.forward);
      await plan.logits.read();
      await model.releasePlans();
    }
    expect(gpu.stats()).toEqual(base);
    await model.dispose();
  });
});

describe('prediction', () => {
  it('single-tile prediction (argmax on the GPU) equals argmax of the tiled logits', async () => {
    const gpu = await testGpu();
    const model = new FcnModel(gpu, { classes: 4, head: 'fcn32s' });
    model.initialise({ seed: 8 });
    const [H, W] = [45, 70]; // padded to one 64 x 96 tile
    const image = randn(3 * H * W, 12, -2, 2);
    const { predictClasses, predictLogits, argmaxClasses } = await import('../../src/fcn/predict.js');
    const onGpu = await predictClasses(model, image, H, W);
    const onHost = argmaxClasses(await predictLogits(model, image, H, W), 4, H, W);
    expect(onGpu.length).toBe(H * W);
    let differ = 0;
    for (let i = 0; i < H * W; i++) if (onGpu[i] !== onHost[i]) differ++;
    expect(differ).toBe(0);
    expect(new Set(onGpu).size).toBeGreaterThan(1);
    await model.dispose();
  });
});
