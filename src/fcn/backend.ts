// The two compute backends an FCN can live on, as one type: FcnModel (WebGPU: WGSL kernels on a
// GPUDevice) and WasmFcnModel (WebAssembly: SIMD kernels on a thread pool). Both have the same
// state-dict names, initial state, checkpoints and plan cache; code above them narrows on
// `model.backend` where the two differ (planning and running), and nowhere else.
import type { FcnModel } from './model.js';
import type { WasmFcnModel } from './wasm/model.js';
import type { BackendName } from './run-types.js';

export type { BackendName } from './run-types.js';

/** An FCN on either backend. */
export type Model = FcnModel | WasmFcnModel;
