// `npm run bench:data`: per-stage throughput of the data pipeline on VOC-sized images
// (375 x 500), WebAssembly kernels against their TypeScript twins, and the time to prepare one
// 32 x 320 x 480 training batch.
//
// "wasm" runs the kernels on data already resident in WebAssembly memory (what the loader does);
// "wasm+copy" goes through the twin-signature methods, which copy inputs and outputs through
// scratch memory (what a caller holding plain typed arrays pays).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJpeg, decodePng, encodeJpeg, encodePngRgb } from '../src/data/codec.js';
import { ColorTable, IGNORE_LABEL, VOC_BORDER, VOC_COLORMAP } from '../src/data/colormap.js';
import { openVOC } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/loader.js';
import { Preprocessor } from '../src/data/preprocess.js';
import { tsKernels } from '../src/data/preprocess-ts.js';
import { mulberry32 } from '../src/data/rng.js';
import { renderSample, writeSyntheticDataset } from '../src/data/synth.js';

const H = 375, W = 500; // a VOC image
const CH = 320, CW = 480; // the chapter's crop
const BATCH = 32;

/** Median seconds per call over 5 runs of enough calls to last ≥ 150 ms. */
function time(fn: () => void): number {
  fn();
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    const dt = performance.now() - t;
    if (dt >= 150) break;
    reps *= dt < 10 ? 8 : 2;
  }
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    runs.push((performance.now() - t) / 1000 / reps);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

const rows: string[][] = [];
function row(stage: string, impl: string, sec: number, pixels: number, vs?: number): void {
  rows.push([stage, impl, `${(sec * 1e3).toFixed(3)} ms`, `${(pixels / sec / 1e6).toFixed(1)} Mpx/s`, vs ? `${(vs / sec).toFixed(2)}x` : '']);
}

async function main(): Promise<void> {
  const pre = await Preprocessor.create();
  const { rgba, label } = renderSample(H, W, 21, 1, mulberry32(1), 2);
  const rgb = new Uint8Array(H * W * 3);
  for (let p = 0; p < H * W; p++) rgb.set(rgba.subarray(4 * p, 4 * p + 3), 3 * p);
  const labelRgb = new Uint8Array(H * W * 3);
  for (let p = 0; p < H * W; p++) labelRgb.set(label[p] === IGNORE_LABEL ? VOC_BORDER : VOC_COLORMAP[label[p]!]!, 3 * p);
  const labelRgba = new Uint8Array(H * W * 4);
  for (let p = 0; p < H * W; p++) { labelRgba.set(labelRgb.subarray(3 * p, 3 * p + 3), 4 * p); labelRgba[4 * p + 3] = 255; }
  const jpg = encodeJpeg(rgba, H, W, 90);
  const png = encodePngRgb(labelRgb, H, W);

  // Decoding (each image is decoded once per run and cached).
  row('decode JPEG (jpeg-js, q90)', 'js', time(() => decodeJpeg(jpg, 'bench.jpg')), H * W);
  row('decode PNG (pngjs, RGB)', 'js', time(() => decodePng(png, 'bench.png')), H * W);

  // Resident copies of the inputs in wasm memory.
  const pImg = pre.alloc(H * W * 3), pLbl = pre.alloc(H * W), pLblRgba = pre.alloc(H * W * 4);
  const pOut = pre.alloc(3 * H * W * 4), pOutL = pre.alloc(H * W * 4), pCls = pre.alloc(H * W);
  const table = new ColorTable(VOC_COLORMAP);
  pre.colorToClassAt(pLblRgba, 4, 1, table, pCls); // loads the table (may grow memory) before views are taken
  pre.u8(pImg, H * W * 3).set(rgb);
  pre.u8(pLbl, H * W).set(label);
  pre.u8(pLblRgba, H * W * 4).set(labelRgba);
  const outF = new Float32Array(3 * CH * CW), outFull = new Float32Array(3 * H * W), outL = new Uint32Array(CH * CW);

  const cropTs = time(() => { tsKernels.crop(rgb, H, W, 3, 20, 10, CH, CW); tsKernels.crop(label, H, W, 1, 20, 10, CH, CW); });
  row('crop image+label 320x480', 'ts', cropTs, CH * CW);
  const cropOut = pre.alloc(CH * CW * 3), cropOutL = pre.alloc(CH * CW);
  const ex = (pre as unknown as { ex: { cropU8: (...a: number[]) => void } }).ex;
  row('crop image+label 320x480', 'wasm', time(() => { ex.cropU8(pImg, W, 3, 20, 10, CH, CW, cropOut); ex.cropU8(pLbl, W, 1, 20, 10, CH, CW, cropOutL); }), CH * CW, cropTs);

  const normTs = time(() => tsKernels.cropNormalize(rgb, H, W, 3, 0, 0, H, W, outFull, 0));
  row('normalise 375x500 → f32 CHW', 'ts', normTs, H * W);
  row('normalise 375x500 → f32 CHW', 'wasm', time(() => pre.cropNormalizeAt(pImg, W, 3, 0, 0, H, W, pOut, 0)), H * W, normTs);
  row('normalise 375x500 → f32 CHW', 'wasm+copy', time(() => pre.cropNormalize(rgb, H, W, 3, 0, 0, H, W, outFull, 0)), H * W, normTs);

  const cnTs = time(() => tsKernels.cropNormalize(rgb, H, W, 3, 20, 10, CH, CW, outF, 0));
  row('crop+normalise 320x480 (fused)', 'ts', cnTs, CH * CW);
  row('crop+normalise 320x480 (fused)', 'wasm', time(() => pre.cropNormalizeAt(pImg, W, 3, 20, 10, CH, CW, pOut, 0)), CH * CW, cnTs);

  const clTs = time(() => tsKernels.cropLabels(label, H, W, 20, 10, CH, CW, outL, 0));
  row('crop labels 320x480 → u32', 'ts', clTs, CH * CW);
  row('crop labels 320x480 → u32', 'wasm', time(() => pre.cropLabelsAt(pLbl, W, 20, 10, CH, CW, pOutL, 0)), CH * CW, clTs);

  const clsOut = new Uint8Array(H * W);
  const cmTs = time(() => tsKernels.colorToClass(labelRgba, 4, table, clsOut));
  row('colour map RGBA → class ids', 'ts', cmTs, H * W);
  row('colour map RGBA → class ids', 'wasm', time(() => pre.colorToClassAt(pLblRgba, 4, H * W, table, pCls)), H * W, cmTs);
  row('colour map RGBA → class ids', 'wasm+copy', time(() => pre.colorToClass(labelRgba, 4, table, clsOut)), H * W, cmTs);
  // Worst case for the run detection: every pixel a new random colour.
  const noise = new Uint8Array(H * W * 4).map((_, i) => (i * 2654435761) >>> 24);
  const pNoise = pre.alloc(H * W * 4);
  pre.u8(pNoise, H * W * 4).set(noise);
  const cmTsN = time(() => tsKernels.colorToClass(noise, 4, table, clsOut));
  row('colour map, random colours', 'ts', cmTsN, H * W);
  row('colour map, random colours', 'wasm', time(() => pre.colorToClassAt(pNoise, 4, H * W, table, pCls)), H * W, cmTsN);

  const ids = new Uint32Array(H * W).map((_, i) => label[i]!);
  const pal = (await import('../src/data/colormap.js')).makePalette();
  const ccTs = time(() => tsKernels.classToColor(ids, pal));
  row('class ids → colours', 'ts', ccTs, H * W);
  row('class ids → colours', 'wasm+copy', time(() => pre.classToColor(ids, pal)), H * W, ccTs);
  const colors = tsKernels.classToColor(ids, pal);
  const ovTs = time(() => tsKernels.overlay(rgba, 4, colors, 0.5));
  row('overlay blend RGBA', 'ts', ovTs, H * W);
  row('overlay blend RGBA', 'wasm+copy', time(() => pre.overlay(rgba, 4, colors, 0.5)), H * W, ovTs);

  // Batch assembly: 32 random crops (image + label) from resident decoded images.
  const dir = mkdtempSync(join(tmpdir(), 'webfcn-bench-'));
  try {
    let t = performance.now();
    writeSyntheticDataset({ out: dir, classes: 21, train: BATCH, val: 0, size: [H, W], seed: 1, border: 2 });
    const synthS = (performance.now() - t) / 1000;
    const ds = await openVOC(dir, 'train', { crop: [CH, CW], preprocessor: pre });
    t = performance.now();
    ds.decodeAll();
    const decodeS = (performance.now() - t) / 1000;
    const loader = new DataLoader(ds, { batchSize: BATCH, crop: [CH, CW], seed: 0 });
    let e = 0;
    const wasmBatch = time(() => loader.batch(e++, 0));
    // The same batch with the TS twins, from host-side decoded copies.
    const host = Array.from({ length: ds.length }, (_, i) => ds.sample(i));
    const stI = new Float32Array(BATCH * 3 * CH * CW), stL = new Uint32Array(BATCH * CH * CW);
    const tsBatch = time(() => {
      const order = loader.order(e);
      for (let n = 0; n < BATCH; n++) {
        const i = order[n]!, s = host[i]!;
        const [y0, x0] = loader.cropOf(e, i);
        tsKernels.cropNormalize(s.image, s.height, s.width, s.channels, y0, x0, CH, CW, stI, n);
        tsKernels.cropLabels(s.label, s.height, s.width, y0, x0, CH, CW, stL, n);
      }
      e++;
    });
    row(`batch ${BATCH}x3x${CH}x${CW} + labels`, 'ts', tsBatch, BATCH * CH * CW);
    row(`batch ${BATCH}x3x${CH}x${CW} + labels`, 'wasm', wasmBatch, BATCH * CH * CW, tsBatch);

    const widths = [34, 10, 12, 14, 8];
    const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(`Data pipeline on ${H}x${W} images (crop ${CH}x${CW}); Node ${process.version}, ${process.arch}`);
    console.log(line(['stage', 'impl', 'time', 'throughput', 'vs ts']));
    for (const r of rows) console.log(line(r));
    const mb = (BATCH * 4 * CH * CW * 4) / 2 ** 20;
    console.log(`\none ${BATCH}x${CH}x${CW} training batch (${mb.toFixed(0)} MiB f32 images + u32 labels) from cached images: ` +
      `${(wasmBatch * 1e3).toFixed(1)} ms wasm, ${(tsBatch * 1e3).toFixed(1)} ms ts`);
    console.log(`first epoch adds decoding: ${((decodeS / BATCH) * 1e3).toFixed(1)} ms per image (JPEG + PNG + colour map), ` +
      `${(decodeS * 1e3).toFixed(0)} ms for ${BATCH} images`);
    console.log(`synthetic dataset: ${BATCH} images of ${H}x${W} written in ${synthS.toFixed(2)} s`);
    console.log(`WebAssembly memory in use: ${(pre.allocated / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
