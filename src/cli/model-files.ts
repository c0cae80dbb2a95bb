// Model files for the CLI: read any accepted format (webfcn safetensors, PyTorch .pth) into a
// model on either backend, and write checkpoints atomically.
import { readFileSync } from 'node:fs';
import { defaultClassNames, defaultColormap } from '../data/colormap.js';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeModelFile, encodeCheckpoint, type Checkpoint, type CheckpointMeta } from '../fcn/checkpoint.js';
import type { Model } from '../fcn/backend.js';
import { newModel, type Compute } from '../fcn/compute.js';

/** Reads a model file (naming it in every error) and uploads it; returns the model and its metadata. */
export function loadModelFile(compute: Compute, path: string, classes?: number): { model: Model; checkpoint: Checkpoint; notes: string[] } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ck = decodeModelFile(bytes, path, { classes });
  if (classes !== undefined && ck.meta.config.classes !== classes) {
    throw new Error(`${path}: the model has ${ck.meta.config.classes} classes, --classes says ${classes}`);
  }
  const K = ck.meta.config.classes;
  if (!ck.meta.colormap.length) ck.meta.colormap = defaultColormap(K);
  if (!ck.meta.classNames.length) ck.meta.classNames = defaultClassNames(K);
  const model = newModel(compute, ck.meta.config);
  try {
    model.loadState(ck.state);
    if (ck.momentum) model.store.loadMomentum(ck.momentum);
  } catch (e) {
    void model.dispose();
    throw e;
  }
  return { model, checkpoint: ck, notes: ck.notes ?? [] };
}

/** Writes the model (and optimiser state) as a webfcn checkpoint, atomically. */
export async function saveCheckpoint(path: string, model: Model, meta: CheckpointMeta): Promise<void> {
  const state = await model.readState();
  const momentum = model.store.hasMomentum() ? await model.store.readAll('momentum') : null;
  await writeFileAtomic(path, encodeCheckpoint({ meta, state, momentum }, model.shapes()));
}
