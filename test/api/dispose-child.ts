// Run by engine.test.ts as its own process: uses an engine (with a progress callback, whose
// MessagePort must not outlive it), disposes it and returns from the module without calling
// process.exit: the process has to end by itself.
import { createEngine } from '../../src/api/engine.js';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample } from '../../src/data/synth.js';

const engine = await createEngine();
await engine.build({ classes: 2 });
const rng = mulberry32(1);
const images = [];
const labels = [];
for (let i = 0; i < 2; i++) {
  const s = renderSample(32, 32, 2, 1, rng);
  images.push({ data: s.rgba, width: 32, height: 32 });
  labels.push(s.label);
}
let events = 0;
await engine.train({ images, labels }, { epochs: 1, batchSize: 2, crop: [32, 32] }, () => events++);
console.log(`events ${events}`);
await engine.dispose();
const after = await engine.info().then(() => 'answered', (e: Error) => e.message);
if (!/disposed/.test(after)) throw new Error(`a call after dispose() gave: ${after}`);
console.log('disposed');
