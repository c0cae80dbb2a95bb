// Kernel configuration: the one specialisation helper (a placeholder that matches nothing is an
// error; the pipeline cache key is built from the substituted values) and the per-device policy
// (read from the environment when a device is acquired, overridden for a while with withPolicy).
import { afterAll, describe, expect, it } from 'vitest';
import { configureAutotune } from '../../src/gpu/autotune.js';
import { acquireGpu } from '../../src/gpu/device.js';
import { cacheKey, compile, specialize, type KernelDef } from '../../src/gpu/kernel.js';
import { policyDefaults, policyFromEnv, withPolicy } from '../../src/gpu/policy.js';
import { releaseGpu, testGpu, withGpu } from '../helpers/gpu.js';

afterAll(releaseGpu);

const template: KernelDef = {
  name: 'test.template',
  code: [
    'const WG = 64u;',
    'const TM = 4u;  // rows per thread',
    'const SCALE = 1.5;',
    'const MT = 2;',
    '@group(0) @binding(0) var<storage, read_write> out: array<f32>;',
    '@compute @workgroup_size(WG)',
    'fn main(@builtin(global_invocation_id) gid: vec3u) {',
    '  // #body',
    '}',
  ].join('\n'),
};

describe('specialize', () => {
  it('writes the values with their literal types and inserts code at the marker', () => {
    const k = specialize(template, { name: 'test.k', values: { WG: 8, TM: 2, SCALE: 3, MT: 4 }, inserts: { body: '  out[gid.x] = SCALE * f32(TM + MT);' } });
    expect(k.code).toContain('const WG = 8u;');
    expect(k.code).toContain('const TM = 2u;  // rows per thread');
    expect(k.code).toContain('const SCALE = 3.0;');
    expect(k.code).toContain('const MT = 4;');
    expect(k.code).toContain('  out[gid.x] = SCALE * f32(TM + MT);');
    expect(k.code).not.toContain('// #body');
    expect(k.name).toBe('test.k');
  });

  it('fails when a placeholder is missing, repeated, or given a value its type cannot hold', () => {
    expect(() => specialize(template, { values: { TN: 4 } })).toThrow(/test\.template: specialise: the template has 0 declarations 'const TN = <number>;'/);
    const twice = { ...template, code: `${template.code}\nconst TM = 8u;` };
    expect(() => specialize(twice, { values: { TM: 4 } })).toThrow(/2 declarations 'const TM/);
    expect(() => specialize(template, { inserts: { transform: 'x' } })).toThrow(/0 marker lines '\/\/ #transform'/);
    expect(() => specialize(template, { values: { WG: 2.5 } })).toThrow(/WG = 2\.5 must be an integer/);
    expect(() => specialize(template, { values: { WG: -1 } })).toThrow(/WG = -1 must be unsigned/);
    expect(() => specialize(template, { values: { 'WG = 1u; //': 1 } })).toThrow(/not a WGSL identifier/);
  });

  it('keys the pipeline cache on the substituted values, not on the name', () => {
    const a = specialize(template, { name: 'same', values: { WG: 8 } });
    const b = specialize(template, { name: 'same', values: { WG: 16 } });
    const c = specialize(template, { name: 'same', values: { WG: 8 } });
    const d = specialize(template, { name: 'same', values: { WG: 8 }, inserts: { body: '  out[0] = 1.0;' } });
    expect(cacheKey(a)).not.toBe(cacheKey(b));
    expect(cacheKey(a)).toBe(cacheKey(c));
    expect(cacheKey(d)).not.toBe(cacheKey(a));
    // Specialising a specialisation keeps what the first one wrote in the key.
    expect(cacheKey(specialize(a, { values: { TM: 2 } }))).toMatch(/TM=2,WG=8/);
  });

  it('compiles one pipeline per specialisation', async () => {
    await withGpu(async (gpu) => {
      const body = { body: '  out[gid.x] = SCALE;' };
      const [p8, p16, p8again] = await Promise.all([
        compile(gpu, specialize(template, { name: 'same', values: { WG: 8 }, inserts: body })),
        compile(gpu, specialize(template, { name: 'same', values: { WG: 16 }, inserts: body })),
        compile(gpu, specialize(template, { name: 'same', values: { WG: 8 }, inserts: body })),
      ]);
      expect(p8.pipeline).not.toBe(p16.pipeline);
      expect(p8again.pipeline).toBe(p8.pipeline);
    });
  });
});

describe('kernel policy', () => {
  it('is read from the environment', () => {
    expect(policyFromEnv({}).conv).toEqual({});
    expect(policyFromEnv({ WEBFCN_WINOGRAD: 'off' }).conv).toEqual({ winograd: false });
    expect(policyFromEnv({ WEBFCN_WINOGRAD: '3' }).conv).toEqual({ winogradTile: 3 });
    expect(policyFromEnv({ WEBFCN_AUTOTUNE: '0' }).autotune.mode).toBe('off');
    expect(policyFromEnv({ WEBFCN_AUTOTUNE: '1' }).autotune.mode).toBe('on');
    expect(policyFromEnv({}).autotune).toEqual({ mode: 'auto', force: null, reps: 3 });
  });

  it('belongs to one device: overrides restore afterwards, even on failure, and do not reach another device', async () => {
    const gpu = await testGpu();
    const other = await acquireGpu();
    try {
      const before = JSON.stringify(gpu.policy);
      await withPolicy(gpu, { conv: { winograd: false, wgradSplits: 3 }, autotune: { force: 'reg4x4' } }, async () => {
        expect(gpu.policy.conv).toMatchObject({ winograd: false, wgradSplits: 3 });
        expect(gpu.policy.autotune.force).toBe('reg4x4');
        expect(other.policy.conv.wgradSplits).toBeUndefined();
        expect(other.policy.autotune.force).toBeNull();
      });
      expect(JSON.stringify(gpu.policy)).toBe(before);
      await expect(withPolicy(gpu, { batchNorm: { cpuVariants: true } }, async () => {
        throw new Error('boom');
      })).rejects.toThrow('boom');
      expect(JSON.stringify(gpu.policy)).toBe(before);
    } finally {
      other.dispose();
    }
  });

  it('starts devices acquired after configureAutotune with its settings', async () => {
    const saved = { ...policyDefaults.autotune };
    configureAutotune({ reps: 2, force: 'reg4x8' });
    try {
      const g = await acquireGpu();
      expect(g.policy.autotune).toMatchObject({ reps: 2, force: 'reg4x8' });
      g.dispose();
      expect((await testGpu()).policy.autotune.force).toBeNull();
    } finally {
      policyDefaults.autotune = saved;
    }
  });
});
