// Trainer.stages(): the step laid out stage by stage, as the bench times it. Run one submission
// per stage, the stages must do exactly what Trainer.step does in its one encoder: the same
// parameters, momentum and confusion matrix, bit for bit (micro-batching and momentum included).
import { afterAll, describe, expect, it } from 'vitest';
import { perImageFootprint } from '../../src/fcn/graph.js';
import { FcnModel } from '../../src/fcn/model.js';
import { Trainer } from '../../src/fcn/trainer.js';
import { submit } from '../../src/gpu/kernel.js';
import { randn, releaseGpu, testGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('Trainer.stages', () => {
  it("are the step's own work: run one by one they give step()'s parameters, momentum and confusion bit for bit", async () => {
    const gpu = await testGpu();
    const cfg = { classes: 3, head: 'fcn32s' as const };
    const [B, H, W] = [4, 32, 32];
    const images = randn(B * 3 * H * W, 21);
    const labels = Uint32Array.from({ length: B * H * W }, (_, i) => (i * 5 + (i >> 7)) % 3);
    const opt = () => ({ lr: 0.05, weightDecay: 1e-3, momentum: 0.9, nesterov: false, reduction: 'sum' as const });
    // Micro-batches of 2: the budget holds two images' activations, not four.
    const budget = perImageFootprint(cfg, H, W).bytes * 2;
    const models = [new FcnModel(gpu, cfg), new FcnModel(gpu, cfg)];
    for (const m of models) m.initialise({ seed: 4 });
    const [fused, staged] = models.map((m) => new Trainer(gpu, m, opt(), budget)) as [Trainer, Trainer];
    try {
      const w0 = (await models[0]!.store.readAll('values')).get('final_conv.weight')!;
      for (let step = 0; step < 2; step++) {
        await fused.step({ images, labels }, B, H, W);
        await fused.flush();
        const st = await staged.stages(B, H, W);
        expect(st.micro).toBe(2);
        st.upload({ images, labels });
        submit(gpu, st.zero, 'test.zero');
        for (let m = 0; m < B / st.micro; m++) {
          const enc = gpu.device.createCommandEncoder({ label: 'test.copy_in' });
          st.copyIn(enc, m);
          gpu.device.queue.submit([enc.finish()]);
          for (const stage of [st.forward, st.loss, st.backward, st.metrics]) submit(gpu, stage, 'test.stage');
        }
        submit(gpu, st.sgd, 'test.sgd');
      }
      for (const which of ['values', 'momentum'] as const) {
        const [a, b] = await Promise.all(models.map((m) => m.store.readAll(which)));
        expect(b!.size).toBe(a!.size);
        const differing = [...a!].filter(([k, v]) => !sameBits(v, b!.get(k)!)).map(([k]) => k);
        expect(differing, which).toEqual([]);
      }
      // The steps moved the weights: the comparison above saw training, not two untouched models.
      expect(sameBits(w0, (await models[0]!.store.readAll('values')).get('final_conv.weight')!)).toBe(false);
      const [c1, c2] = await Promise.all([fused.peekConfusion(), staged.peekConfusion()]);
      expect([...c2]).toEqual([...c1]);
      expect(c1.reduce((s, v) => s + v, 0)).toBe(2 * B * H * W);
    } finally {
      await fused.dispose();
      await staged.dispose();
      for (const m of models) await m.dispose();
    }
    // Two models planned and stepped twice: ~65 s on a loaded 2-core machine.
  }, 300_000);
});
