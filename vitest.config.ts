import { defineConfig } from 'vitest/config';
import { wgslPlugin } from './tools/wgsl-plugin.js';

// One process per test file (forks): each acquires its own Dawn device, and a crashed
// driver takes down only that file. Two files at a time: the machines have two cores and
// llvmpipe already spreads each dispatch over all of them.
export default defineConfig({
  plugins: [wgslPlugin()],
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
