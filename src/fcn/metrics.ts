// Segmentation metrics from a K×K confusion matrix (rows = ground truth, columns = prediction), as
// torchvision's references/segmentation/utils.py ConfusionMatrix plus the FCN paper's
// frequency-weighted IoU. The matrix itself is counted on the GPU (src/gpu/ops/confusion.ts).

/** Metrics of a K×K confusion matrix (rows = ground truth, columns = prediction). */
export interface SegMetrics {
  /** Σ diag / Σ all. */
  pixelAccuracy: number;
  /** Per class diag / row sum (NaN where the class never occurs). */
  classAccuracy: number[];
  /** Mean of classAccuracy over classes that occur. */
  meanAccuracy: number;
  /** Per class diag / (row + column − diag) (NaN where the class is neither labelled nor predicted). */
  iou: number[];
  /** Mean of iou over its non-NaN entries. */
  meanIoU: number;
  /** Σ_c freq(c)·iou(c), freq = row sum / total, over classes that occur. */
  fwIoU: number;
}

function nanMean(v: number[]): number {
  const ok = v.filter((x) => !Number.isNaN(x));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

/** Computes pixel accuracy, mean accuracy, per-class IoU, mIoU and fwIoU from conf (K·K). */
export function segMetrics(conf: ArrayLike<number>, K: number): SegMetrics {
  if (conf.length !== K * K) throw new RangeError(`segMetrics: confusion matrix has ${conf.length} entries, K·K = ${K * K}`);
  const row = new Array<number>(K).fill(0);
  const col = new Array<number>(K).fill(0);
  const diag = new Array<number>(K).fill(0);
  let total = 0;
  for (let t = 0; t < K; t++) {
    for (let p = 0; p < K; p++) {
      const v = conf[t * K + p]!;
      row[t] += v;
      col[p] += v;
      total += v;
      if (t === p) diag[t] = v;
    }
  }
  const classAccuracy = diag.map((d, c) => d / row[c]!);
  const iou = diag.map((d, c) => d / (row[c]! + col[c]! - d));
  let fw = 0;
  for (let c = 0; c < K; c++) if (row[c]! > 0) fw += (row[c]! / total) * iou[c]!;
  return {
    pixelAccuracy: diag.reduce((a, b) => a + b, 0) / total,
    classAccuracy,
    meanAccuracy: nanMean(classAccuracy),
    iou,
    meanIoU: nanMean(iou),
    fwIoU: total > 0 ? fw : NaN,
  };
}

export const pixelAccuracy = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).pixelAccuracy;
export const meanIoU = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).meanIoU;
export const fwIoU = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).fwIoU;
