// The plain types of a run's options, progress and results (no GPU or model imports), so the
// public declarations (api/types.ts, the Node entry) stay free of WebGPU types. fit.ts, trainer.ts,
// export.ts, spec.ts, backend.ts and compute.ts re-export them.
import type { AdapterReport } from '../gpu/report.js';

/** The FCN head: FCN-32s (the chapter's), or FCN-16s / FCN-8s with skips from layer3 / layer2. */
export type HeadKind = 'fcn32s' | 'fcn16s' | 'fcn8s';

/** Where a model computes: WGSL kernels on a WebGPU adapter, or WebAssembly on CPU threads. */
export type BackendName = 'webgpu' | 'wasm';

/** What `webfcn info` and the engine report about the backend in use. */
export interface ComputeReport {
  backend: BackendName;
  /** One line: the adapter, or the wasm build and threads. */
  summary: string;
  /** Why this backend (and adapter) was chosen, and what was tried. */
  reason: string;
  /** WebGPU: the adapter. */
  adapter?: AdapterReport;
  /** wasm: threads working on each op, the SIMD level, whether memory is shared. */
  threads?: number;
  simd?: string;
  sharedMemory?: boolean;
}

/** The learning-rate schedule. */
export type Schedule = 'constant' | 'poly';

/** How per-image losses make the batch loss. */
export type LossReduction = 'sum' | 'mean';

export interface StepProgress {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean per-image loss of the latest step whose loss has been read (one step behind). */
  loss: number;
  /** Pixel accuracy over this epoch's batches so far (refreshed every 10 steps and at the end). */
  accuracy: number;
  imagesPerSec: number;
  /** Seconds left in this epoch at the current rate. */
  etaSec: number;
}

export interface EpochMetrics {
  epoch: number;
  /** Mean per-image loss over the epoch (the chapter's metric[0] / metric[2]). */
  loss: number;
  trainAccuracy: number;
  trainMIoU: number;
  testAccuracy: number | null;
  testMIoU: number | null;
  testIoU: number[] | null;
  examplesPerSec: number;
  seconds: number;
  lr: number;
}

export type ExportFormat = 'pth' | 'onnx';
export type ExportLayout = 'chapter' | 'torchvision';

export interface ExportOptions {
  format: ExportFormat;
  /** Key layout of a `.pth` (default: 'chapter' for FCN-32s, else 'torchvision'); ignored for ONNX. */
  layout?: ExportLayout;
  /** ONNX: fold each BatchNorm into the conv before it (default false: BatchNormalization nodes). */
  foldBatchNorm?: boolean;
}
