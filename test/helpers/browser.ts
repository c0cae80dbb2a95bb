// Shared by the page tests: the browser bundles built with rollup's API into a folder (never into
// dist/, which other test files build at the same time), Chromium with WebGPU on SwiftShader, and
// a page-state poller that fails early with the page's own error.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { rollup, type OutputOptions, type RollupLog, type RollupOptions } from 'rollup';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Chromium's WebGPU on SwiftShader (Vulkan on the CPU), headless, with nothing reaching out to the network. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--headless=new', '--no-sandbox',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

/**
 * Writes the rollup configs whose output dir is `dist/browser` (or the subset `names` picks by
 * their input key) under `out`, keeping their relative paths (`out/dist/browser/...`).
 */
export async function buildBrowserBundles(out: string, names: string[] = ['webfcn', 'worker']): Promise<string[]> {
  const configs = ((await import('../../rollup.config.js')) as { default: RollupOptions[] }).default;
  const picked = configs.filter((c) => (c.output as OutputOptions).dir === 'dist/browser' && Object.keys(c.input as object).some((k) => names.includes(k)));
  if (picked.length !== names.length) throw new Error(`rollup.config.js has ${picked.length} of the bundles ${names.join(', ')}`);
  const written: string[] = [];
  for (const cfg of picked) {
    // Every warning fails the build, except those the config itself accepts by name (its onwarn).
    const fail = (w: RollupLog | string): never => {
      throw new Error(`rollup: ${typeof w === 'string' ? w : w.message}`);
    };
    const bundle = await rollup({ ...cfg, onwarn: (w) => (cfg.onwarn ? cfg.onwarn(w, fail) : fail(w)) });
    try {
      const { output } = await bundle.generate(cfg.output as OutputOptions);
      for (const f of output) {
        const file = join(out, 'dist/browser', f.fileName);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, f.type === 'chunk' ? f.code : f.source);
        written.push(file);
      }
    } finally {
      await bundle.close();
    }
  }
  return written;
}

/** Headless Chromium with WebGPU on SwiftShader; a missing Chromium is a failure, not a skip. */
export async function launchChromium(
  tmp: string, opts: { viewport?: { width: number; height: number }; acceptDownloads?: boolean } = {},
): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser tests need Chromium (npm run setup installs it)`);
  return chromium.launchPersistentContext(mkdtempSync(join(tmp, 'profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: ['--headless'],
    args: CHROMIUM_ARGS,
    viewport: opts.viewport ?? { width: 800, height: 600 },
    ...(opts.acceptDownloads === undefined ? {} : { acceptDownloads: opts.acceptDownloads }),
  });
}

/** Polls `read()` until `pred` holds; throws early with the page's error, or after `timeoutMs`. */
export async function untilPage<S extends { phase: string; error: string | null }>(
  page: Page, read: () => Promise<S>, pred: (s: S) => boolean, what: string, timeoutMs: number, errors: string[] = [],
): Promise<S> {
  const t0 = Date.now();
  let phase = '';
  for (;;) {
    const s = await read();
    if (s.phase !== phase) {
      phase = s.phase;
      console.info(`${what}: ${phase} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (s.error) throw new Error(`${what}: the page reported ${s.error}`);
    if (pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: timed out after ${timeoutMs} ms in phase ${s.phase}; page errors: ${errors.join(' | ')}`);
    await page.waitForTimeout(250);
  }
}
