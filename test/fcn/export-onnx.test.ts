// `webfcn export --format onnx`: the eval-mode network run by onnxruntime-node against webfcn's
// own forward pass on the same images, for FCN-32s, 16s and 8s, with BatchNormalization nodes and
// with BatchNorm folded into the convs, at two input sizes and batch sizes through one session
// (dynamic N, H, W).
//
// Tolerances, as test/fcn/model.test.ts checks webfcn against PyTorch: every logit within
// 2e-5·max|logit| + 1e-3·|logit| of onnxruntime's. Both run 20 f32 conv layers in different
// summation orders (webfcn: implicit GEMM and Winograd on the GPU; onnxruntime: MLAS) and folding
// BatchNorm rounds the folded weights once more, so exact equality is not expected; webfcn's eval
// logits are 1.5e-6 of scale from PyTorch's. Class maps (argmax) must agree on >= 99.9% of pixels:
// a pixel may flip only where two classes' logits tie within that rounding.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { encodeOnnxExport, ONNX_OPSET } from '../../src/fcn/export.js';
import { FcnModel } from '../../src/fcn/model.js';
import { argmaxClasses } from '../../src/fcn/predict.js';
import { fcnParamSpecs, type FcnConfig, type HeadKind } from '../../src/fcn/spec.js';
import { submit } from '../../src/gpu/kernel.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { compare, releaseGpu, testGpu } from '../helpers/gpu.js';
import { mulberry32 } from '../../src/data/rng.js';
import { renderSample } from '../../src/data/synth-render.js';
import { normalizeImage } from '../../src/fcn/image.js';
import { testCheckpoint } from '../helpers/export.js';

const dir = mkdtempSync(join(tmpdir(), 'webfcn-export-onnx-'));
const REL_ATOL = 2e-5;
const RTOL = 1e-3;
const MIN_AGREEMENT = 0.999;

afterAll(releaseGpu);

async function webfcnLogits(model: FcnModel, x: Float32Array, N: number, H: number, W: number): Promise<Float32Array> {
  const plan = await model.plan(N, H, W, 'eval');
  plan.images.write(x);
  submit(model.gpu, plan.forward, 'test.export.forward');
  return plan.logits.read();
}

function check(what: string, got: Float32Array, want: Float32Array, N: number, K: number, H: number, W: number) {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  const r = compare(got, want, REL_ATOL * scale, RTOL);
  if (!r.ok) throw new Error(`${what}: logit ${r.worst} is ${r.got} in onnxruntime, ${r.want} in webfcn (max |diff| ${r.maxAbs}, scale ${scale})`);
  let same = 0;
  const plane = K * H * W;
  for (let n = 0; n < N; n++) {
    const a = argmaxClasses(got.subarray(n * plane, (n + 1) * plane), K, H, W);
    const b = argmaxClasses(want.subarray(n * plane, (n + 1) * plane), K, H, W);
    for (let i = 0; i < a.length; i++) same += a[i] === b[i] ? 1 : 0;
  }
  const agreement = same / (N * H * W);
  console.log(`${what}: max |diff| ${r.maxAbs.toExponential(2)} (${(r.maxAbs / scale).toExponential(2)} of max |logit| ${scale.toFixed(2)}), class maps agree on ${(100 * agreement).toFixed(3)}%`);
  expect(agreement, `${what}: class-map agreement`).toBeGreaterThanOrEqual(MIN_AGREEMENT);
}

describe('export to ONNX (onnxruntime-node vs webfcn)', () => {
  const sizes: Array<[number, number, number]> = [
    [1, 64, 96],
    [2, 96, 64],
  ];
  for (const head of ['fcn32s', 'fcn16s', 'fcn8s'] as HeadKind[]) {
    it(`${head}: logits within tolerance and class maps identical on >= 99.9% of pixels, BatchNorm as nodes and folded`, async () => {
      const cfg: FcnConfig = { classes: 5, head };
      const ck = testCheckpoint(cfg, 3);
      const gpu = await testGpu();
      const model = new FcnModel(gpu, cfg);
      try {
        model.loadState(ck.state);
        const sessions = {
          nodes: await ort.InferenceSession.create(encodeOnnxExport(ck)),
          folded: await ort.InferenceSession.create(encodeOnnxExport(ck, { foldBatchNorm: true })),
        };
        expect(sessions.nodes.inputNames).toEqual(['images']);
        expect(sessions.nodes.outputNames).toEqual(['logits']);
        for (const [N, H, W] of sizes) {
          // The same images for both: synthetic scenes (shapes, textures, noise), normalised as webfcn does.
          const x = new Float32Array(N * 3 * H * W);
          const rng = mulberry32(11 + H);
          for (let n = 0; n < N; n++) x.set(normalizeImage(renderSample(H, W, 4, 1, rng).rgba, H, W, 4), n * 3 * H * W);
          const want = await webfcnLogits(model, x, N, H, W);
          for (const [kind, session] of Object.entries(sessions)) {
            const out = await session.run({ images: new ort.Tensor('float32', x, [N, 3, H, W]) });
            const logits = out.logits!;
            expect(logits.dims).toEqual([N, cfg.classes, H, W]);
            check(`${head} ${kind} ${N}x3x${H}x${W}`, logits.data as Float32Array, want, N, cfg.classes, H, W);
          }
        }
      } finally {
        await model.dispose();
      }
    });
  }

  it('writes opset 17 with dynamic batch, height and width, ConvTranspose head and the metadata a runtime needs (CLI)', async () => {
    const cfg: FcnConfig = { classes: 3, head: 'fcn8s' };
    const ck = testCheckpoint(cfg, 5);
    const src = join(dir, 'model.safetensors');
    const out = join(dir, 'model.onnx');
    await writeFileAtomic(src, encodeCheckpoint(ck, new Map(fcnParamSpecs(cfg).map((s) => [s.name, s.shape]))));
    const logs: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void logs.push(a.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    let code: number;
    try {
      code = await main(['export', '--model', src, '--format', 'onnx', '--fold-bn', '--out', out]);
      expect(await main(['export', '--model', src, '--format', 'onnx', '--layout', 'chapter', '--out', out + '.x'])).toBe(2);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    expect(code).toBe(0);
    expect(logs.join('\n')).toMatch(/ONNX opset 17, BatchNorm folded/);
    const m = onnxProto.onnx.ModelProto.decode(readFileSync(out));
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', ONNX_OPSET]]);
    const dims = (v: (typeof m.graph.input)[number]) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(dims(m.graph!.input[0]!)).toEqual(['batch', 3, 'height', 'width']);
    expect(dims(m.graph!.output[0]!)).toEqual(['batch', 3, 'height', 'width']);
    const ops = m.graph!.node.map((n) => n.opType);
    expect(ops.filter((o) => o === 'ConvTranspose')).toHaveLength(3);
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(20 + 3);
    expect(ops).not.toContain('BatchNormalization');
    const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
    expect(meta).toMatchObject({ classes: '3', head: 'fcn8s', batch_norm: 'folded', mean: '[0.485,0.456,0.406]' });
    const session = await ort.InferenceSession.create(out);
    expect(session.outputNames).toEqual(['logits']);
  });
});
