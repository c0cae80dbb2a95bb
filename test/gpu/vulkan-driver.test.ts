// vulkanDriverPresent: Vulkan is probed only where the Vulkan loader would find a driver manifest,
// so a machine without one gets no `vkCreateInstance: Found no drivers!` warnings.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vulkanDriverPresent } from '../../src/gpu/device.js';

describe.runIf(process.platform === 'linux')('vulkanDriverPresent (Linux loader search)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webfcn-icd-'));
  const manifest = join(dir, 'driver_icd.json');
  writeFileSync(manifest, '{"file_format_version": "1.0.0", "ICD": {"library_path": "x.so"}}');
  const empty = join(dir, 'empty');
  mkdirSync(empty);

  it('VK_ICD_FILENAMES / VK_DRIVER_FILES: a manifest file or a folder holding one', async () => {
    expect(await vulkanDriverPresent({ VK_ICD_FILENAMES: manifest })).toBe(true);
    expect(await vulkanDriverPresent({ VK_DRIVER_FILES: dir })).toBe(true);
    expect(await vulkanDriverPresent({ VK_ICD_FILENAMES: join(dir, 'missing.json') })).toBe(false);
    expect(await vulkanDriverPresent({ VK_DRIVER_FILES: `${join(dir, 'missing.json')}:${empty}` })).toBe(false);
    expect(await vulkanDriverPresent({ VK_DRIVER_FILES: `${join(dir, 'missing.json')}:${manifest}` })).toBe(true);
  });

  it('else vulkan/icd.d under the XDG folders', async () => {
    const data = join(dir, 'data');
    mkdirSync(join(data, 'vulkan', 'icd.d'), { recursive: true });
    writeFileSync(join(data, 'vulkan', 'icd.d', 'vendor_icd.json'), '{}');
    expect(await vulkanDriverPresent({ HOME: empty, XDG_DATA_DIRS: data })).toBe(true);
    const config = join(dir, 'config');
    mkdirSync(join(config, 'vulkan', 'icd.d'), { recursive: true });
    writeFileSync(join(config, 'vulkan', 'icd.d', 'vendor_icd.json'), '{}');
    expect(await vulkanDriverPresent({ HOME: empty, XDG_CONFIG_HOME: config, XDG_DATA_DIRS: empty })).toBe(true);
  });
});
