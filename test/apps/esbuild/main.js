// An esbuild app using webfcn as a web developer would (README, "Use it in a web app"): esbuild
// bundles it as ESM and webfcn/worker is copied next to the bundle (esbuild leaves the worker URL as
// written). test/browser/bundlers.test.ts builds it against the packed tarball.
import { createEngine } from 'webfcn';

const state = { phase: 'start', error: null, result: null };
window.app = { state };

async function main() {
  const engine = await createEngine();
  state.backend = (await engine.info()).backend;
  state.phase = 'load';
  await engine.loadModel('/model.safetensors', { cache: false });
  // Something to segment: a small picture drawn on a canvas.
  const canvas = document.getElementById('view');
  [canvas.width, canvas.height] = [48, 64];
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#3a6'; ctx.fillRect(0, 0, 48, 64);
  ctx.fillStyle = '#c33'; ctx.fillRect(8, 12, 24, 30);
  state.phase = 'segment';
  const { width, height, categoryMask, confidenceMasks } = await engine.segment(canvas, { outputs: ['category', 'confidence'] });
  state.result = { width, height, pixels: categoryMask.length, classes: confidenceMasks.length, p0: confidenceMasks.reduce((s, m) => s + m[0], 0) };
  await engine.dispose();
  state.phase = 'done';
}

main().catch((e) => {
  state.error = `${e?.name}: ${e?.message} [code ${e?.code}]`;
  state.phase = 'failed';
});
