// A stored-only zip writer shaped like PyTorch's archive writer (caffe2's PyTorchStreamWriter over
// miniz): every record is stored (no compression) and its data starts at a multiple of 64 bytes,
// the gap filled by a local-header extra field with id 'FB' (0x4246) as miniz's writer does, so a
// reader can map storages in place. fflate's zipSync cannot align entry data, hence this small
// writer; the reader side stays src/io/zip.ts (which checks these archives, CRCs included).

import { crc32 } from './zip.js';

export class ZipWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipWriteError';
  }
}

/** Alignment of every record's data, as torch.save writes it. */
export const RECORD_ALIGNMENT = 64;

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const EOCD = 22;
const PAD_EXTRA_ID = 0x4246; // 'FB'
/** Fixed DOS time and date (1980-01-01 00:00), so the same records always give the same bytes. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

interface Placed {
  name: Uint8Array;
  data: Uint8Array;
  crc: number;
  headerOffset: number;
}

/**
 * Zip archive bytes holding `records` (name → bytes) in the given order, stored, each record's
 * data aligned to `alignment` bytes. Sizes over 4 GiB (zip64) are refused.
 */
export function writeAlignedZip(records: Iterable<readonly [string, Uint8Array]>, alignment = RECORD_ALIGNMENT): Uint8Array {
  const enc = new TextEncoder();
  const placed: Placed[] = [];
  let offset = 0;
  const pads: number[] = [];
  for (const [name, data] of records) {
    const nameBytes = enc.encode(name);
    if (nameBytes.length > 0xffff) throw new ZipWriteError(`record name '${name.slice(0, 40)}…' is longer than 65535 bytes`);
    const headerEnd = offset + LOCAL_HEADER + nameBytes.length;
    // The padding extra field has a 4-byte header of its own, so pad at least 4 bytes when needed.
    let pad = (alignment - (headerEnd % alignment)) % alignment;
    if (pad > 0 && pad < 4) pad += alignment;
    pads.push(pad);
    placed.push({ name: nameBytes, data, crc: crc32(data), headerOffset: offset });
    offset = headerEnd + pad + data.length;
  }
  const centralStart = offset;
  let centralSize = 0;
  for (const p of placed) centralSize += CENTRAL_HEADER + p.name.length;
  const total = centralStart + centralSize + EOCD;
  if (total > 0xffffffff || placed.length > 0xffff) throw new ZipWriteError(`archive of ${total} bytes and ${placed.length} records needs zip64, which this writer does not write`);

  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  placed.forEach((p, i) => {
    const pad = pads[i]!;
    let q = p.headerOffset;
    dv.setUint32(q, 0x04034b50, true);
    dv.setUint16(q + 4, 20, true); // version needed: 2.0
    dv.setUint16(q + 6, 0, true); // flags
    dv.setUint16(q + 8, 0, true); // stored
    dv.setUint16(q + 10, DOS_TIME, true);
    dv.setUint16(q + 12, DOS_DATE, true);
    dv.setUint32(q + 14, p.crc, true);
    dv.setUint32(q + 18, p.data.length, true);
    dv.setUint32(q + 22, p.data.length, true);
    dv.setUint16(q + 26, p.name.length, true);
    dv.setUint16(q + 28, pad, true);
    q += LOCAL_HEADER;
    out.set(p.name, q);
    q += p.name.length;
    if (pad) {
      dv.setUint16(q, PAD_EXTRA_ID, true);
      dv.setUint16(q + 2, pad - 4, true);
      out.fill(0x5a, q + 4, q + pad); // miniz fills with 'Z'
      q += pad;
    }
    out.set(p.data, q);
  });
  let q = centralStart;
  for (const p of placed) {
    dv.setUint32(q, 0x02014b50, true);
    dv.setUint16(q + 4, 20, true); // made by
    dv.setUint16(q + 6, 20, true); // needed
    dv.setUint16(q + 8, 0, true);
    dv.setUint16(q + 10, 0, true);
    dv.setUint16(q + 12, DOS_TIME, true);
    dv.setUint16(q + 14, DOS_DATE, true);
    dv.setUint32(q + 16, p.crc, true);
    dv.setUint32(q + 20, p.data.length, true);
    dv.setUint32(q + 24, p.data.length, true);
    dv.setUint16(q + 28, p.name.length, true);
    // extra length, comment length, disk number, internal attributes: 0
    dv.setUint32(q + 38, 0, true); // external attributes
    dv.setUint32(q + 42, p.headerOffset, true);
    out.set(p.name, q + CENTRAL_HEADER);
    q += CENTRAL_HEADER + p.name.length;
  }
  dv.setUint32(q, 0x06054b50, true);
  dv.setUint16(q + 8, placed.length, true);
  dv.setUint16(q + 10, placed.length, true);
  dv.setUint32(q + 12, centralSize, true);
  dv.setUint32(q + 16, centralStart, true);
  return out;
}
