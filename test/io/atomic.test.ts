import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic';

const dir = mkdtempSync(join(tmpdir(), 'webfcn-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const OLD = new Uint8Array(1000).fill(0x11);
let n = 0;
/** A fresh target path holding OLD, alone in its own folder (so leftover temps can be counted). */
function target(): string {
  const d = join(dir, `case${n++}`);
  mkdirSync(d, { recursive: true });
  const p = join(d, 'model.safetensors');
  writeFileSync(p, OLD);
  return p;
}
const others = (p: string) => readdirSync(join(p, '..')).filter((f) => f !== 'model.safetensors');

describe('writeFileAtomic', () => {
  it('writes bytes and chunk streams, replacing the old file and keeping its mode', async () => {
    const p = target();
    chmodSync(p, 0o600);
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    await writeFileAtomic(p, [new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect(Array.from(readFileSync(p))).toEqual([4, 5, 6]);
    const fresh = join(p, '..', 'new.bin');
    await writeFileAtomic(fresh, (async function* () {
      yield new Uint8Array([7]);
      yield new Uint8Array([8]);
    })());
    expect(Array.from(readFileSync(fresh))).toEqual([7, 8]);
    expect(others(p)).toEqual(['new.bin']);
  });

  it('leaves the old file intact and removes the temp when the rename step fails', async () => {
    const p = target();
    let tmpSeen = '';
    await expect(
      writeFileAtomic(p, new Uint8Array(5000).fill(9), {
        beforeRename: (tmp) => {
          tmpSeen = tmp;
          expect(readFileSync(tmp).length).toBe(5000); // the data really was written
          throw new Error('injected failure');
        },
      }),
    ).rejects.toThrow('injected failure');
    expect(tmpSeen).not.toBe('');
    expect(existsSync(tmpSeen)).toBe(false);
    expect(Array.from(readFileSync(p))).toEqual(Array.from(OLD));
    expect(others(p)).toEqual([]);
  });

  it('leaves the old file intact when the data stream fails midway', async () => {
    const p = target();
    const failing = (function* () {
      yield new Uint8Array(100_000).fill(7);
      throw new Error('source broke');
    })();
    await expect(writeFileAtomic(p, failing)).rejects.toThrow('source broke');
    expect(Array.from(readFileSync(p))).toEqual(Array.from(OLD));
    expect(others(p)).toEqual([]);
  });

  it('fails cleanly when the folder does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'no', 'such', 'x.bin'), new Uint8Array(1))).rejects.toThrow(/ENOENT/);
  });

  it('never leaves a half-written target when the writing process is SIGKILLed', async () => {
    const child = fileURLToPath(new URL('./atomic_child.ts', import.meta.url));
    const register = fileURLToPath(new URL('../../tools/register.js', import.meta.url));
    const MB = 16;
    /** Runs the child; kills it `killAfterMs` after it reports its first chunk (never, if undefined). */
    const run = (p: string, killAfterMs: number | undefined) =>
      new Promise<{ killed: boolean; out: string }>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', register, child, p, String(MB), '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (killAfterMs !== undefined && out.includes('started')) setTimeout(() => c.kill('SIGKILL'), killAfterMs);
        });
        c.on('error', reject);
        c.on('exit', (code, signal) => resolve({ killed: signal === 'SIGKILL', out: out + (code ? ` exit ${code}` : '') }));
      });
    const isOld = (b: Buffer) => b.length === OLD.length && b.every((x) => x === 0x11);
    const isNew = (b: Buffer) => b.length === MB << 20 && b.every((x) => x === 0xab);

    let midWrite = 0;
    for (const killAfter of [0, 50, 150, 300]) {
      const p = target();
      const r = await run(p, killAfter);
      const b = readFileSync(p);
      expect(isOld(b) || isNew(b), `kill after ${killAfter} ms: target is ${b.length} bytes`).toBe(true);
      if (r.killed && isOld(b)) {
        // Killed before the rename: the temp (partial, or complete but not yet renamed) is left beside the intact target.
        const tmps = others(p);
        expect(tmps.length).toBe(1);
        const size = statSync(join(p, '..', tmps[0]!)).size;
        expect(size).toBeLessThanOrEqual(MB << 20);
        if (size < MB << 20) midWrite++;
      }
    }
    expect(midWrite).toBeGreaterThan(0);
    const p = target();
    const done = await run(p, undefined);
    expect(done.out).toContain('done');
    expect(isNew(readFileSync(p))).toBe(true);
    expect(others(p)).toEqual([]);
  }, 60_000);
});
