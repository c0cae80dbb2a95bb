// segment() from page sources in headless Chromium (WebGPU on SwiftShader), through the browser
// bundle as a web app loads it: a model from a URL (streamed, cached for the second load), then an
// <img>, a <canvas>, ImageData, a VideoFrame and a <video> of the same 320x480 picture. The masks
// must agree with each other (the ImageBitmap → GPU copy and the byte upload see the same pixels)
// and with the Node engine on the same model and pixels. Prints the time to first mask.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/api/engine.js';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample } from '../../src/data/synth-render.js';
import { encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { initialState } from '../../src/fcn/model.js';
import { fcnShapes } from '../../src/fcn/keys.js';
import { buildBrowserBundles, launchChromium, untilPage } from '../helpers/browser.js';
// @ts-expect-error plain JavaScript without declarations
import { serve } from '../../scripts/serve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K = 3;
const [H, W] = [320, 480];

interface Mask { category: number[] }
interface WebApiState {
  phase: string;
  error: string | null;
  adapter: { backend: string; vendor: string; architecture: string; description: string } | null;
  timings: Record<string, number>;
  progress: Array<{ phase: string; loaded: number; total: number | null }>;
  model: { classes: number; format: string } | null;
  cachePhases?: string[];
}
interface WebApiResults {
    img?: Mask & { width: number; height: number; confidenceSum: number; confidenceCount: number; overlayLength: number; overlayIsClamped: boolean };
    canvas?: Mask;
    imageData?: Mask & { attached: boolean };
    videoFrame?: Mask & { timestampMs: number; stillOpen: boolean };
    video?: Mask & { width: number; height: number };
}

let tmp: string;
let server: { close(): void } | undefined;
let baseUrl: string;
let context: BrowserContext | undefined;
let page: Page;
const pageErrors: string[] = [];
let model: Uint8Array;
let rgba: Uint8Array;
let nodeMask: Uint8Array;

/** The test model's bytes: FCN-ResNet18, random init (seed 5), final_conv's bias as given. */
function modelBytes(bias: number[]): Uint8Array {
  const config = { classes: K, head: 'fcn32s' as const };
  const state = initialState(config, { seed: 5 });
  state.tensors.set('final_conv.bias', Float32Array.from(bias));
  return encodeCheckpoint({
    meta: { config, colormap: [[0, 0, 0], [128, 0, 0], [0, 128, 0]], classNames: ['background', 'a', 'b'], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    state, momentum: null,
  }, new Map([...fcnShapes(K)].filter(([k]) => !k.endsWith('.num_batches_tracked'))));
}

/**
 * A random network's logits share one large component, so one class wins everywhere. Setting
 * final_conv's bias to minus each class's mean log-probability balances the classes, so the mask
 * varies over the picture and comparing masks means something. Returns the model and Node's mask.
 */
async function calibratedModel(): Promise<{ bytes: Uint8Array; mask: Uint8Array }> {
  const node = await createEngine({ backend: 'webgpu' });
  try {
    await node.load(modelBytes([0, 0, 0]), 'model.safetensors');
    const p = (await node.segment({ data: rgba.slice(), width: W, height: H }, { outputs: ['confidence'] })).confidenceMasks!;
    const bias = p.map((m) => -m.reduce((s, v) => s + Math.log(Math.max(v, 1e-30)), 0) / m.length);
    const bytes = modelBytes(bias);
    await node.load(bytes.slice(), 'model.safetensors');
    const mask = (await node.segment({ data: rgba.slice(), width: W, height: H })).categoryMask!;
    return { bytes, mask };
  } finally {
    await node.dispose();
  }
}

/** Share of equal entries. */
const agreement = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'webfcn-web-api-'));
  await buildBrowserBundles(tmp);
  const dir = join(tmp, 'web-api');
  mkdirSync(dir, { recursive: true });
  for (const f of ['index.html', 'app.js']) writeFileSync(join(dir, f), readFileSync(join(ROOT, 'test/browser/web-api', f)));
  // A synthetic 320x480 photo and a model whose mask of it varies (the Node engine's reference).
  rgba = renderSample(H, W, K, 1, mulberry32(77)).rgba;
  ({ bytes: model, mask: nodeMask } = await calibratedModel());
  writeFileSync(join(dir, 'model.safetensors'), model);
  const png = new PNG({ width: W, height: H });
  png.data = Buffer.from(rgba);
  writeFileSync(join(dir, 'photo.png'), PNG.sync.write(png));
  const s = await serve({ root: tmp, port: 0 });
  server = s.server;
  baseUrl = s.url;
  context = await launchChromium(tmp);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Failed requests are reported with their URL (the console's own message has none).
  page.on('response', (r) => {
    if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
}, 300_000);

afterAll(async () => {
  await context?.close();
  server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('segment() from page sources (headless Chromium, WebGPU on SwiftShader)', () => {
  it('segments an <img>, a <canvas>, ImageData, a VideoFrame and a <video> of one picture alike, and as Node does', async () => {
    await page.goto(`${baseUrl}/web-api/`);
    const read = () => page.evaluate(() => (globalThis as unknown as { webApi: { state: unknown } }).webApi.state) as Promise<WebApiState>;
    const s = await untilPage(page, read, (st) => st.phase === 'done', 'the web-api page', 900_000, pageErrors);
    expect(s.adapter?.backend).toBe('browser');
    expect(`${s.adapter?.vendor} ${s.adapter?.architecture} ${s.adapter?.description}`).toMatch(/swiftshader/i);
    expect(s.model).toEqual({ classes: K, format: 'webfcn' });

    // The model came streamed from its URL, then from the Cache API the second time.
    const downloads = s.progress.filter((p) => p.phase === 'download');
    expect(downloads.at(-1)).toEqual({ phase: 'download', loaded: model.length, total: model.length });
    expect(s.cachePhases).toContain('cache');
    expect(s.cachePhases).not.toContain('download');

    const r = await page.evaluate(() => (globalThis as unknown as { webApi: { results: unknown } }).webApi.results) as WebApiResults;
    expect([r.img!.width, r.img!.height]).toEqual([W, H]);
    expect(r.img!.category).toHaveLength(H * W);
    expect(r.img!.confidenceCount).toBe(K);
    expect(r.img!.overlayLength).toBe(H * W * 4);
    expect(r.img!.overlayIsClamped).toBe(true);
    // The same pixels by every route: ImageBitmap copied on the GPU (img, canvas, frames) and bytes (ImageData).
    expect(agreement(r.canvas!.category, r.img!.category)).toBe(1);
    expect(agreement(r.imageData!.category, r.img!.category)).toBe(1);
    expect(r.imageData!.attached).toBe(true);
    expect(agreement(r.videoFrame!.category, r.img!.category)).toBe(1);
    expect(r.videoFrame!.timestampMs).toBe(1);
    expect(r.videoFrame!.stillOpen).toBe(true);
    // A <video> of the canvas goes through a video encoder's colour conversion: close, not equal.
    expect([r.video!.width, r.video!.height]).toEqual([W, H]);
    expect(agreement(r.video!.category, r.img!.category)).toBeGreaterThan(0.9);

    // Node (Dawn) on the same model and pixels: the same classes but where logits nearly tie.
    const hist = [0, 0, 0];
    for (const c of nodeMask) hist[c]!++;
    expect(hist.filter((n) => n > 0.05 * H * W).length).toBeGreaterThanOrEqual(2); // the mask varies
    const a = agreement(r.img!.category, nodeMask);
    expect(a).toBeGreaterThan(0.99);
    console.info(`web-api page: classes ${JSON.stringify(hist)}, agreement with Node ${(a * 100).toFixed(3)}%`);
    const t = s.timings;
    console.info(`web-api page (SwiftShader, 320x480): engine ${t.engine!.toFixed(0)} ms, model loaded ${t.load!.toFixed(0)} ms, ` +
      `first mask ${t.firstMask!.toFixed(0)} ms after createEngine() (first segment ${t.firstSegment!.toFixed(0)} ms, next ${t.secondSegment!.toFixed(0)} ms)`);
    expect(pageErrors).toEqual([]);
  }, 1_200_000);
});
