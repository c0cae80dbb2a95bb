// Evaluation: eval-mode forward (BatchNorm running statistics), argmax and the confusion
// matrix on the GPU, metrics from the confusion matrix as torchvision's segmentation reference
// defines them. Two ways: fixed crops in batches (the per-epoch test accuracy the chapter
// prints), and whole images of any size through the tiled predictor (deterministic).
import { submit, disposeDispatch, type Dispatch } from '../gpu/kernel.js';
import { Tensor } from '../gpu/tensor.js';
import { argmax } from '../gpu/ops/argmax.js';
import { confusionAccumulate } from '../gpu/ops/confusion.js';
import { segMetrics, type SegMetrics } from './metrics.js';
import { PredictionCancelled, predictClasses, type TileOptions } from './predict.js';
import type { FcnModel } from './model.js';
import type { Model } from './backend.js';

/** Confusion-matrix metrics plus what was evaluated. */
export interface EvalResult extends SegMetrics {
  images: number;
  /** Labelled (non-ignored) pixels counted. */
  pixels: number;
  confusion: number[];
}

/** Evaluates batches of (B, 3, H, W) images on the GPU, accumulating one confusion matrix. */
export class CropEvaluator {
  private plan: { B: number; H: number; W: number; labels: Tensor; pred: Tensor; dispatches: Dispatch[]; own: Dispatch[]; images: Tensor } | null = null;
  readonly confusion: Tensor;
  images = 0;

  constructor(readonly model: FcnModel) {
    const K = model.config.classes;
    this.confusion = Tensor.zeros(model.gpu, [K * K], 'eval.confusion', 'u32');
  }

  /** Adds one batch: images (B, 3, H, W), labels (B, H, W) with 255 = ignore. */
  async add(images: Float32Array, labels: Uint32Array, B: number, H: number, W: number): Promise<void> {
    const { model } = this;
    const gpu = model.gpu;
    if (!this.plan || this.plan.B !== B || this.plan.H !== H || this.plan.W !== W) {
      this.releasePlan();
      const graph = await model.plan(B, H, W, 'eval');
      const labelsT = Tensor.zeros(gpu, [B, H, W], 'eval.labels', 'u32');
      const pred = Tensor.zeros(gpu, [B, H, W], 'eval.pred', 'u32');
      const own = [
        ...[await argmax(gpu, pred, graph.logits, 'eval')].flat(),
        ...[await confusionAccumulate(gpu, this.confusion, pred, labelsT, model.config.classes, 'eval')].flat(),
      ];
      this.plan = { B, H, W, labels: labelsT, pred, dispatches: [...graph.forward, ...own], own, images: graph.images };
    }
    this.plan.images.write(images);
    this.plan.labels.write(labels);
    submit(gpu, this.plan.dispatches, 'eval.batch');
    this.images += B;
  }

  /** Metrics over everything added so far. */
  async result(): Promise<EvalResult> {
    const conf = await this.confusion.readU32();
    const K = this.model.config.classes;
    const m = segMetrics(conf, K);
    const pixels = conf.reduce((a, b) => a + b, 0);
    return { ...m, images: this.images, pixels, confusion: Array.from(conf) };
  }

  private releasePlan(): void {
    if (!this.plan) return;
    for (const d of this.plan.own) disposeDispatch(this.model.gpu, d);
    this.plan.labels.dispose();
    this.plan.pred.dispose();
    this.plan = null;
  }

  dispose(): void {
    this.releasePlan();
    this.confusion.dispose();
  }
}

/** Host confusion counts of one class map against its labels (255 and ids >= K skipped). */
export function accumulateConfusion(conf: Float64Array, pred: ArrayLike<number>, labels: ArrayLike<number>, K: number): void {
  for (let i = 0; i < pred.length; i++) {
    const t = labels[i]!;
    if (t < K) conf[t * K + pred[i]!]!++;
  }
}

/**
 * Whole-image evaluation through the tiled predictor: every pixel of every image, no crop.
 * `shouldStop` is also asked between images (PredictionCancelled counts images then); `total`
 * (the number of images, when known) is only reported with the cancellation.
 */
export async function evaluateWholeImages(
  model: Model,
  images: Iterable<{ image: Float32Array; labels: ArrayLike<number>; height: number; width: number }>,
  opts: TileOptions & { onImage?: (i: number) => void; total?: number } = {},
): Promise<EvalResult> {
  const K = model.config.classes;
  const conf = new Float64Array(K * K);
  let n = 0;
  const { onTile: _perImageTiles, ...tileOpts } = opts;
  for (const s of images) {
    if (opts.shouldStop?.()) throw new PredictionCancelled(n, opts.total, 'images');
    const pred = await predictClasses(model, s.image, s.height, s.width, tileOpts);
    accumulateConfusion(conf, pred, s.labels, K);
    n++;
    opts.onImage?.(n);
  }
  const pixels = conf.reduce((a, b) => a + b, 0);
  return { ...segMetrics(conf, K), images: n, pixels, confusion: Array.from(conf) };
}
