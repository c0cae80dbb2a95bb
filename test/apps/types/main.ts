// A strict TypeScript consumer of the browser entry (skipLibCheck: false): the public API types
// check with @webgpu/types found through webfcn's own reference, and Node-only helpers are absent.
import { createEngine, EngineError, type Engine, type SegmentResult } from 'webfcn';
// @ts-expect-error decodeImage reads files: Node only, not in the browser entry's types
import { decodeImage } from 'webfcn';
import type { Gpu, Tensor } from 'webfcn';

export async function run(img: HTMLImageElement, video: HTMLVideoElement): Promise<number> {
  const engine: Engine = await createEngine({ workerUrl: new URL('webfcn/worker', import.meta.url), maxPlans: 2 });
  const ac = new AbortController();
  await engine.loadModel('/model.safetensors', { onProgress: (p) => console.log(p.phase, p.loaded, p.total ?? '?'), cache: 'indexeddb', signal: ac.signal });
  const r: SegmentResult = await engine.segment(img, { outputs: ['category', 'confidence', 'overlay'], signal: ac.signal });
  const overlay = r.overlay ? new ImageData(r.overlay, r.width, r.height) : null;
  const frame = await engine.segmentForVideo(video, performance.now());
  const bytes: Uint8Array = await engine.save({ weightsOnly: true, dtype: 'f16' });
  try {
    await engine.build({ classes: 21, backbone: '/resnet18.safetensors' });
  } catch (e) {
    if (e instanceof EngineError && e.code === 'NETWORK') console.warn(e.message);
  }
  await engine.releaseCaches();
  const t: Tensor | null = null;
  const g: Gpu | null = null;
  void [decodeImage, t, g, overlay];
  return (frame?.categoryMask?.length ?? 0) + bytes.length;
}
