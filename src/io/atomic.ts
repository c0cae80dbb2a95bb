// Crash-safe file replacement for checkpoints (Node only): the bytes go to a temporary file in the
// target's folder, are fsynced, and the temp is renamed over the target (atomic on POSIX within a
// file system), then the folder is fsynced so the rename itself survives a power loss. A reader
// therefore sees the old file or the complete new one, never a prefix. A process killed mid-write
// can leave its '.<name>.<pid>.<random>.tmp' behind; the target is untouched.

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export type AtomicData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface AtomicWriteOptions {
  /** File mode for a new target (an existing target's mode is kept). Default 0o644 less umask. */
  mode?: number;
  /** Runs after the temp file is written and synced, just before the rename (failure injection in tests). */
  beforeRename?: (tmpPath: string) => void | Promise<void>;
}

/** Replaces `target` with `data` (bytes or a stream of chunks) atomically; on failure the old file is intact and the temp removed. */
export async function writeFileAtomic(target: string, data: AtomicData, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let mode = opts.mode ?? 0o644;
  try {
    mode = (await fsp.stat(target)).mode & 0o7777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', mode);
    const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.byteLength; ) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (opts.beforeRename) await opts.beforeRename(tmp);
    await fsp.rename(tmp, target);
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw naming(e, target);
  }
  await syncDir(dir).catch((e: unknown) => {
    throw naming(e, target);
  });
}

/** Puts the target in a file-system error's message (Node names no path for a failed write, e.g. ENOSPC). */
function naming(e: unknown, target: string): unknown {
  if (e instanceof Error && !e.message.includes(target)) e.message = `${target}: cannot write (${e.message})`;
  return e;
}

/** fsyncs a folder so a rename in it is durable; folders cannot be opened for sync on Windows. */
async function syncDir(dir: string): Promise<void> {
  let dh: fsp.FileHandle | undefined;
  try {
    dh = await fsp.open(dir, 'r');
    await dh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (process.platform !== 'win32' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw e;
  } finally {
    await dh?.close().catch(() => {});
  }
}
