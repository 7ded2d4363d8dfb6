/** Minimal ZIP reader for PyTorch `.pt` archives: central directory (incl. ZIP64), stored and deflated entries, CRC-32 checked. */
import { inflateRawCapped } from "./inflate.ts";
import { SerializationError } from "./types.ts";

/** One entry of the central directory. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** Size of the data as stored. */
  compressedSize: number;
  /** Size after decompression. */
  size: number;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Offset of the local file header. */
  localHeaderOffset: number;
}

/** A parsed ZIP archive held in memory. */
export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /** Returns the uncompressed bytes of entry `name` (CRC-checked); throws a SerializationError if absent or corrupt. */
  read(name: string): Uint8Array;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as in ZIP) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether `bytes` start with a ZIP local-file or empty-archive signature. */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/** Parses the central directory of a ZIP archive in `bytes`; `file` names it in errors. */
export function openZip(bytes: Uint8Array, file = "<zip>"): ZipArchive {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new SerializationError(file, `zip: 64-bit field too large at ${o}`);
    }
    return Number(v);
  };
  // End of central directory: last 22 bytes plus up to 65535 of comment.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 65535); o--) {
    if (u32(o) === 0x06054b50) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    throw new SerializationError(
      file,
      "truncated or corrupt zip archive: end-of-central-directory record not found",
    );
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== 0x07064b50) throw new SerializationError(file, "zip: ZIP64 locator missing");
    const z64 = u64(loc + 8);
    if (z64 + 56 > bytes.length || u32(z64) !== 0x06064b50) {
      throw new SerializationError(file, "zip: bad ZIP64 end record");
    }
    count = u64(z64 + 32);
    cdSize = u64(z64 + 40);
    cdOffset = u64(z64 + 48);
  }
  if (cdOffset + cdSize > bytes.length) {
    throw new SerializationError(
      file,
      `truncated zip archive: central directory [${cdOffset}, ${
        cdOffset + cdSize
      }) beyond ${bytes.length} bytes`,
    );
  }
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || u32(p) !== 0x02014b50) {
      throw new SerializationError(file, `zip: bad central directory entry ${i}`);
    }
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localHeaderOffset = u32(p + 42);
    if (p + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize) {
      throw new SerializationError(file, `zip: central directory entry ${i} overruns`);
    }
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: present fields appear in this order for those set to 0xffffffff.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = u16(x), len = u16(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (size === 0xffffffff) (size = u64(q), q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = u64(q), q += 8);
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(q);
      }
      x += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return {
    entries,
    read(name: string): Uint8Array {
      const e = entries.get(name);
      if (!e) throw new SerializationError(file, `zip: entry '${name}' not found`);
      const h = e.localHeaderOffset;
      if (h + 30 > bytes.length || u32(h) !== 0x04034b50) {
        throw new SerializationError(file, `zip: bad local header for '${name}'`);
      }
      const start = h + 30 + u16(h + 26) + u16(h + 28);
      const end = start + e.compressedSize;
      if (end > bytes.length) {
        throw new SerializationError(
          file,
          `truncated zip archive: entry '${name}' needs bytes up to ${end}, file has ${bytes.length}`,
        );
      }
      let data: Uint8Array;
      if (e.method === 0) {
        if (e.size !== e.compressedSize) {
          throw new SerializationError(file, `zip: stored entry '${name}' has inconsistent sizes`);
        }
        data = bytes.subarray(start, end);
      } else if (e.method === 8) {
        try {
          data = inflateRawCapped(bytes.subarray(start, end), e.size);
        } catch (err) {
          throw new SerializationError(file, `zip: cannot inflate '${name}' (${(err as Error).message})`);
        }
        if (data.length !== e.size) {
          throw new SerializationError(
            file,
            `zip: '${name}' inflated to ${data.length} bytes, expected ${e.size}`,
          );
        }
      } else {
        throw new SerializationError(
          file,
          `zip: entry '${name}' uses unsupported compression method ${e.method}`,
        );
      }
      if (crc32(data) !== e.crc32) {
        throw new SerializationError(file, `zip: CRC-32 mismatch in '${name}' (corrupt file)`);
      }
      return data;
    },
  };
}
