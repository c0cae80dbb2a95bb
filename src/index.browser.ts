/// <reference types="@webgpu/types" preserve="true" />
// webfcn's library entry point for browsers: the same engine API as Node (a module Web Worker
// behind Comlink), without the Node-only modules (file system, PNG/JPEG files, Dawn).
export { acquireGpu, Gpu, GpuError, type AdapterReport, type AcquireOptions } from './gpu/device.js';
export { Tensor } from './gpu/tensor.js';
export { createEngine } from './api/engine.js';
export { EngineError, errorCode, type EngineErrorCode } from './api/errors.js';
export { CheckpointError } from './io/errors.js';
export type * from './api/types.js';
export { VOC_CLASSES, VOC_COLORMAP, IGNORE_LABEL } from './data/colormap.js';
