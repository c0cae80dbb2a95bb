// A checkpoint for export tests: every tensor non-trivial (seeded init, random BatchNorm affine
// and statistics, 7 batches tracked), so a wrongly mapped or dropped tensor changes the results.
import type { Checkpoint } from '../../src/fcn/checkpoint.js';
import { initialState } from '../../src/fcn/model.js';
import { batchNorms, type FcnConfig } from '../../src/fcn/spec.js';
import { randn } from './gpu.js';

export function testCheckpoint(cfg: FcnConfig, seed = 1): Checkpoint {
  const state = initialState(cfg, { seed });
  let s = seed * 100;
  for (const { name, channels } of batchNorms()) {
    state.tensors.set(`${name}.weight`, randn(channels, s++, 0.5, 1.5));
    state.tensors.set(`${name}.bias`, randn(channels, s++, -0.2, 0.2));
    state.tensors.set(`${name}.running_mean`, randn(channels, s++, -0.3, 0.3));
    state.tensors.set(`${name}.running_var`, randn(channels, s++, 0.5, 2));
  }
  state.numBatchesTracked = 7;
  return {
    meta: { config: cfg, colormap: [], classNames: [], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    state,
    momentum: null,
  };
}
