// Hostile text and model files: VOC split lists (odd bytes, huge lines, NULs, CRLF, missing ids),
// colour maps (parseColormap and openFolder's colormap.txt), and a real webfcn checkpoint whose
// header, metadata and length are mutated (decodeModelFile). Every case must give a correct
// result or a named error whose message names the file, quickly and without runaway memory.
// (Zip bombs, pickles naming other globals and the .pth/.safetensors readers themselves are
// fuzzed in test/io.)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, encodePngRgb } from '../../src/data/codec';
import { ColormapError, parseColormap } from '../../src/data/colormap';
import { openFolder, openVOC } from '../../src/data/dataset';
import { Preprocessor } from '../../src/data/preprocess';
import { writeSyntheticDataset } from '../../src/data/synth';
import { CheckpointFormatError, decodeModelFile, encodeCheckpoint, type CheckpointMeta } from '../../src/fcn/checkpoint';
import { initialState } from '../../src/fcn/model';
import { fcnParamSpecs } from '../../src/fcn/spec';
import { CheckpointError } from '../../src/io/errors';
import { fcnShapes } from '../../src/fcn/keys';
import { byteMutations, CASES, fuzz, int, namedRefusal, pick, type Mutant } from './fuzz';

const dir = mkdtempSync(join(tmpdir(), 'webfcn-fuzz-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
/** Refusal messages stay readable whatever the input held. */
const MAX_MESSAGE = 2000;

describe('VOC split lists', () => {
  let root = '';
  let ids: string[] = [];
  let pre: Preprocessor;
  beforeAll(async () => {
    const r = writeSyntheticDataset({ out: join(dir, 'voc'), classes: 3, train: 3, val: 1, size: [24, 32], seed: 2 });
    root = r.root;
    ids = r.train;
    pre = await Preprocessor.create();
  });

  const listMutations: ((r: () => number) => Mutant<Uint8Array | 'folder'>)[] = [
    () => ({ input: enc(ids.join('\r\n') + '\r\n'), what: 'CRLF' }),
    () => ({ input: enc('\uFEFF' + ids.join('\n') + '\n\n\t \n'), what: 'BOM, blank and whitespace lines' }),
    (r) => ({ input: Uint8Array.from({ length: 1 + int(r, 300) }, () => int(r, 256)), what: 'random bytes' }),
    (r) => {
      const b = enc(ids.join('\n'));
      const c = new Uint8Array(b.length + 1);
      const at = int(r, b.length + 1);
      c.set(b.subarray(0, at));
      c.set(b.subarray(at), at + 1);
      return { input: c, what: `NUL at ${at}` };
    },
    (r) => ({ input: enc('x'.repeat(1 << (16 + int(r, 5))) + '\n' + ids.join('\n')), what: 'a huge first line' }),
    () => ({ input: enc([...ids, 'ghost_000'].join('\n')), what: 'a missing id' }),
    () => ({ input: enc('# nothing\n\n   \n'), what: 'only comments' }),
    () => ({ input: new Uint8Array(0), what: 'empty' }),
    (r) => ({ input: enc(pick(r, ['../', '../../', '/', 'JPEGImages/', '..\\', '%00', 'C:\\']) + ids[0]), what: 'a path in an id' }),
    (r) => ({ input: enc(Array.from({ length: 500 }, (_, i) => ids[i % ids.length]).join(pick(r, ['\n', '\r\n', '\r\n\r\n']))), what: '500 lines' }),
    () => ({ input: enc(ids.join('\r')), what: 'CR-only line ends' }),
    () => ({ input: new Uint8Array([0xff, 0xfe, ...enc(ids.join('\n'))]), what: 'invalid UTF-8 prefix' }),
    () => ({ input: 'folder', what: 'a folder named train.txt' }),
    (r) => pickMut(r, enc(ids.join('\n'))),
  ];
  const pickMut = (r: () => number, b: Uint8Array): Mutant<Uint8Array> => pick(r, byteMutations)(b, r);

  it(`${CASES} mutated train.txt files: the ids that exist, or a DataError naming a file`, async () => {
    const list = join(root, 'ImageSets', 'Segmentation', 'train.txt');
    const outcomes: Record<string, number> = {};
    const t = await fuzz({
      label: 'VOC train.txt',
      cases: CASES,
      seed: 11,
      make: (r) => pick(r, listMutations)(r),
      run: async (input, what) => {
        rmSync(list, { recursive: true, force: true });
        if (input === 'folder') mkdirSync(list);
        else writeFileSync(list, input);
        const ds = await openVOC(root, 'train', { preprocessor: pre, classes: 3 });
        // Only the listed ids that exist, named as plain file names.
        for (const e of ds.entries) expect(ids).toContain(e.id);
        expect(what).not.toBe('a path in an id');
        if (what === 'CRLF' || what.startsWith('BOM') || what === '500 lines') expect(ds.length, what).toBe(what === '500 lines' ? 500 : 3);
        outcomes[what] = (outcomes[what] ?? 0) + 1;
      },
      refusal: (e) => namedRefusal(e, [DataError], root) && (e as Error).message.length < MAX_MESSAGE,
    });
    console.log(`  opened: ${JSON.stringify(outcomes)}`);
    expect(t.ok).toBeGreaterThan(0);
    expect(t.refused).toBeGreaterThan(0);
  });
});

describe('colour maps', () => {
  const base = '# r g b name\n0 0 0 background\n128 0 0 red thing\n0 128 0 green\n';
  const lineMutations: ((r: () => number) => Mutant<string>)[] = [
    (r) => ({ input: base + `${int(r, 300)} ${int(r, 300)} ${int(r, 300)} extra\n`, what: 'components up to 299' }),
    () => ({ input: base + '128 0 0 duplicate\n', what: 'a duplicate colour' }),
    (r) => ({ input: base + pick(r, ['-1 0 0 neg', '1.5 0 0 frac', '0x10 0 0 hex', '1e2 0 0 exp', '٣ 0 0 arabic digit', '0 0', '0 0 0\u0000nul', '00000000000000000000128 0 0 z']), what: 'odd numbers' }),
    (r) => ({ input: base.replace(/\n/g, pick(r, ['\r\n', '\r', '\n\r', '\u2028'])), what: 'odd line ends' }),
    (r) => ({ input: base + 'x'.repeat(1 << (12 + int(r, 8))) + '\n', what: 'a huge line' }),
    (r) => ({ input: Array.from({ length: 250 + int(r, 20) }, (_, i) => `${i & 255} ${i >> 8} 7 c${i}`).join('\n'), what: '250..269 classes' }),
    () => ({ input: '\n# only a comment\n', what: 'no colours' }),
    (r) => ({ input: dec(Uint8Array.from({ length: 1 + int(r, 200) }, () => int(r, 256))), what: 'random bytes' }),
    (r) => {
      const m = pick(r, byteMutations)(enc(base), r);
      return { input: dec(m.input), what: m.what };
    },
  ];

  it(`${CASES} mutated colour maps: parseColormap gives distinct 0..255 colours or a ColormapError naming the file`, async () => {
    const t = await fuzz({
      label: 'parseColormap',
      cases: CASES,
      seed: 12,
      make: (r) => pick(r, lineMutations)(r),
      run: (text) => {
        const { colors, names } = parseColormap(text, 'colormap.txt');
        expect(colors.length).toBeGreaterThan(0);
        expect(colors.length).toBeLessThanOrEqual(255);
        expect(names).toHaveLength(colors.length);
        for (const c of colors) for (const v of c) expect(Number.isInteger(v) && v >= 0 && v <= 255).toBe(true);
        expect(new Set(colors.map((c) => c.join())).size).toBe(colors.length);
      },
      refusal: (e) => namedRefusal(e, [ColormapError], 'colormap.txt') && (e as Error).message.length < MAX_MESSAGE,
    });
    expect(t.ok).toBeGreaterThan(0);
    expect(t.refused).toBeGreaterThan(0);
    expect(() => parseColormap(base + '0 128 0 again\n', 'map.txt')).toThrow(/map\.txt:5: colour 0 128 0 is already class 2/);
  });

  it(`${Math.ceil(CASES / 5)} mutated colormap.txt files through openFolder + decode`, async () => {
    const root = join(dir, 'folder');
    mkdirSync(join(root, 'images'), { recursive: true });
    mkdirSync(join(root, 'masks'), { recursive: true });
    const px = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => ((i % 3 === 0 && i > 300) ? 128 : 0));
    writeFileSync(join(root, 'images', 'a.png'), encodePngRgb(px.map((v, i) => (v + i) & 255), 16, 16));
    writeFileSync(join(root, 'masks', 'a.png'), encodePngRgb(px, 16, 16));
    const pre = await Preprocessor.create();
    const mapFile = join(root, 'colormap.txt');
    const t = await fuzz({
      label: 'openFolder colormap.txt',
      cases: Math.ceil(CASES / 5),
      seed: 13,
      make: (r) => pick(r, lineMutations)(r),
      run: async (text) => {
        writeFileSync(mapFile, text);
        const ds = await openFolder(root, 'all', { preprocessor: pre });
        const s = ds.sample(0);
        for (const v of s.label) if (v >= ds.numClasses && v !== 255) throw new Error(`label ${v} with ${ds.numClasses} classes`);
      },
      refusal: (e) => namedRefusal(e, [ColormapError, DataError], mapFile) && (e as Error).message.length < MAX_MESSAGE,
    });
    expect(t.ok + t.refused).toBe(Math.ceil(CASES / 5));
  });
});

describe('webfcn model files', () => {
  const source = 'fuzz-model.safetensors';
  const K = 2;
  let file: Uint8Array;
  let headerLen = 0;
  let header: { __metadata__: Record<string, string>; [k: string]: unknown };
  beforeAll(() => {
    const config = { classes: K, head: 'fcn32s' as const };
    const state = initialState(config, { seed: 1 });
    const meta: CheckpointMeta = {
      config, colormap: [[0, 0, 0], [128, 0, 0]], classNames: ['background', 'thing'], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
      progress: { epoch: 1, step: 2, seed: 0, options: { lr: 0.01 }, history: [] },
    };
    file = encodeCheckpoint({ meta, state, momentum: null }, new Map(fcnParamSpecs(config).map((s) => [s.name, s.shape])));
    headerLen = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    header = JSON.parse(dec(file.subarray(8, 8 + headerLen)));
  });

  /** The file with a new header (the tensor bytes are shared, not copied, until assembled). */
  function withHeader(h: unknown): Uint8Array {
    const text = enc(JSON.stringify(h));
    const out = new Uint8Array(8 + text.length + file.length - 8 - headerLen);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(file.subarray(8 + headerLen), 8 + text.length);
    return out;
  }

  const HOSTILE = ['', '{', 'null', '5', '-1', '0', '1e9', '2.5', '"x"', '[]', '[1,2]', '[[1,2,3],[4,5,6]]', '[[0,0,0],[999,0,0]]', '{"__proto__":{"x":1}}',
    '["a",1]', '[0.5,0.5,0.5]', '[0,0,0]', '{"epoch":"x"}', '{"epoch":1}', 'fcn8s', 'fcn99s', '__proto__', 'constructor', '3', '255', '256'];

  const modelMutations: ((r: () => number) => Mutant)[] = [
    (r) => {
      const key = pick(r, ['classes', 'head', 'colormap', 'class_names', 'mean', 'std', 'progress', 'format']);
      const v = pick(r, HOSTILE);
      return { input: withHeader({ ...header, __metadata__: { ...header.__metadata__, [key]: v } }), what: `metadata ${key} = ${v}` };
    },
    (r) => {
      const key = pick(r, ['classes', 'head', 'colormap', 'class_names', 'mean', 'std', 'progress']);
      const md = { ...header.__metadata__ };
      delete md[key];
      return { input: withHeader({ ...header, __metadata__: md }), what: `metadata ${key} removed` };
    },
    (r) => {
      const v = pick(r, [5, null, [], { a: 1 }, true]);
      return { input: withHeader({ ...header, __metadata__: { ...header.__metadata__, classes: v } }), what: `metadata classes = ${JSON.stringify(v)} (not a string)` };
    },
    (r) => {
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      const name = pick(r, names);
      const t = { ...(header[name] as { dtype: string; shape: number[]; data_offsets: number[] }) };
      const h = { ...header } as Record<string, unknown>;
      const kind = int(r, 5);
      let what = name;
      if (kind === 0) {
        t.dtype = pick(r, ['F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'F8_E4M3', 'X', '']);
        what += ` dtype ${t.dtype}`;
      } else if (kind === 1) {
        t.shape = pick(r, [[], [0], [t.shape.reduce((a, b) => a * b, 1)], [...t.shape, 1], t.shape.map((d) => d * 2), [2 ** 32, 2 ** 32], [-1]]);
        what += ` shape [${t.shape}]`;
      } else if (kind === 2) {
        const [a, b] = t.data_offsets as [number, number];
        t.data_offsets = pick(r, [[b, a], [a, b + 4], [a - 4, b - 4], [0, 2 ** 53], [a, a], [-4, b]]);
        what += ` offsets [${t.data_offsets}]`;
      } else if (kind === 3) {
        delete h[name];
        what += ' removed';
      } else {
        delete h[name];
        h[pick(r, [`${name}x`, '__proto__', 'optimizer.momentum.conv1.weight', `${name}.num_batches_tracked`])] = t;
        what += ' renamed';
      }
      if (kind < 3) h[name] = t;
      return { input: withHeader(h), what };
    },
    (r) => {
      const n = int(r, file.length);
      return { input: file.subarray(0, n), what: `truncate to ${n}` };
    },
    (r) => {
      // Bit flips and big numbers inside the 8-byte length and the JSON header only.
      const head = file.slice(0, 8 + headerLen);
      const m = pick(r, byteMutations.slice(1, 3))(head, r);
      const out = new Uint8Array(file.length);
      out.set(file);
      out.set(m.input.subarray(0, 8 + headerLen));
      return { input: out, what: `header ${m.what}` };
    },
  ];

  /** What a decoded checkpoint must look like for the loaders after it. */
  function checkDecoded(ck: ReturnType<typeof decodeModelFile>): void {
    const { classes, head } = ck.meta.config;
    expect(Number.isInteger(classes) && classes >= 1 && classes <= 255, `classes ${classes}`).toBe(true);
    expect(['fcn32s', 'fcn16s', 'fcn8s']).toContain(head);
    const shapes = fcnShapes(classes, head);
    for (const [k, s] of shapes) {
      if (k.endsWith('num_batches_tracked')) continue;
      expect(ck.state.tensors.get(k)?.length, k).toBe(s.reduce((a, b) => a * b, 1));
    }
    expect(Array.isArray(ck.meta.colormap)).toBe(true);
    for (const c of ck.meta.colormap) expect(c.length === 3 && c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255), `colour ${c}`).toBe(true);
    expect(Array.isArray(ck.meta.classNames) && ck.meta.classNames.every((n) => typeof n === 'string')).toBe(true);
    for (const v of [ck.meta.mean, ck.meta.std]) expect(v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
    expect(ck.meta.std.every((x) => x > 0)).toBe(true);
    if (ck.meta.progress !== undefined) expect(Number.isInteger(ck.meta.progress.epoch) && ck.meta.progress.epoch >= 0).toBe(true);
  }

  it('the unmutated checkpoint decodes', () => {
    const ck = decodeModelFile(file, source);
    checkDecoded(ck);
    expect(ck.meta.config).toEqual({ classes: K, head: 'fcn32s' });
    expect(file.length).toBeGreaterThan(40e6);
  });

  it(`${Math.ceil(CASES / 2)} mutated headers, metadata and truncations: a valid checkpoint or a named error`, async () => {
    const t = await fuzz({
      label: 'decodeModelFile (webfcn safetensors)',
      cases: Math.ceil(CASES / 2),
      seed: 14,
      make: (r) => pick(r, modelMutations)(r),
      run: (b) => checkDecoded(decodeModelFile(b, source)),
      refusal: (e) => namedRefusal(e, [CheckpointError, CheckpointFormatError], source) && (e as Error).message.length < 20000,
      maxRssMiB: 512,
    });
    expect(t.ok).toBeGreaterThan(0);
    expect(t.refused).toBeGreaterThan(0);
  });
});
