// The PyTorch DDP route and back: a webfcn checkpoint exported as .pth starts
// tools/torch/train_ddp.py under torchrun with two CPU processes (gloo) on a tiny synthetic VOC
// set; both ranks end with identical parameters, each rank's loss falls, and webfcn's class maps
// from the checkpoint PyTorch wrote equal PyTorch's own.
//
// How the class maps are compared: webfcn decodes and normalises the validation images once; the
// same float32 input goes to PyTorch (tools/torch/predict.py, eval mode) and to webfcn's predictor
// on the GPU, so only the networks' arithmetic differs. Class maps must agree on >= 99.9% of pixels
// (a pixel can flip only where two classes' logits tie within f32 rounding), and the logits must be
// within 2e-5·max|logit| + 1e-3·|logit| of PyTorch's (test/fcn/model.test.ts's eval tolerance).
//
// Recipe for the run (kept small for 2-core CI machines): 8 images of 64x64, K = 3, global batch 8
// (4 per process, so every step sees every image), crop 64x64, the chapter's loss and SGD with
// weight decay 1e-3 and no momentum, lr 0.002 (the chapter's 0.001 moves too little in 5 steps to
// see the fall through the batch-to-batch noise), 5 steps.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { decodeModelFile, encodeCheckpoint } from '../../src/fcn/checkpoint.js';
import { normalizeImage } from '../../src/fcn/image.js';
import { bilinearKernel } from '../../src/fcn/init.js';
import { FcnModel, initialState } from '../../src/fcn/model.js';
import { argmaxClasses, predictClasses, predictLogits } from '../../src/fcn/predict.js';
import { fcnParamSpecs, type FcnConfig } from '../../src/fcn/spec.js';
import { openVOC } from '../../src/data/dataset.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { compare, releaseGpu, testGpu } from '../helpers/gpu.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'webfcn-ddp-'));
const data = join(dir, 'data');
const cfg: FcnConfig = { classes: 3, head: 'fcn32s' };
const STEPS = 5;

afterAll(releaseGpu);

async function cli(...args: string[]): Promise<void> {
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(args);
    if (code !== 0) throw new Error(`webfcn ${args[0]} exited ${code}: ${err.join('\n')}`);
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

function python(args: string[], timeout = 300_000): string {
  // One thread per process: two processes share the two cores.
  const r = spawnSync('/usr/bin/python3', args, { cwd: ROOT, encoding: 'utf8', timeout, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`python3 ${args.slice(0, 4).join(' ')} … exited ${r.status}${r.signal ? ` (${r.signal})` : ''}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface DdpLog {
  world_size: number;
  backend: string;
  steps: number;
  seconds: number;
  ranks: Array<{ rank: number; losses: number[]; params_sha256: string }>;
}

describe('PyTorch DDP round trip (torchrun, 2 CPU processes, gloo)', () => {
  let log: DdpLog;
  const init = join(dir, 'init.pth');
  const out = join(dir, 'trained.pth');

  beforeAll(async () => {
    await cli('synth', '--out', data, '--classes', '3', '--train', '8', '--val', '2', '--size', '64x64', '--seed', '5');
    const src = join(dir, 'init.safetensors');
    const meta = { config: cfg, colormap: [], classNames: [], mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };
    await writeFileAtomic(src, encodeCheckpoint({ meta, state: initialState(cfg, { seed: 1 }), momentum: null }, new Map(fcnParamSpecs(cfg).map((s) => [s.name, s.shape]))));
    await cli('export', '--model', src, '--format', 'pth', '--layout', 'chapter', '--out', init);
    const t0 = performance.now();
    // --redirects 1 --tee 1: PyTorch 1.13's launcher cannot parse its own default '0' under Python 3.11.
    python([
      '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '--redirects', '1', '--tee', '1',
      'tools/torch/train_ddp.py', '--data', data, '--init', init, '--out', out, '--log', join(dir, 'log.json'),
      '--batch-size', '8', '--crop', '64x64', '--epochs', String(STEPS), '--lr', '0.002', '--weight-decay', '1e-3', '--seed', '0',
    ]);
    log = JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8'));
    console.log(`torchrun: ${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${log.seconds} s training; losses per rank: ${JSON.stringify(log.ranks.map((r) => r.losses.map((l) => +l.toFixed(4))))}`);
  }, 400_000);

  it('both ranks hold identical parameters and each rank\'s loss falls', () => {
    expect(log.world_size).toBe(2);
    expect(log.backend).toBe('gloo');
    expect(log.steps).toBe(STEPS);
    expect(log.ranks.map((r) => r.rank)).toEqual([0, 1]);
    const [r0, r1] = log.ranks as [DdpLog['ranks'][0], DdpLog['ranks'][0]];
    expect(r0.params_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r1.params_sha256).toBe(r0.params_sha256);
    for (const r of log.ranks) {
      expect(r.losses).toHaveLength(STEPS);
      // Each rank sees a different half of the images each step, so compare the ends and the halves, not every step.
      expect(r.losses.at(-1)!, `rank ${r.rank}: ${r.losses}`).toBeLessThan(0.75 * r.losses[0]!);
      const first = (r.losses[0]! + r.losses[1]!) / 2;
      const last = (r.losses.at(-1)! + r.losses.at(-2)!) / 2;
      expect(last, `rank ${r.rank}: ${r.losses}`).toBeLessThan(first);
    }
    // Over both ranks every step sees all 8 images: that loss falls at every step.
    const global = r0.losses.map((l, i) => (l + r1.losses[i]!) / 2);
    for (let i = 1; i < global.length; i++) expect(global[i]!, `step ${i + 1}: ${global}`).toBeLessThan(global[i - 1]!);
  });

  it("webfcn loads the checkpoint PyTorch wrote, and its class maps equal PyTorch's", async () => {
    const ck = decodeModelFile(readFileSync(out), out);
    expect(ck.meta.config).toEqual(cfg);
    // The run changed the weights (so agreeing with PyTorch below is about the trained model).
    const start = decodeModelFile(readFileSync(init), init);
    expect(Buffer.from(ck.state.tensors.get('final_conv.weight')!.buffer).equals(Buffer.from(start.state.tensors.get('final_conv.weight')!.buffer))).toBe(false);
    expect(ck.state.numBatchesTracked).toBeGreaterThan(0);

    const ds = await openVOC(data, 'val', { classes: 3 });
    const N = ds.length;
    const H = 64;
    const W = 64;
    const x = new Float32Array(N * 3 * H * W);
    for (let i = 0; i < N; i++) {
      const s = ds.sample(i);
      expect([s.height, s.width]).toEqual([H, W]);
      x.set(normalizeImage(s.image, H, W, s.channels, ck.meta), i * 3 * H * W);
    }
    const xFile = join(dir, 'val.f32');
    writeFileSync(xFile, x);
    python(['tools/torch/predict.py', '--model', out, '--input', xFile, '--shape', `${N},3,${H},${W}`, '--out', join(dir, 'val.u8'), '--logits', join(dir, 'val.logits.f32')], 120_000);
    const torchClasses = new Uint8Array(readFileSync(join(dir, 'val.u8')));
    const b = readFileSync(join(dir, 'val.logits.f32'));
    const torchLogits = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);

    const gpu = await testGpu();
    const model = new FcnModel(gpu, cfg);
    try {
      model.loadState(ck.state);
      let same = 0;
      let worst = 0;
      let scaleAll = 0;
      const plane = cfg.classes * H * W;
      for (let i = 0; i < N; i++) {
        const img = x.subarray(i * 3 * H * W, (i + 1) * 3 * H * W);
        const classes = await predictClasses(model, img, H, W);
        const want = torchClasses.subarray(i * H * W, (i + 1) * H * W);
        for (let p = 0; p < H * W; p++) same += classes[p] === want[p] ? 1 : 0;
        // argmax of PyTorch's logits is PyTorch's class map (so the file read is the right one).
        expect(argmaxClasses(torchLogits.subarray(i * plane, (i + 1) * plane), cfg.classes, H, W)).toEqual(want);
        const logits = await predictLogits(model, img, H, W);
        const ref = torchLogits.subarray(i * plane, (i + 1) * plane);
        let scale = 0;
        for (const v of ref) scale = Math.max(scale, Math.abs(v));
        const r = compare(logits, ref, 2e-5 * scale, 1e-3);
        expect(r.ok, `image ${i}: logit ${r.worst} is ${r.got} in webfcn, ${r.want} in PyTorch (max |diff| ${r.maxAbs}, scale ${scale})`).toBe(true);
        worst = Math.max(worst, r.maxAbs);
        scaleAll = Math.max(scaleAll, scale);
      }
      // More than one class is predicted: a constant map would agree trivially.
      expect(new Set(torchClasses).size).toBeGreaterThan(1);
      const agreement = same / (N * H * W);
      console.log(`webfcn vs PyTorch on the DDP checkpoint: class maps agree on ${same}/${N * H * W} pixels; logits max |diff| ${worst.toExponential(2)} (max |logit| ${scaleAll.toFixed(2)})`);
      expect(agreement).toBeGreaterThanOrEqual(0.999);
    } finally {
      await model.dispose();
    }
  });

  it('starts from torchvision ResNet-18 weights (--pretrained) and writes a webfcn .safetensors checkpoint', async () => {
    const tv = join(dir, 'resnet18.pth');
    python(['-c', `import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), ${JSON.stringify(tv)})`]);
    const outSt = join(dir, 'from-pretrained.safetensors');
    python([
      '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '--redirects', '1', '--tee', '1',
      'tools/torch/train_ddp.py', '--data', data, '--pretrained', tv, '--classes', '3', '--head', 'fcn8s', '--out', outSt,
      // lr 0: the step runs (DDP, loss, backward) but leaves the weights as loaded, so they can be compared exactly.
      '--batch-size', '4', '--crop', '64x64', '--max-steps', '1', '--lr', '0', '--log', join(dir, 'log2.json'),
    ]);
    const ck = decodeModelFile(readFileSync(outSt), outSt);
    expect(ck.meta.config).toEqual({ classes: 3, head: 'fcn8s' });
    const log2: DdpLog = JSON.parse(readFileSync(join(dir, 'log2.json'), 'utf8'));
    expect(log2.steps).toBe(1);
    expect(log2.ranks[1]!.params_sha256).toBe(log2.ranks[0]!.params_sha256);
    // The backbone came from the file, bit for bit; the head is the chapter's (bilinear transposed convs).
    const r = spawnSync('/usr/bin/python3', ['-c', `import torch, json; sd = torch.load(${JSON.stringify(tv)}); print(json.dumps({k: sd[k].flatten().tolist() for k in ['conv1.weight', 'layer4.1.conv2.weight']}))`], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const want = JSON.parse(r.stdout) as Record<string, number[]>;
    for (const [k, v] of Object.entries(want)) expect([...ck.state.tensors.get(k)!], k).toEqual(v);
    expect([...ck.state.tensors.get('transpose_conv.weight')!]).toEqual([...bilinearKernel(3, 3, 16)]);
    expect([...ck.state.tensors.get('upscore2.weight')!]).toEqual([...bilinearKernel(3, 3, 4)]);
  });
});
