// Segments an <img>, a <canvas>, a VideoFrame, a <video> and ImageData through the browser bundle,
// as a web app would, and publishes what it saw on window.webApi for the test to check.
import { createEngine } from '../dist/browser/webfcn.js';

const state = { phase: 'start', error: null, timings: {}, progress: [], adapter: null };
// The masks are big: kept apart from the state the test polls, read once at the end.
const results = {};
window.webApi = { state, results };

/** A mask's bytes as a plain array (the test compares them with Node's). */
const bytes = (m) => Array.from(m);
const time = () => performance.now();

async function main() {
  const t0 = time();
  const engine = await createEngine({ backend: 'webgpu' });
  state.adapter = (await engine.info()).adapter;
  state.timings.engine = time() - t0;

  state.phase = 'load';
  const load = await engine.loadModel('model.safetensors', { onProgress: (p) => state.progress.push({ ...p }) });
  state.timings.load = time() - t0;
  state.model = { classes: load.model.classes, format: load.format };

  state.phase = 'img';
  const img = document.getElementById('photo');
  img.src = 'photo.png';
  const tImg = time();
  const fromImg = await engine.segment(img, { outputs: ['category', 'confidence', 'overlay'] });
  state.timings.firstMask = time() - t0;
  state.timings.firstSegment = time() - tImg;
  const [W, H] = [fromImg.width, fromImg.height];
  results.img = {
    width: W, height: H, category: bytes(fromImg.categoryMask),
    confidenceSum: fromImg.confidenceMasks.reduce((s, m) => s + m[0], 0), confidenceCount: fromImg.confidenceMasks.length,
    overlayLength: fromImg.overlay.length, overlayIsClamped: fromImg.overlay instanceof Uint8ClampedArray,
  };
  const tAgain = time();
  await engine.segment(img, { outputs: ['category'] });
  state.timings.secondSegment = time() - tAgain;

  state.phase = 'canvas';
  const canvas = document.getElementById('canvas');
  [canvas.width, canvas.height] = [W, H];
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const fromCanvas = await engine.segment(canvas);
  results.canvas = { category: bytes(fromCanvas.categoryMask) };
  const imageData = ctx.getImageData(0, 0, W, H);
  const fromImageData = await engine.segment(imageData);
  results.imageData = { category: bytes(fromImageData.categoryMask), attached: imageData.data.byteLength === W * H * 4 };

  state.phase = 'video';
  const frame = new VideoFrame(canvas, { timestamp: 0 });
  const fromFrame = await engine.segmentForVideo(frame, 1);
  results.videoFrame = { category: bytes(fromFrame.categoryMask), timestampMs: fromFrame.timestampMs, stillOpen: frame.format !== null };
  frame.close();
  // A <video> playing the canvas as a stream: redrawn until the video has a frame of it.
  const video = document.getElementById('video');
  video.srcObject = canvas.captureStream(30);
  const playing = video.play().catch((e) => e);
  for (let i = 0; i < 200 && (video.readyState < 2 || video.videoWidth === 0); i++) {
    ctx.drawImage(img, 0, 0);
    await new Promise((r) => setTimeout(r, 50));
  }
  state.videoReady = { readyState: video.readyState, width: video.videoWidth, played: String(await Promise.race([playing, new Promise((r) => setTimeout(() => r('pending'), 1000))])) };
  const fromVideo = await engine.segmentForVideo(video, 2);
  results.video = { width: fromVideo.width, height: fromVideo.height, category: bytes(fromVideo.categoryMask) };

  state.phase = 'cache';
  const before = state.progress.length;
  await engine.loadModel('model.safetensors', { onProgress: (p) => state.progress.push({ ...p }) });
  state.cachePhases = state.progress.slice(before).map((p) => p.phase);

  await engine.dispose();
  state.phase = 'done';
}

main().catch((e) => {
  state.error = `${e?.name}: ${e?.message} [code ${e?.code}]\n${e?.stack ?? ''}`;
  state.phase = 'failed';
});
