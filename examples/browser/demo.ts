// The browser demo: the same worker API as Node (createEngine from the browser bundle), driven by
// a page. Everything on the GPU (shader compilation included) happens in the engine's module
// worker; this thread renders the synthetic data, draws canvases and answers the user.
//
// Query parameters preset the training form (classes, images, size, crop, batch, epochs, lr,
// momentum) and more (seed; held: how many held-out images; maxSide: the largest side a user's
// image is scaled to); `?autotrain=1` trains once the engine is up. The page's state is on
// `window.webfcnDemo` for scripts that drive it (the browser tests).
import { createEngine, type Engine, type EngineInfo, type EpochMetrics, type ModelInfo, type Prediction, type TrainEvent } from 'webfcn';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample, syntheticClassNames } from '../../src/data/synth-render.js';

type Rgba = { data: Uint8Array; width: number; height: number };
interface Sample { image: Rgba; label: Uint8Array }

/** What the page knows; tests read it through window.webfcnDemo. */
interface DemoState {
  /** 'starting' | 'no-webgpu' | 'error' | 'ready' | 'training' | 'trained' | 'busy'. */
  phase: string;
  error: string | null;
  info: EngineInfo | null;
  model: ModelInfo | null;
  /** Per-step losses in step order (NaN-free; the engine reports each step's loss one step late). */
  stepLosses: Array<{ step: number; loss: number }>;
  history: EpochMetrics[];
  stepsPerEpoch: number;
  lastTrain: { steps: number; seconds: number; stepsPerSec: number; cancelled: boolean } | null;
  /** The latest prediction of the user's image (class ids, row-major). */
  userClasses: Uint8Array | null;
  userSize: [number, number] | null;
  /** Bumped after every finished user-image prediction. */
  userPredictions: number;
  /** Bumped after every finished held-out grid prediction. */
  gridPredictions: number;
  checkpoint: { name: string; format: string; notes: string[] } | null;
  downloads: number;
  /** Longest gap between the page's 20 ms timer ticks while the worker was busy (ms). */
  maxStallMs: number;
}

const state: DemoState = {
  phase: 'starting', error: null, info: null, model: null, stepLosses: [], history: [], stepsPerEpoch: 1, lastTrain: null,
  userClasses: null, userSize: null, userPredictions: 0, gridPredictions: 0, checkpoint: null, downloads: 0, maxStallMs: 0,
};
(globalThis as unknown as { webfcnDemo: unknown }).webfcnDemo = { state };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
let engine: Engine | null = null;
let train: Sample[] = [];
let held: Sample[] = [];
let userImage: Rgba | null = null;
let seed = Number(params.get('seed') ?? 1);

// ---- small helpers -------------------------------------------------------------------------

function setStatus(phase: string, text: string): void {
  state.phase = phase;
  const el = $('status');
  el.dataset.state = phase;
  el.textContent = text;
}

function fail(where: string, e: unknown): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  state.error = `${where}: ${msg}`;
  setStatus('error', `${where} failed — ${msg}`);
  console.error(where, e);
}

const num = (id: string) => Number(($(id) as HTMLInputElement).value);
const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
const copy = (img: Rgba): Rgba => ({ data: img.data.slice(), width: img.width, height: img.height });

/** Draws RGBA bytes on a canvas at their own size (CSS scales it). */
function paint(canvas: HTMLCanvasElement, rgba: Uint8Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const px = new ImageData(width, height);
  px.data.set(rgba);
  ctx.putImageData(px, 0, 0);
}

/** A label map as class colours (255 = ignore, drawn white). */
function labelColors(label: Uint8Array, colormap: Array<[number, number, number]>): Uint8Array {
  const out = new Uint8Array(label.length * 4);
  label.forEach((c, i) => {
    const rgb = colormap[c] ?? [255, 255, 255];
    out.set(rgb, 4 * i);
    out[4 * i + 3] = 255;
  });
  return out;
}

/** Keeps the main thread's longest timer gap while the worker works: proof the page never blocks. */
class StallMeter {
  private timer = 0;
  private last = 0;
  private beats = 0;
  start(): void {
    this.stop();
    this.last = performance.now();
    this.timer = window.setInterval(() => {
      const now = performance.now();
      state.maxStallMs = Math.max(state.maxStallMs, now - this.last - 20);
      this.last = now;
      if (++this.beats % 10 === 0) $('heartbeat').style.transform = `rotate(${this.beats * 9}deg) scale(${1 + 0.25 * Math.sin(this.beats / 3)})`;
    }, 20);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = 0;
    $('stall').textContent = `main thread: longest stall while the worker was busy ${state.maxStallMs.toFixed(0)} ms`;
  }
}
const stall = new StallMeter();

/** Runs one engine task with the buttons locked and the stall meter on. */
async function busy<T>(phase: string, text: string, f: () => Promise<T>): Promise<T | undefined> {
  lock(true);
  setStatus(phase, text);
  stall.start();
  try {
    return await f();
  } catch (e) {
    fail(text.replace(/…$/, ''), e);
    return undefined;
  } finally {
    stall.stop();
    lock(false);
  }
}

function lock(on: boolean): void {
  for (const id of ['train', 'reset', 'download', 'generate']) ($(id) as HTMLButtonElement).disabled = on || !engine;
  ($('stop') as HTMLButtonElement).disabled = !on || state.phase !== 'training';
}

// ---- adapter -------------------------------------------------------------------------------

function showAdapter(info: EngineInfo): void {
  const a = info.adapter;
  const c = info.compute;
  const rows: [string, string][] = a
    ? [
        ['backend', `WebGPU (${a.backend})`],
        ['vendor', a.vendor || '(not reported)'],
        ['architecture', a.architecture || '(not reported)'],
        ['device', a.device || '(not reported)'],
        ['description', a.description || '(not reported)'],
        ['feature level', a.featureLevel],
        ['software', a.software ? 'yes (CPU emulation: expect slow training)' : 'no'],
        ['max storage binding', `${(a.limits.maxStorageBufferBindingSize! / 2 ** 20).toFixed(0)} MiB`],
        ['workgroup storage', `${(a.limits.maxComputeWorkgroupStorageSize! / 1024).toFixed(0)} KiB, ${a.limits.maxComputeInvocationsPerWorkgroup} invocations`],
      ]
    : [
        ['backend', 'WebAssembly (CPU)'],
        ['threads', `${c.threads}${c.sharedMemory ? '' : ' (the page is not cross-origin isolated: no shared memory)'}`],
        ['SIMD', c.simd ?? '-'],
      ];
  rows.push(['why', c.reason]);
  $('adapter').innerHTML = '';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.key = k;
    $('adapter').append(dt, dd);
  }
  if (!a) return; // WebAssembly: no adapter limits to show
  $('limits').innerHTML = '';
  for (const [k, v] of Object.entries(a.limits).sort()) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    $('limits').append(dt, dd);
  }
  $('features').textContent = `features: ${a.features.join(', ') || '(none)'}`;
  $('limits-box').hidden = false;
}

function noWebGpu(text: string): void {
  const el = $('no-webgpu');
  el.hidden = false;
  el.textContent = text;
  setStatus('no-webgpu', 'The engine did not start: this page cannot train or predict here.');
}

// ---- data ------------------------------------------------------------------------------------

/** Renders the training and held-out sets in this thread (a few ms per image). */
function generate(): void {
  const K = num('classes'), n = num('images'), size = num('size');
  const crop = num('crop');
  const side = Math.max(size, crop);
  const rng = mulberry32(seed * 7919 + 17);
  const make = (count: number, first: number): Sample[] => Array.from({ length: count }, (_, i) => {
    const s = renderSample(side, side, K, 1 + ((first + i) % (K - 1)), rng);
    return { image: { data: s.rgba, width: side, height: side }, label: s.label };
  });
  train = make(n, 0);
  held = make(Number(params.get('held') ?? Math.max(2, Math.min(4, K))), 1);
  drawGrid(null);
  $('train-status').textContent = `${n} training images and ${held.length} held-out images of ${side}x${side}, ${K} classes (${syntheticClassNames(K).join(', ')}).`;
}

function drawGrid(preds: Prediction[] | null): void {
  const grid = $('grid');
  grid.innerHTML = '';
  for (const h of ['input', 'prediction', 'ground truth']) {
    const d = document.createElement('div');
    d.className = 'head';
    d.textContent = h;
    grid.append(d);
  }
  const colormap = state.model?.colormap ?? [];
  held.forEach((s, i) => {
    const cells = [document.createElement('canvas'), document.createElement('canvas'), document.createElement('canvas')];
    paint(cells[0]!, s.image.data, s.image.width, s.image.height);
    const p = preds?.[i];
    if (p) paint(cells[1]!, p.colors, p.width, p.height);
    paint(cells[2]!, labelColors(s.label, colormap), s.image.width, s.image.height);
    cells.forEach((c, j) => { c.dataset.cell = `${i}:${j}`; });
    grid.append(...cells);
  });
}

/** The model card: what the engine holds and where it came from. */
function showModel(model: ModelInfo, source: string): void {
  const rows: [string, string][] = [
    ['architecture', `FCN-ResNet18, ${model.head}`],
    ['parameters', model.parameters.toLocaleString('en')],
    ['classes', String(model.classes)],
    ['epochs trained', String(model.epochs)],
    ['source', source],
  ];
  $('model').innerHTML = '';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    $('model').append(dt, dd);
  }
}

function showLegend(model: ModelInfo): void {
  const el = $('legend');
  el.innerHTML = '';
  model.colormap.forEach((c, i) => {
    const span = document.createElement('span');
    const sw = document.createElement('span');
    sw.className = 'sw';
    sw.style.background = `rgb(${c.join(',')})`;
    span.append(sw, `${i} ${model.classNames[i]}`);
    el.append(span);
  });
}

// ---- chart -----------------------------------------------------------------------------------

function drawChart(): void {
  const canvas = $<HTMLCanvasElement>('chart');
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 880, cssH = canvas.clientHeight || 250;
  if (canvas.width !== Math.round(cssW * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  ctx.font = '12px system-ui, sans-serif';
  const half = cssW / 2;
  const steps = state.stepLosses;
  const epochs = state.history;
  const stepsPerEpoch = state.stepsPerEpoch;

  // Left: loss per step (line) and per epoch (dots at each epoch's last step).
  const lossVals = [...steps.map((s) => s.loss), ...epochs.map((e) => e.loss)];
  const lmax = lossVals.length ? Math.max(...lossVals) * 1.08 : 1;
  const xmax = Math.max(1, steps.length ? steps.at(-1)!.step + 1 : 1, epochs.length * stepsPerEpoch);
  panel(ctx, 0, 0, half - 10, cssH, 'loss (per step — line, per epoch — dots)', 0, lmax, xmax, 'step', (X, Y) => {
    ctx.strokeStyle = '#2f6fdb';
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    steps.forEach((s, i) => (i ? ctx.lineTo(X(s.step + 1), Y(s.loss)) : ctx.moveTo(X(s.step + 1), Y(s.loss))));
    ctx.stroke();
    ctx.fillStyle = '#1d2330';
    epochs.forEach((e) => {
      ctx.beginPath();
      ctx.arc(X(e.epoch * stepsPerEpoch), Y(e.loss), 3.5, 0, 2 * Math.PI);
      ctx.fill();
    });
  });

  // Right: pixel accuracy and mIoU per epoch (train and held-out).
  const series: [string, string, (e: EpochMetrics) => number | null][] = [
    ['train pixel acc', '#1e7d3a', (e) => e.trainAccuracy],
    ['held-out pixel acc', '#e07b00', (e) => e.testAccuracy],
    ['held-out mIoU', '#b3261e', (e) => e.testMIoU],
    ['train mIoU', '#8c5ad8', (e) => e.trainMIoU],
  ];
  panel(ctx, half + 10, 0, half - 10, cssH, 'pixel accuracy and mIoU per epoch', 0, 1, Math.max(1, epochs.length), 'epoch', (X, Y) => {
    series.forEach(([, color, f]) => {
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      let started = false;
      for (const e of epochs) {
        const v = f(e);
        if (v === null || !Number.isFinite(v)) continue;
        if (started) ctx.lineTo(X(e.epoch), Y(v));
        else ctx.moveTo(X(e.epoch), Y(v));
        started = true;
      }
      ctx.stroke();
      for (const e of epochs) {
        const v = f(e);
        if (v !== null && Number.isFinite(v)) ctx.fillRect(X(e.epoch) - 2.5, Y(v) - 2.5, 5, 5);
      }
    });
  });
  // Legend: one row between the title and the plot.
  let lx = half + 54;
  for (const [name, color] of series) {
    ctx.fillStyle = color;
    ctx.fillRect(lx, 28, 12, 3);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(name, lx + 16, 33);
    lx += 16 + ctx.measureText(name).width + 18;
  }
}

/** One chart panel: frame, axes with ticks, title, and `draw` with value-to-pixel maps. */
function panel(ctx: CanvasRenderingContext2D, x0: number, y0: number, w: number, h: number, title: string, ymin: number, ymax: number,
  xmax: number, xlabel: string, draw: (X: (v: number) => number, Y: (v: number) => number) => void): void {
  const L = x0 + 44, R = x0 + w - 8, T = y0 + 44, B = y0 + h - 30;
  const X = (v: number) => L + ((R - L) * v) / xmax;
  const Y = (v: number) => B - ((B - T) * (v - ymin)) / (ymax - ymin || 1);
  ctx.fillStyle = '#1d2330';
  ctx.font = '600 12.5px system-ui, sans-serif';
  ctx.fillText(title, L, y0 + 14);
  ctx.font = '12px system-ui, sans-serif';
  ctx.strokeStyle = '#dde1e8';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#5d6677';
  for (let i = 0; i <= 4; i++) {
    const v = ymin + ((ymax - ymin) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(L, Y(v));
    ctx.lineTo(R, Y(v));
    ctx.stroke();
    ctx.fillText(v >= 10 ? v.toFixed(0) : v.toFixed(2), x0 + 4, Y(v) + 4);
  }
  const tick = Math.max(1, Math.ceil(xmax / 8));
  for (let v = 0; v <= xmax; v += tick) ctx.fillText(String(v), X(v) - 3, B + 14);
  ctx.fillText(xlabel, R - 30, B + 26);
  ctx.strokeStyle = '#9aa3b2';
  ctx.strokeRect(L, T, R - L, B - T);
  ctx.save();
  ctx.beginPath();
  ctx.rect(L - 5, T - 5, R - L + 10, B - T + 10);
  ctx.clip();
  draw(X, Y);
  ctx.restore();
}

function epochTable(): void {
  const rows = state.history.map((e) =>
    `<tr><td>${e.epoch}</td><td>${fmt(e.loss)}</td><td>${fmt(e.trainAccuracy)}</td><td>${fmt(e.trainMIoU)}</td><td>${fmt(e.testAccuracy)}</td><td>${fmt(e.testMIoU)}</td><td>${fmt(e.examplesPerSec, 2)}</td><td>${fmt(e.seconds, 1)}</td></tr>`);
  $('epochs-table').innerHTML = rows.length
    ? `<table><tr><th>epoch</th><th>loss</th><th>train acc</th><th>train mIoU</th><th>held-out acc</th><th>held-out mIoU</th><th>img/s</th><th>s</th></tr>${rows.join('')}</table>`
    : '';
}

// ---- engine actions ----------------------------------------------------------------------------

async function buildModel(): Promise<void> {
  const model = await engine!.build({ classes: num('classes'), seed, classNames: syntheticClassNames(num('classes')) });
  state.model = model;
  state.checkpoint = null;
  state.history = [];
  state.stepLosses = [];
  showLegend(model);
  showModel(model, `built here (seed ${seed}, bilinear transposed-conv init)`);
  drawChart();
  epochTable();
}

async function doTrain(): Promise<void> {
  if (!engine) return;
  // A loaded checkpoint is trained further when it has room for the data's classes.
  const K = num('classes');
  if (!state.model || K > state.model.classes || (!state.checkpoint && state.model.classes !== K)) await busy('busy', 'Building the model…', buildModel);
  if (state.phase === 'error') return;
  const crop = num('crop');
  const epochs = num('epochs'), batchSize = num('batch');
  const offset = state.stepLosses.length ? state.stepLosses.at(-1)!.step + 1 : 0;
  const epochBase = state.history.length;
  lock(true);
  setStatus('training', 'Training…');
  ($('stop') as HTMLButtonElement).disabled = false;
  stall.start();
  try {
    // Copies cross (their buffers are transferred); the page keeps its own for drawing.
    const data = { images: train.map((s) => copy(s.image)), labels: train.map((s) => s.label.slice()), name: 'synthetic' };
    const validation = { images: held.map((s) => copy(s.image)), labels: held.map((s) => s.label.slice()), name: 'held-out' };
    const r = await engine.train(data, { epochs, batchSize, crop: [crop, crop], lr: num('lr'), momentum: num('momentum'), seed, validation },
      (e: TrainEvent) => {
        if (e.type === 'step') {
          state.stepsPerEpoch = e.stepsPerEpoch;
          const g = offset + e.epoch * e.stepsPerEpoch + e.step - 1;
          // Each step event carries the previous step's loss (read back one step late).
          if (Number.isFinite(e.loss)) state.stepLosses.push({ step: g - 1, loss: e.loss });
          const done = (e.epoch * e.stepsPerEpoch + e.step) / (epochs * e.stepsPerEpoch);
          $('bar').style.width = `${(100 * done).toFixed(1)}%`;
          $('train-status').textContent = `epoch ${e.epoch + 1}/${epochs} · step ${e.step}/${e.stepsPerEpoch} · loss ${fmt(e.loss)} · ` +
            `${fmt(e.imagesPerSec, 2)} images/s · about ${Math.ceil(e.etaSec)} s left in this epoch`;
        } else {
          // With one step per epoch the epoch's mean loss is that step's loss (no step event has it).
          if (state.stepsPerEpoch === 1) state.stepLosses.push({ step: offset + e.epoch - 1, loss: e.loss });
          state.history.push({ ...e, epoch: epochBase + e.epoch });
          epochTable();
        }
        drawChart();
      });
    const stepsPerSec = r.steps / r.seconds;
    state.lastTrain = { steps: r.steps, seconds: r.seconds, stepsPerSec, cancelled: r.cancelled };
    state.model = (await engine.info()).model;
    showModel(state.model!, state.checkpoint ? `${state.checkpoint.name}, trained further here` : `built here (seed ${seed}), trained here`);
    $('train-status').textContent = `${r.cancelled ? 'Stopped' : 'Done'}: ${r.steps} steps of ${batchSize} images (${crop}x${crop}) in ` +
      `${r.seconds.toFixed(1)} s — ${stepsPerSec.toFixed(3)} steps/s, ${(stepsPerSec * batchSize).toFixed(2)} images/s; ${state.stepsPerEpoch} step${state.stepsPerEpoch === 1 ? '' : 's'} per epoch.`;
    $('bar').style.width = '100%';
  } catch (e) {
    fail('Training', e);
    return;
  } finally {
    stall.stop();
    lock(false);
  }
  await predictAll();
  setStatus('trained', `Trained: ${state.history.length} epochs. Drop an image below, or download the checkpoint.`);
}

async function predictGrid(): Promise<void> {
  const preds: Prediction[] = [];
  for (const s of held) preds.push(await engine!.predict(copy(s.image)));
  drawGrid(preds);
  state.gridPredictions++;
}

async function predictUser(): Promise<void> {
  if (!userImage) return;
  const t0 = performance.now();
  const p = await engine!.predict(copy(userImage), { alpha: num('alpha') });
  const ms = performance.now() - t0;
  paint($('user-overlay'), p.overlay, p.width, p.height);
  paint($('user-classes'), p.colors, p.width, p.height);
  state.userClasses = p.classes;
  state.userSize = [p.height, p.width];
  state.userPredictions++;
  const counts = new Map<number, number>();
  for (const c of p.classes) counts.set(c, (counts.get(c) ?? 0) + 1);
  const names = state.model?.classNames ?? [];
  const share = [...counts].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${names[c] ?? c} ${((100 * n) / p.classes.length).toFixed(1)}%`);
  $('user-status').textContent = `${p.width}x${p.height} predicted in ${(ms / 1000).toFixed(2)} s: ${share.join(', ')}`;
}

async function predictAll(): Promise<void> {
  await busy('busy', 'Predicting…', async () => {
    if (held.length && state.model) await predictGrid();
    await predictUser();
  });
}

/** Decodes a dropped or picked image file to RGBA (scaled down to maxSide on its long side). */
async function decodeImage(file: Blob): Promise<Rgba> {
  const bitmap = await createImageBitmap(file);
  const maxSide = Number(params.get('maxSide') ?? 256);
  const s = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * s)), height = Math.max(1, Math.round(bitmap.height * s));
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const px = ctx.getImageData(0, 0, width, height);
  return { data: new Uint8Array(px.data.buffer), width, height };
}

async function useImage(file: Blob | undefined): Promise<void> {
  if (!file) return;
  try {
    userImage = await decodeImage(file);
  } catch (e) {
    fail(`Decoding ${(file as File).name ?? 'the image'}`, e);
    return;
  }
  paint($('user-input'), userImage.data, userImage.width, userImage.height);
  $('user-status').textContent = `${userImage.width}x${userImage.height}: predicting…`;
  if (!engine) return;
  await busy('busy', 'Predicting your image…', predictUser);
  if (state.phase === 'busy') setStatus('ready', 'Ready.');
}

async function download(): Promise<void> {
  const bytes = await busy('busy', 'Saving the checkpoint…', () => engine!.save());
  if (!bytes) return;
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `webfcn-${state.model?.classes ?? 'k'}classes-${state.history.length}epochs.safetensors`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  state.downloads++;
  $('ckpt-status').textContent = `Downloaded ${a.download} (${(bytes.length / 2 ** 20).toFixed(1)} MiB).`;
  setStatus('ready', 'Ready.');
}

async function loadCheckpoint(file: File | undefined): Promise<void> {
  if (!file || !engine) return;
  $('ckpt-status').textContent = `Reading ${file.name}…`;
  const bytes = new Uint8Array(await file.arrayBuffer());
  const r = await busy('busy', `Loading ${file.name}…`, () => engine!.load(bytes, file.name));
  if (!r) {
    $('ckpt-status').textContent = `Could not load ${file.name}: ${state.error}`;
    return;
  }
  state.model = r.model;
  state.checkpoint = { name: file.name, format: r.format, notes: r.notes };
  state.history = [];
  state.stepLosses = [];
  drawChart();
  epochTable();
  showLegend(r.model);
  showModel(r.model, `${file.name} (${r.format === 'pytorch' ? 'PyTorch .pth' : 'webfcn .safetensors'})`);
  $('ckpt-status').textContent = `Loaded ${file.name}: ${r.format === 'pytorch' ? 'PyTorch state dict' : 'webfcn checkpoint'}, ` +
    `${r.model.classes} classes, ${r.model.head}, ${r.model.epochs} epochs trained${r.notes.length ? ` — ${r.notes.join('; ')}` : ''}.`;
  await predictAll();
  setStatus('ready', `Model from ${file.name} loaded.`);
}

// ---- start ---------------------------------------------------------------------------------------

function wire(): void {
  for (const key of ['classes', 'images', 'size', 'crop', 'batch', 'epochs', 'lr', 'momentum']) {
    const v = params.get(key);
    if (v !== null) ($(key) as HTMLInputElement).value = v;
  }
  $('max-side').textContent = params.get('maxSide') ?? '256';
  $('generate').addEventListener('click', () => {
    seed++;
    generate();
  });
  for (const key of ['classes', 'images', 'size', 'crop']) $(key).addEventListener('change', generate);
  $('train').addEventListener('click', () => void doTrain());
  $('stop').addEventListener('click', () => void engine?.cancel());
  $('reset').addEventListener('click', () => {
    seed++;
    void busy('busy', 'Building a new model…', buildModel).then(predictAll).then(() => setStatus('ready', 'New model (untrained).'));
  });
  $('download').addEventListener('click', () => void download());
  $<HTMLInputElement>('image-file').addEventListener('change', (e) => void useImage((e.target as HTMLInputElement).files?.[0]));
  $<HTMLInputElement>('ckpt-file').addEventListener('change', (e) => void loadCheckpoint((e.target as HTMLInputElement).files?.[0]));
  $('alpha').addEventListener('change', () => void (userImage && engine && busy('busy', 'Predicting…', predictUser)));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void useImage(e.dataTransfer?.files?.[0]);
  });
  window.addEventListener('resize', drawChart);
}

async function main(): Promise<void> {
  wire();
  generate();
  drawChart();
  lock(false);
  // backend=webgpu|wasm in the query string forces one; the default takes a hardware GPU, else WebAssembly.
  const backend = (params.get('backend') ?? 'auto') as 'auto' | 'webgpu' | 'wasm';
  try {
    setStatus('starting', 'Starting the engine worker…');
    stall.start();
    engine = await createEngine({ backend });
    state.info = await engine.info();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    noWebGpu(`The engine could not start (${backend}): ${msg}`);
    state.error = msg;
    return;
  } finally {
    stall.stop();
  }
  showAdapter(state.info);
  await busy('busy', 'Building FCN-ResNet18…', buildModel);
  if (state.phase === 'error') return;
  setStatus('ready', `Ready: ${state.model!.parameters.toLocaleString('en')} parameters on ${state.info.compute.summary}. Press Train.`);
  if (params.get('autotrain') === '1') await doTrain();
}

void main();
