import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPth } from '../../src/io/pth';
import { StateDictError, checkAgainst } from '../../src/io/state_dict';
import { CHAPTER_RENAMES, HEADS, detectLayout, fcnShapes, resnet18Shapes, toCanonical } from '../../src/fcn/keys';

interface KeyFile {
  num_classes: number;
  torchvision_resnet18: Array<[string, number[], string]>;
  chapter_fcn: Array<[string, number[], string]>;
}
const keys = JSON.parse(readFileSync(new URL('../golden/pth/resnet18_keys.json', import.meta.url), 'utf8')) as KeyFile;
const shapes = (l: Array<[string, number[], string]>) => new Map(l.map(([k, s]) => [k, { shape: s }]));
const tv = shapes(keys.torchvision_resnet18);
const chapter = shapes(keys.chapter_fcn);

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StateDictError);
    return (e as Error).message;
  }
  throw new Error('expected a StateDictError');
}

describe('resnet18 / FCN key tables against torchvision', () => {
  it('resnet18Shapes is torchvision resnet18 without fc, in state_dict order', () => {
    const want = keys.torchvision_resnet18.filter(([k]) => !k.startsWith('fc.'));
    expect([...resnet18Shapes()]).toEqual(want.map(([k, s]) => [k, s]));
    expect(keys.torchvision_resnet18.filter(([, , d]) => d === 'int64').every(([k]) => k.endsWith('num_batches_tracked'))).toBe(true);
  });

  it("maps the chapter's nn.Sequential keys onto canonical names: the same shapes as fcnShapes(21)", () => {
    expect(detectLayout(chapter.keys())).toBe('chapter');
    const { stateDict, notes, layout } = toCanonical(chapter);
    expect(layout).toBe('chapter');
    expect(notes.join()).toMatch(/renamed the chapter's nn\.Sequential keys.*0\.\* -> conv1\.\*.*7\.\* -> layer4\.\*/);
    expect([...stateDict.keys()]).toEqual([...fcnShapes(keys.num_classes).keys()]);
    checkAgainst(fcnShapes(keys.num_classes), stateDict);
    // Every chapter key is a torchvision key (or a head key) under the rename table, one to one.
    const back = new Map(CHAPTER_RENAMES.map(([a, b]) => [b, a]));
    for (const k of stateDict.keys()) {
      const top = k.split('.')[0]!;
      expect(chapter.has(back.has(top) ? back.get(top) + k.slice(top.length) : k), k).toBe(true);
    }
  });

  it('takes torchvision names as canonical and drops fc with a note', () => {
    expect(detectLayout(tv.keys())).toBe('webfcn');
    const { stateDict, notes } = toCanonical(tv);
    expect(notes.join()).toMatch(/dropped the ImageNet classifier \(fc\.weight, fc\.bias\)/);
    checkAgainst(resnet18Shapes(), stateDict);
    expect(tv.get('fc.weight')!.shape).toEqual([1000, 512]);
  });

  it('strips a DataParallel module. prefix', () => {
    const wrapped = new Map([...chapter].map(([k, v]) => [`module.${k}`, v]));
    expect(detectLayout(wrapped.keys())).toBe('chapter');
    const { stateDict, notes } = toCanonical(wrapped);
    expect(notes[0]).toMatch(/stripped the 'module\.' prefix/);
    checkAgainst(fcnShapes(21), stateDict);
  });

  it('has head tables for FCN-16s and FCN-8s on the right feature widths', () => {
    const h16 = fcnShapes(5, 'fcn16s');
    expect(h16.get('score_layer3.weight')).toEqual([5, 256, 1, 1]);
    expect(h16.get('upscore2.weight')).toEqual([5, 5, 4, 4]);
    expect(h16.get('transpose_conv.weight')).toEqual([5, 5, 32, 32]);
    const h8 = fcnShapes(5, 'fcn8s');
    expect(h8.get('score_layer2.weight')).toEqual([5, 128, 1, 1]);
    expect(h8.get('upscore_pool4.weight')).toEqual([5, 5, 4, 4]);
    expect(h8.get('transpose_conv.weight')).toEqual([5, 5, 16, 16]);
    expect(h8.size - resnet18Shapes().size).toBe(2 * HEADS.fcn8s.length);
    // Head keys keep their names in both layouts.
    expect(detectLayout(['0.weight', 'score_layer2.weight', 'upscore2.bias'])).toBe('chapter');
  });
});

describe('layout errors', () => {
  it('refuses mixed and unknown layouts, listing keys', () => {
    expect(detectLayout(['0.weight', 'conv1.weight'])).toBe('mixed');
    expect(refusal(() => toCanonical(new Map([['0.weight', 1], ['layer1.0.conv1.weight', 2]])))).toMatch(/mix the chapter's Sequential layout \('0\.weight'\) with torchvision names \('layer1\.0\.conv1\.weight'\)/);
    expect(detectLayout(['backbone.body.conv1.weight'])).toBe('unknown');
    expect(detectLayout([])).toBe('unknown');
    expect(refusal(() => toCanonical(new Map([['backbone.conv1.weight', 1], ['conv1.weight', 1]]), 'x.pth'))).toMatch(/^x\.pth: unrecognised keys for FCN-ResNet18: 'backbone\.conv1\.weight'/);
  });

  it('refuses Sequential indices that hold no resnet18 module (e.g. a tiny test model)', () => {
    const tiny = readPth(new Uint8Array(readFileSync(new URL('../golden/pth/tiny.pth', import.meta.url))), 'tiny.pth');
    expect(detectLayout(tiny.keys())).toBe('chapter');
    expect(refusal(() => toCanonical(tiny, 'tiny.pth'))).toMatch(/tiny\.pth: Sequential indices with no resnet18 module \(only 0, 1, 4, 5, 6, 7 hold parameters\): '3\.0\.weight', '3\.1\.weight'/);
  });

  it('checkAgainst lists every missing, unexpected and mis-shaped key with both shapes', () => {
    const got = new Map([...toCanonical(chapter).stateDict]);
    got.delete('layer2.0.downsample.0.weight');
    got.delete('bn1.num_batches_tracked');
    got.set('extra.weight', { shape: [3] });
    got.set('final_conv.weight', { shape: [10, 512, 1, 1] });
    got.set('conv1.weight', { shape: [64, 3, 3, 3] });
    const m = refusal(() => checkAgainst(fcnShapes(21), got, 'ckpt.pth'));
    expect(m).toMatch(/^ckpt\.pth: state dict does not match the model: /);
    expect(m).toContain("missing 2: 'bn1.num_batches_tracked' [], 'layer2.0.downsample.0.weight' [128, 64, 1, 1]");
    expect(m).toContain("unexpected 1: 'extra.weight' [3]");
    expect(m).toContain("wrong shape 2: 'conv1.weight': expected [64, 3, 7, 7], got [64, 3, 3, 3]; 'final_conv.weight': expected [21, 512, 1, 1], got [10, 512, 1, 1]");
  });
});
