// FCN-ResNet18 end to end against PyTorch (tools/golden/model.py, the chapter's own model code):
// a chapter-layout .pth loads as is; eval logits, train logits, per-image losses, every parameter
// gradient, every parameter and running statistic after one SGD step, and the next three losses
// match.
//
// Tolerances. Each element is checked as |got - want| <= atol + rtol·|want| with atol scaled to
// the tensor's magnitude (atol = 2e-5·max|want| for values, 2e-4·max|want| for gradients and the
// losses after three more steps). Why looser than single ops (1e-6 / 1e-4 absolute): 20 conv
// layers with reductions up to 4608 terms run in f32 in another summation order than PyTorch's
// CPU kernels, and train-mode BatchNorms in layer4 renormalise by batch statistics of only
// 2x2x3 = 12 values per channel, which amplifies those rounding differences in the gradients.
// Measured on llvmpipe (max |diff| / max |PyTorch|): eval logits 1.5e-6, train logits 6.3e-6,
// gradients 1.6e-5, parameters after the step 8e-7, the next three losses 4.5e-5 — each ~10x
// inside its tolerance.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { submit } from '../../src/gpu/kernel.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { decodeModelFile } from '../../src/fcn/checkpoint.js';
import type { Model } from '../../src/fcn/backend.js';
import { createTrainer } from '../../src/fcn/compute.js';
import { FcnModel } from '../../src/fcn/model.js';
import type { FcnConfig } from '../../src/fcn/spec.js';
import { CHAPTER_OPTIMIZER } from '../../src/fcn/trainer.js';
import { wasmEvalLogits } from '../../src/fcn/wasm/infer.js';
import { WasmFcnModel } from '../../src/fcn/wasm/model.js';
import { compare, releaseGpu, testGpu } from '../helpers/gpu.js';
import { testRuntime } from '../helpers/wasm.js';

// Both backends run the same checks with the same tolerances: WebGPU on the software adapter,
// wasm on two threads (the caller and one worker).
const BACKENDS = [
  {
    name: 'webgpu',
    make: async (cfg: FcnConfig): Promise<Model> => new FcnModel(await testGpu(), cfg),
    async evalLogits(model: Model, x: Float32Array, N: number, H: number, W: number): Promise<Float32Array> {
      const m = model as FcnModel;
      const plan = await m.plan(N, H, W, 'eval');
      plan.images.write(x);
      submit(m.gpu, plan.forward);
      return plan.logits.read();
    },
    async trainLogits(model: Model, N: number, H: number, W: number): Promise<Float32Array> {
      return (await (model as FcnModel).plan(N, H, W, 'train')).logits.read();
    },
  },
  {
    name: 'wasm',
    make: async (cfg: FcnConfig): Promise<Model> => new WasmFcnModel(await testRuntime(2), cfg),
    evalLogits: async (model: Model, x: Float32Array, N: number, H: number, W: number) => wasmEvalLogits(model as WasmFcnModel, x, N, H, W),
    async trainLogits(model: Model, N: number, H: number, W: number): Promise<Float32Array> {
      const m = model as WasmFcnModel;
      const plan = m.plan(N, H, W, 'train');
      return m.rt.read(plan.logits.ptr, N * m.config.classes * H * W);
    },
  },
];

const DIR = new URL('../golden/model/', import.meta.url);
const golden = (name: string) => {
  const f = readSafetensors(readFileSync(new URL(name, DIR)), name);
  return (key: string) => {
    const t = f.tensors.get(key);
    if (!t) throw new Error(`${name} has no '${key}'`);
    return toFloat32(t);
  };
};

/** ‖got − want‖₂ / ‖want‖₂ */
function relL2(got: Float32Array, want: Float32Array): number {
  let e = 0, w = 0;
  for (let i = 0; i < want.length; i++) {
    e += (got[i]! - want[i]!) ** 2;
    w += want[i]! ** 2;
  }
  return Math.sqrt(e / w);
}

function expectClose(what: string, got: Float32Array, want: Float32Array, relAtol: number, rtol: number): number {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  const r = compare(got, want, relAtol * scale + 1e-7, rtol);
  if (!r.ok) throw new Error(`${what}: element ${r.worst} is ${r.got}, PyTorch ${r.want} (max |diff| ${r.maxAbs}, scale ${scale})`);
  return r.maxAbs / (scale || 1);
}

afterAll(releaseGpu);

describe.each(BACKENDS)('FCN-ResNet18 vs PyTorch (the chapter model, 2 x 3 x 64 x 96, K = 21) on $name', (backend) => {
  it('loads the chapter .pth and matches eval, train, gradients, one SGD step and the next losses', async () => {
    const ck = decodeModelFile(readFileSync(new URL('fcn_chapter.pth', DIR)), 'fcn_chapter.pth');
    expect(ck.meta.config).toEqual({ classes: 21, head: 'fcn32s' });
    expect(ck.notes.join(' ')).toMatch(/renamed the chapter's nn.Sequential keys/);
    const model = await backend.make(ck.meta.config);
    model.loadState(ck.state);
    const fwd = golden('forward.safetensors');
    const x = fwd('x');
    const labels = Uint32Array.from(fwd('labels'));
    const [N, H, W] = [2, 64, 96];
    const worst: Record<string, number> = {};

    worst.eval_logits = expectClose('eval logits', await backend.evalLogits(model, x, N, H, W), fwd('eval_logits'), 2e-5, 1e-3);

    const trainer = createTrainer(model, { ...CHAPTER_OPTIMIZER });
    await trainer.step({ images: x, labels }, N, H, W);
    const losses = await trainer.flush();
    worst.losses = expectClose('per-image losses', losses!, fwd('losses'), 2e-5, 1e-3);
    worst.train_logits = expectClose('train logits', await backend.trainLogits(model, N, H, W), fwd('train_logits'), 2e-5, 1e-3);

    const grads = golden('grads.safetensors');
    const gotGrads = await model.store.readAll('grads');
    let worstGrad = 0;
    for (const [name, g] of gotGrads) worstGrad = Math.max(worstGrad, expectClose(`grad ${name}`, g, grads(`grad.${name}`), 2e-4, 1e-2));
    worst.grads = worstGrad;

    const after = golden('after_step.safetensors');
    const state = await model.readState();
    let worstAfter = 0;
    for (const [name, v] of state.tensors) worstAfter = Math.max(worstAfter, expectClose(`after-step ${name}`, v, after(`after.${name}`), 2e-5, 1e-3));
    worst.after_step = worstAfter;
    expect(state.numBatchesTracked).toBe(7 + 1);

    const next = golden('steps.safetensors')('next_losses');
    const got: number[] = [];
    for (let s = 0; s < 3; s++) {
      await trainer.step({ images: x, labels }, N, H, W);
      got.push(...(await trainer.flush())!);
    }
    worst.next_losses = expectClose('next losses', Float32Array.from(got), next, 2e-4, 1e-3);
    console.log(`FCN parity on ${backend.name}, max |diff| / max |PyTorch| per quantity:`, worst);
    await trainer.dispose();
    await model.dispose();
  });
});

describe.each(BACKENDS)('FCN-ResNet18 vs PyTorch float64 at the chapter crop size (1 x 3 x 320 x 480, K = 21) on $name', (backend) => {
  // Long reductions at real sizes: the stem's weight gradient sums over 160x240 output pixels,
  // the head's backward sums 86016 terms, BatchNorm reduces 38400 values per channel. Here f32
  // itself is the limit: PyTorch's own f32 gradients of the early layers differ from float64 by
  // ~3e-3 of their scale (relu and max-pool decisions flip on near-ties). The reference is
  // therefore PyTorch in float64, and webfcn must be within 2x PyTorch-f32's own error (or 2e-5 of
  // the scale, whichever is larger) for every tensor.
  it('matches the train-mode losses and the gradients of stem, layer1, layer4 and head', async () => {
    const ck = decodeModelFile(readFileSync(new URL('fcn_chapter.pth', DIR)), 'fcn_chapter.pth');
    const model = await backend.make(ck.meta.config);
    model.loadState(ck.state);
    const file = readSafetensors(readFileSync(new URL('full_size.safetensors', DIR)), 'full_size.safetensors');
    const full = golden('full_size.safetensors');
    const torchF32 = JSON.parse(file.metadata.torch_f32_error!) as Record<string, number>;
    const trainer = createTrainer(model, { ...CHAPTER_OPTIMIZER, lr: 0, weightDecay: 0 });
    await trainer.step({ images: full('x'), labels: Uint32Array.from(full('labels')) }, 1, 320, 480);
    const ours: Record<string, number> = {};
    const bound = (k: string) => Math.max(2 * torchF32[k]!, 2e-5);
    ours.losses = expectClose('losses', (await trainer.flush())!, full('losses'), bound('losses'), 0);
    const grads = await model.store.readAll('grads');
    for (const name of Object.keys(torchF32).filter((k) => k !== 'losses')) {
      const backbone = !name.startsWith('final_conv') && !name.startsWith('transpose_conv');
      if (backbone && backend.name === 'wasm') {
        // On wasm one ReLU decision of 76800 in layer4.1 flips (its input is within f32 rounding of
        // 0, and it carries the largest gradient there): BatchNorm spreads that one gradient over its
        // channel and everything below inherits it, so the max-norm error reaches 1.6e-1 in one row
        // of layer4.1.conv2's gradient while the rest agrees. Checked as a relative L2 error instead
        // (measured 1.3e-2 – 1.8e-2 for every backbone tensor; bound 3e-2); the losses and the head,
        // above the flip, keep the max-norm bound.
        ours[name] = relL2(grads.get(name)!, full(`grad.${name}`));
        expect(ours[name], `grad ${name}: relative L2 error`).toBeLessThan(3e-2);
      } else {
        ours[name] = expectClose(`grad ${name}`, grads.get(name)!, full(`grad.${name}`), bound(name), 0);
      }
    }
    console.log(`max |diff| / max |float64| at 320x480 — webfcn on ${backend.name}:`, ours, 'PyTorch f32:', torchF32);
    await trainer.dispose();
    await model.dispose();
  });
});
