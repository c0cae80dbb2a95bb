// Confusion matrix on the GPU (integer atomics) and the segmentation metrics computed from it
// on the host, as torchvision's references/segmentation/utils.py ConfusionMatrix plus the FCN
// paper's frequency-weighted IoU.
import confusionWgsl from '../../../shaders/confusion/accumulate.wgsl';
import { GpuError, type Gpu } from '../device.js';
import { grid1d, makeDispatch, type Dispatch, type KernelDef } from '../kernel.js';
import type { Tensor } from '../tensor.js';

/** Largest K·K binned in workgroup memory (the WGSL's BINS). */
const LOCAL_BINS = 1024;
/** Pixels per workgroup of the workgroup-histogram path (WG · PIX in the WGSL). */
const LOCAL_PIXELS = 256 * 16;

export const confusionLocalKernel: KernelDef = { name: 'confusion', code: confusionWgsl, entryPoint: 'local_hist' };
export const confusionGlobalKernel: KernelDef = { name: 'confusion', code: confusionWgsl, entryPoint: 'global' };

/**
 * Plans conf(label·K + pred) += 1 over all pixels; conf (K·K) u32 ACCUMULATES (fill it with 0
 * to start an epoch). pred, labels (N, H, W) u32; labels >= K (255 = ignore) are skipped.
 */
export async function confusionAccumulate(gpu: Gpu, conf: Tensor, pred: Tensor, labels: Tensor, K: number, label?: string): Promise<Dispatch> {
  const op = 'confusion';
  if (!Number.isInteger(K) || K < 1) throw new GpuError(`K must be a positive integer, got ${K}`, op);
  if (conf.size !== K * K || conf.dtype === 'f32') throw new GpuError(`conf must be u32 with K·K = ${K * K} elements, got ${conf.dtype} [${conf.shape.join(", ")}]`, op);
  if (pred.size !== labels.size || pred.dtype === 'f32' || labels.dtype === 'f32') {
    throw new GpuError(`pred and labels must be integer tensors of one size, got ${pred.dtype} [${pred.shape.join(", ")}] and ${labels.dtype} [${labels.shape.join(", ")}]`, op);
  }
  const n = labels.size;
  const local = K * K <= LOCAL_BINS;
  return makeDispatch(gpu, local ? confusionLocalKernel : confusionGlobalKernel, {
    bindings: { pred, labels, conf },
    uniforms: { n, K },
    workgroups: local ? grid1d(gpu, n, LOCAL_PIXELS) : grid1d(gpu, n, 256),
    label,
  });
}

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
  if (conf.length !== K * K) throw new GpuError(`confusion matrix has ${conf.length} entries, K·K = ${K * K}`, 'segMetrics');
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
export const meanAccuracy = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).meanAccuracy;
export const classIoU = (conf: ArrayLike<number>, K: number): number[] => segMetrics(conf, K).iou;
export const meanIoU = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).meanIoU;
export const fwIoU = (conf: ArrayLike<number>, K: number): number => segMetrics(conf, K).fwIoU;
