// A strict TypeScript consumer in Node without DOM types (lib: ["ES2022"], types: ["node"],
// skipLibCheck: false): the Node entry (`webfcn` under the node condition, and `webfcn/node`)
// type-checks from the tarball's declarations: they name no WebGPU or DOM types.
import { readFile, writeFile } from 'node:fs/promises';
import {
  createEngine, decodeImage, encodePngRgb, EngineError, errorCode, GpuError, writeSyntheticDataset, VOC_COLORMAP,
  type Engine, type EpochMetrics, type EvaluateResult, type ImageSource, type Prediction, type SegmentResult, type WorkProgress,
} from 'webfcn';
import * as node from 'webfcn/node';

export async function run(dir: string, file: string): Promise<number> {
  const engine: Engine = await node.createEngine({ maxPlans: 2 });
  const same: typeof createEngine = node.createEngine;
  writeSyntheticDataset({ out: dir, classes: 3, train: 4, val: 2, size: [32, 32], seed: 1 });
  await engine.build({ classes: 3, head: 'fcn8s' });
  const history: EpochMetrics[] = (await engine.train(dir, { epochs: 1, batchSize: 2, crop: [32, 32] }, (e) => console.log(e.type))).history;
  const ac = new AbortController();
  const seen: WorkProgress[] = [];
  const metrics: EvaluateResult = await engine.evaluate({ path: dir, split: 'val' }, { signal: ac.signal, onProgress: (p) => seen.push(p) });
  const img = decodeImage(await readFile(file), file);
  // In Node an image source is pixels: ImageSource has no DOM members without DOM types.
  const source: ImageSource = { data: img.data, width: img.width, height: img.height };
  const r: SegmentResult = await engine.segment(source, { outputs: ['category', 'confidence'] });
  const p: Prediction = await engine.predict({ data: img.data, width: img.width, height: img.height, channels: img.channels },
    { tile: [320, 480], onProgress: (t) => seen.push(t) });
  await writeFile(`${dir}/mask.png`, encodePngRgb(p.colors, img.width, img.height));
  try {
    await engine.loadModel(new URL('file:///missing.safetensors'));
  } catch (e) {
    if (e instanceof EngineError || e instanceof GpuError) console.warn(errorCode(e), e.message);
  }
  await engine.dispose();
  void [same, VOC_COLORMAP];
  return history.length + metrics.meanIoU + (r.categoryMask?.length ?? 0) + seen.length;
}
