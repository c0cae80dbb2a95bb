// webfcn's library entry point (Node and browsers).
export { acquireGpu, Gpu, GpuError, type AdapterReport, type AcquireOptions } from './gpu/device.js';
export { Tensor } from './gpu/tensor.js';
