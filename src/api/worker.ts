// The engine worker's entry: serves EngineService over Comlink. Started by createEngine (a
// worker thread in Node, a module Web Worker in browsers); see platform.ts for how its script is
// found.
import * as Comlink from 'comlink';
import { installErrorHandler } from './errors.js';
import { installTransferHandlers, openPath, workerEndpoint } from './platform.js';
import { EngineService } from './service.js';

installTransferHandlers();
installErrorHandler();
Comlink.expose(new EngineService({ openPath }), workerEndpoint());
