// The software fallbacks, each in its own process (Dawn instances and the Vulkan loader read the
// environment once): SwiftShader (Vulkan, from Debian's chromium) runs the engine too, and a
// machine with no adapter at all gets an error that says what to install.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

function webfcn(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', './tools/register.js', 'src/cli/run.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('software adapters', () => {
  it('SwiftShader (WEBFCN_BACKEND=swiftshader) is found and runs a kernel', () => {
    const info = webfcn(['info', '--json'], { WEBFCN_BACKEND: 'swiftshader' });
    expect(info.code, info.err).toBe(0);
    const report = JSON.parse(info.out);
    expect(report.backend).toBe('webgpu');
    expect(report.adapter.backend).toBe('swiftshader');
    expect(report.adapter.architecture).toBe('swiftshader');
    expect(report.adapter.software).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'webfcn-ss-'));
    const png = new PNG({ width: 8, height: 6 });
    png.data.fill(200);
    writeFileSync(join(dir, 'in.png'), PNG.sync.write(png));
    const up = webfcn(['upsample', '--input', join(dir, 'in.png'), '--out', join(dir, 'out.png')], { WEBFCN_BACKEND: 'swiftshader' });
    expect(up.code, up.err).toBe(0);
    expect(up.out).toMatch(/output image shape: 12x16 .* on swiftshader/);
  });

  it('with no adapter at all, the error says what to install', () => {
    const r = webfcn(['info'], { WEBFCN_BACKEND: 'swiftshader', VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/No WebGPU adapter found\. On Debian\/Ubuntu run `npm run setup`.*libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri/);
    expect(r.err).toMatch(/Tried: swiftshader: no adapter/);
  });
});
