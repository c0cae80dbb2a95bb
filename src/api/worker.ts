// The engine worker's entry: serves EngineService over Comlink. Started by createEngine (a
// worker thread in Node, a module Web Worker in browsers); see platform.ts for how its script is
// found.
import * as Comlink from 'comlink';
import { installErrorHandler } from './errors.js';
import { installTransferHandlers, openPath, workerEndpoint } from './platform.js';
import { EngineService } from './service.js';
import { enableRelaxedSimd } from '../backends/wasm/runtime.js';

installTransferHandlers();
installErrorHandler();
// The wasm backend's fastest SIMD level (Node 20 has relaxed SIMD behind a flag; a no-op in browsers).
enableRelaxedSimd();
Comlink.expose(new EngineService({ openPath }), workerEndpoint());
