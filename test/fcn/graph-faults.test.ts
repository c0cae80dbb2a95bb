// Planning a whole model never leaks: an injected failure at buffer allocations and bind groups
// spread over a training plan of every head (the op-level planners are walked one by one in
// test/ops/registry.test.ts) must leave live buffers and bytes where they were.
import { afterAll, describe, expect, it } from 'vitest';
import { FcnModel } from '../../src/fcn/model.js';
import type { HeadKind } from '../../src/fcn/spec.js';
import { injectFailure, releaseDeviceCaches, releaseGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

/** Failure points per head and mode: the first few, the last, and evenly spread between. */
const POINTS = 8;

describe('graph planning under injected failures', () => {
  for (const head of ['fcn32s', 'fcn8s'] as HeadKind[]) {
    for (const mode of ['buffer', 'bindGroup'] as const) {
      it(`${head}: a training plan failing at a ${mode === 'buffer' ? 'buffer allocation' : 'bind group'} frees all it made`, async () => {
        await withGpu(async (gpu) => {
          const model = new FcnModel(gpu, { classes: 3, head });
          try {
            // A clean plan first, to count what planning creates.
            const counter = injectFailure(gpu, mode, -1);
            const plan = await model.plan(1, 64, 64, 'train').finally(() => counter.restore());
            const total = counter.calls();
            await model.releasePlans();
            expect(plan.forward.length).toBeGreaterThan(0);
            expect(total, `no ${mode} created while planning`).toBeGreaterThan(10);
            const ks = new Set([0, 1, 2, total - 1]);
            for (let i = 1; i < POINTS; i++) ks.add(Math.floor((i * total) / POINTS));
            for (const k of ks) {
              releaseDeviceCaches(gpu);
              const base = gpu.stats();
              const injected = injectFailure(gpu, mode, k);
              await expect(model.plan(1, 64, 64, 'train'), `failing at ${mode} ${k} of ${total}`).rejects.toThrow(/injected/);
              injected.restore();
              expect(injected.fired()).toBe(true);
              releaseDeviceCaches(gpu);
              expect(gpu.stats(), `${head} failing at ${mode} ${k} of ${total}: ${gpu.liveLabels().slice(-5).join(', ')}`).toEqual(base);
            }
          } finally {
            await model.dispose();
          }
        });
      });
    }
  }
});
