// `node --import ./tools/register.js file.ts`: runs the TypeScript sources directly (tsx) and
// loads `.wgsl` imports as strings, the same as the rollup bundle does.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-loader.js', import.meta.url);
