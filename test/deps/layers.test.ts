// The dependency rule (.dependency-cruiser.cjs) that `npm run lint:deps` runs over src/: it must
// fail on a back-edge and on a cycle, let a type-only import cross, and pass on the real tree.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function depcruise(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['node_modules/dependency-cruiser/bin/dependency-cruise.mjs', dir, '--config', '.dependency-cruiser.cjs'],
    { cwd: root, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('layer rule', () => {
  it('fails on a back-edge (io importing fcn), naming the rule and the files', () => {
    const r = depcruise('test/deps/fixtures/back-edge/src');
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/layer-io: test\/deps\/fixtures\/back-edge\/src\/io\/bytes\.ts → test\/deps\/fixtures\/back-edge\/src\/fcn\/spec\.ts/);
  });

  it('fails on a cycle inside one layer', () => {
    const r = depcruise('test/deps/fixtures/cycle/src');
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/no-circular: test\/deps\/fixtures\/cycle\/src\/data\/a\.ts → /);
  });

  it('lets a type-only import cross a layer', () => {
    const r = depcruise('test/deps/fixtures/type-only/src');
    expect(r.out).toMatch(/no dependency violations found/);
    expect(r.status).toBe(0);
  });

  it('passes on src/', () => {
    const r = depcruise('src');
    expect(r.out).toMatch(/no dependency violations found/);
    expect(r.status).toBe(0);
  });
});
