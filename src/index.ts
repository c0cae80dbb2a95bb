// webfcn's library entry point for Node (browsers: index.browser.ts). Its declarations name no
// WebGPU or DOM types, so a Node project type-checks with lib: ["ES2022"] and types: ["node"]
// (skipLibCheck off): the GPU classes (Gpu, Tensor, acquireGpu), whose declarations need
// @webgpu/types and with it the DOM's, are in the browser entry only.
export { GpuError, type AdapterReport, type AcquireOptions } from './gpu/report.js';

// The engine in a worker thread, behind Comlink (src/api/engine.ts).
export { createEngine } from './api/engine.js';
export { EngineError, errorCode, type EngineErrorCode } from './api/errors.js';
export { CheckpointError } from './io/errors.js';
export type * from './api/types.js';

// Node helpers the examples use: image files, class colours, the synthetic VOC-layout dataset.
export { decodeImage, encodeJpeg, encodePngRgb, encodePngGrey, type DecodedImage } from './data/codec.js';
export { VOC_CLASSES, VOC_COLORMAP, IGNORE_LABEL } from './data/colormap.js';
export { renderSample, syntheticClassNames, writeSyntheticDataset, type SynthOptions, type SynthResult } from './data/synth.js';
