// A bounded, read-only zip reader for checkpoint archives (torch.save writes a zip of stored,
// 64-byte-aligned entries). It reads the central directory itself instead of using fflate's
// unzipSync because that call copies every entry, trusts declared sizes (a lying entry is silently
// truncated instead of refused), checks no CRCs and cannot bound inflation. Here stored entries are
// zero-copy views, every size and offset is checked against the file before anything is allocated,
// and deflated entries are inflated in small steps with the output capped at the declared size.

import { Inflate } from 'fflate';
import { CheckpointError } from './errors.js';

export class ZipError extends CheckpointError {
  constructor(message: string, source = '<buffer>') {
    super(message, source);
    this.name = 'ZipError';
  }
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate (others are refused when read). */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the entry's data (after its local header) in the archive. */
  dataOffset: number;
}

export interface ZipLimits {
  /** Most entries accepted. */
  maxEntries: number;
  /** Most bytes inflated from deflated entries, per entry and over all entries read from one archive. */
  maxInflatedBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 1_000_000, maxInflatedBytes: 1 << 30 };

/** Deflate cannot expand data by more than about 1032:1; a larger declared ratio is a bomb. */
const MAX_DEFLATE_RATIO = 1032;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;
  /** Inflated entries by name, and their total size (entries overlapping one compressed run must not multiply it). */
  private readonly inflated = new Map<string, Uint8Array>();
  private inflatedBytes = 0;

  /** Parses the central directory of `bytes` (a whole zip file); `source` names it in errors. */
  readonly bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly source = '<buffer>',
    readonly limits: ZipLimits = DEFAULT_ZIP_LIMITS,
  ) {
    // A plain view: on a Node Buffer, slice() and subarray() would return Buffers, whose slice() does not copy.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.parse();
  }

  private fail(message: string): never {
    throw new ZipError(message, this.source);
  }

  private u16(p: number): number {
    if (p + 2 > this.bytes.length) this.fail(`truncated: read past end at byte ${p}`);
    return this.dv.getUint16(p, true);
  }

  private u32(p: number): number {
    if (p + 4 > this.bytes.length) this.fail(`truncated: read past end at byte ${p}`);
    return this.dv.getUint32(p, true);
  }

  private u64(p: number, what: string): number {
    if (p + 8 > this.bytes.length) this.fail(`truncated: read past end at byte ${p}`);
    const v = this.dv.getBigUint64(p, true);
    if (v > BigInt(this.bytes.length)) this.fail(`${what} ${v} is beyond the file (${this.bytes.length} bytes)`);
    return Number(v);
  }

  private parse(): void {
    const n = this.bytes.length;
    if (n < 22) this.fail(`not a zip archive: ${n} bytes is too short (truncated?)`);
    // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
    let eocd = -1;
    for (let p = n - 22; p >= Math.max(0, n - 22 - 65535); p--) {
      if (this.dv.getUint32(p, true) === SIG_EOCD && p + 22 + this.dv.getUint16(p + 20, true) === n) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record: truncated or not a zip archive');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_LOCATOR64) this.fail('zip64 sizes without a zip64 locator');
      const rec = this.u64(loc + 8, 'zip64 record offset');
      if (this.u32(rec) !== SIG_EOCD64) this.fail(`no zip64 end record at byte ${rec}`);
      count = this.u64(rec + 32, 'zip64 entry count');
      cdSize = this.u64(rec + 40, 'zip64 directory size');
      cdOffset = this.u64(rec + 48, 'zip64 directory offset');
    }
    if (cdOffset + cdSize > n) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) is past the end of the file (${n} bytes): truncated?`);
    if (count > this.limits.maxEntries) this.fail(`${count} entries exceeds the limit of ${this.limits.maxEntries}`);
    if (count * 46 > cdSize) this.fail(`central directory of ${cdSize} bytes cannot hold ${count} entries`);
    const dec = new TextDecoder('utf-8', { fatal: true });
    let p = cdOffset;
    const end = cdOffset + cdSize;
    for (let i = 0; i < count; i++) {
      if (p + 46 > end || this.u32(p) !== SIG_CENTRAL) this.fail(`central directory entry ${i} at byte ${p} is malformed`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      const crc32 = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localOffset = this.u32(p + 42);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > end) this.fail(`central directory entry ${i} runs past the directory`);
      let name: string;
      try {
        name = dec.decode(this.bytes.subarray(p + 46, p + 46 + nameLen));
      } catch {
        return this.fail(`central directory entry ${i}: name is not valid UTF-8`);
      }
      // Zip64 extra field: the 64-bit values of whichever fields were saturated, in this order.
      const ex0 = p + 46 + nameLen;
      for (let q = ex0; q + 4 <= ex0 + extraLen; ) {
        const id = this.u16(q);
        const len = this.u16(q + 2);
        if (q + 4 + len > ex0 + extraLen) this.fail(`entry '${name}': extra field runs past its end`);
        if (id === 0x0001) {
          let r = q + 4;
          const take = (what: string): number => {
            if (r + 8 > q + 4 + len) this.fail(`entry '${name}': zip64 field is too short`);
            const v = this.u64(r, `entry '${name}': ${what}`);
            r += 8;
            return v;
          };
          if (size === 0xffffffff) size = take('size');
          if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
          if (localOffset === 0xffffffff) localOffset = take('local header offset');
        }
        q += 4 + len;
      }
      if (flags & 1) this.fail(`entry '${name}' is encrypted`);
      if (this.entries.has(name)) this.fail(`duplicate entry '${name}'`);
      if (localOffset + 30 > n || this.u32(localOffset) !== SIG_LOCAL) this.fail(`entry '${name}': no local header at byte ${localOffset} (truncated?)`);
      const dataOffset = localOffset + 30 + this.u16(localOffset + 26) + this.u16(localOffset + 28);
      if (dataOffset + compressedSize > n) {
        this.fail(`entry '${name}': data [${dataOffset}, ${dataOffset + compressedSize}) is past the end of the file (${n} bytes): truncated?`);
      }
      this.entries.set(name, { name, method, compressedSize, size, crc32, dataOffset });
      p = next;
    }
  }

  /**
   * An entry's bytes: a view into the archive for stored entries, a new buffer for deflated ones.
   * Checks the CRC-32 unless `verify` is false.
   */
  read(name: string, verify = true): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`missing entry '${name}'`);
    const raw = this.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.size !== e.compressedSize) this.fail(`stored entry '${name}' declares ${e.size} bytes but holds ${e.compressedSize}`);
      out = raw;
    } else if (e.method === 8) {
      out = this.inflated.get(name) ?? this.inflate(e, raw);
    } else {
      return this.fail(`entry '${name}' uses unsupported compression method ${e.method}`);
    }
    if (verify) {
      const c = crc32(out);
      if (c !== e.crc32) this.fail(`entry '${name}': CRC-32 mismatch (stored ${hex(e.crc32)}, computed ${hex(c)}): the file is corrupt`);
    }
    return out;
  }

  private inflate(e: ZipEntry, raw: Uint8Array): Uint8Array {
    if (e.size > this.limits.maxInflatedBytes) {
      this.fail(`entry '${e.name}' would inflate to ${e.size} bytes, over the limit of ${this.limits.maxInflatedBytes}`);
    }
    if (this.inflatedBytes + e.size > this.limits.maxInflatedBytes) {
      this.fail(`entry '${e.name}' (${e.size} bytes) would bring the inflated total to ${this.inflatedBytes + e.size} bytes, over the limit of ${this.limits.maxInflatedBytes}`);
    }
    if (e.size > MAX_DEFLATE_RATIO * e.compressedSize + 1024) {
      this.fail(`entry '${e.name}' declares ${e.size} bytes from ${e.compressedSize} compressed: impossible ratio (zip bomb?)`);
    }
    const out = new Uint8Array(e.size);
    let filled = 0;
    const inf = new Inflate((chunk) => {
      if (filled + chunk.length > out.length) {
        this.fail(`entry '${e.name}' inflates past its declared ${e.size} bytes (zip bomb?)`);
      }
      out.set(chunk, filled);
      filled += chunk.length;
    });
    // Small input steps bound the output produced between two size checks.
    const STEP = 4096;
    try {
      if (raw.length === 0) inf.push(new Uint8Array(0), true);
      for (let i = 0; i < raw.length; i += STEP) inf.push(raw.subarray(i, i + STEP), i + STEP >= raw.length);
    } catch (err) {
      if (err instanceof ZipError) throw err;
      this.fail(`entry '${e.name}': corrupt deflate data (${(err as Error).message})`);
    }
    if (filled !== e.size) this.fail(`entry '${e.name}' inflates to ${filled} bytes, declared ${e.size}`);
    this.inflatedBytes += e.size;
    this.inflated.set(e.name, out);
    return out;
  }
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE, as zip uses). */
export function crc32(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[i] = c >>> 0;
    }
  }
  const t = CRC_TABLE;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
