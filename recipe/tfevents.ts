/**
 * A TensorBoard event-file writer: TFRecord framing with masked CRC32C, and hand-encoded `Event` /
 * `Summary` protobufs (scalars and PNG images). Written from the format descriptions; no TensorFlow.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------------------
// CRC32C (Castagnoli), reflected polynomial 0x82F63B78

const CRC32C_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli) of `bytes`, as an unsigned 32-bit integer ("123456789" → 0xE3069283). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: `((crc >>> 15) | (crc << 17)) + 0xa282ead8`, modulo 2^32. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Frames one record: uint64 length, masked CRC of the length, data, masked CRC of the data (little-endian). */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Protobuf encoding (just what Event and Summary need)

/** Accumulates protobuf wire-format fields. */
class ProtoWriter {
  private parts: number[] = [];

  private varint(value: number): void {
    // Non-negative integers up to 2^53: split without 32-bit bit operations.
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }
  uint(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`tfevents: field ${field} needs a non-negative integer, got ${value}`);
    }
    this.tag(field, 0);
    this.varint(value);
    return this;
  }
  double(field: number, value: number): this {
    this.tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.parts.push(...b);
    return this;
  }
  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.parts.push(...b);
    return this;
  }
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    for (let i = 0; i < value.length; i++) this.parts.push(value[i]);
    return this;
  }
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** A `Summary.Image` (PNG bytes and size; colorspace 1 = grey, 3 = RGB, 4 = RGBA). */
export interface SummaryImage {
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  colorspace: number;
  /** The encoded image (PNG). */
  encoded: Uint8Array;
}

/** One `Summary.Value`: a tag with either a scalar or an image. */
export type SummaryValue = { tag: string; simpleValue: number } | { tag: string; image: SummaryImage };

/** Encodes an `Event {wall_time=1, step=2, file_version=3, summary=5}` message. */
export function encodeEvent(
  event: { wallTime: number; step?: number; fileVersion?: string; values?: SummaryValue[] },
): Uint8Array {
  const w = new ProtoWriter().double(1, event.wallTime);
  if (event.step) w.uint(2, event.step);
  if (event.fileVersion !== undefined) w.string(3, event.fileVersion);
  if (event.values) {
    const summary = new ProtoWriter();
    for (const v of event.values) {
      const value = new ProtoWriter().string(1, v.tag);
      if ("simpleValue" in v) {
        value.float(2, v.simpleValue);
      } else {
        const img = new ProtoWriter()
          .uint(1, v.image.height)
          .uint(2, v.image.width)
          .uint(3, v.image.colorspace)
          .bytes(4, v.image.encoded)
          .finish();
        value.bytes(4, img);
      }
      summary.bytes(1, value.finish());
    }
    w.bytes(5, summary.finish());
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------
// Writer

/** Options for {@link TfEventWriter}. */
export interface TfEventWriterOptions {
  /** Host name in the file name (default `Deno.hostname()`, or "localhost" without permission). */
  hostname?: string;
  /** Write buffered records at least this often (ms, default 2000); `flush()` writes at once. */
  flushIntervalMs?: number;
  /** Clock in seconds (default `Date.now() / 1000`), for tests. */
  now?: () => number;
}

/**
 * Appends TensorBoard events to `<logDir>/events.out.tfevents.<secs>.<host>` (created with its directory;
 * a `.<pid>.<n>` suffix is added if that name exists). Records are buffered and written on `flush()`,
 * `close()`, or when `flushIntervalMs` has passed.
 */
export class TfEventWriter {
  /** Full path of the event file. */
  readonly path: string;
  private pending: Uint8Array[] = [];
  private lastFlush: number;
  private closed = false;
  private readonly flushIntervalMs: number;
  private readonly now: () => number;

  /** Creates the directory and the file, and writes the `file_version` record. */
  constructor(logDir: string, options: TfEventWriterOptions = {}) {
    this.now = options.now ?? (() => Date.now() / 1000);
    this.flushIntervalMs = options.flushIntervalMs ?? 2000;
    let host = options.hostname;
    if (host === undefined) {
      try {
        host = Deno.hostname();
      } catch {
        host = "localhost";
      }
    }
    Deno.mkdirSync(logDir, { recursive: true });
    const base = `${logDir.replace(/\/+$/, "")}/events.out.tfevents.${Math.floor(this.now())}.${host}`;
    let path = base;
    for (let n = 0; exists(path); n++) path = `${base}.${Deno.pid}.${n}`;
    this.path = path;
    Deno.writeFileSync(path, new Uint8Array(0), { createNew: true });
    this.lastFlush = this.now() * 1000;
    this.push(encodeEvent({ wallTime: this.now(), fileVersion: "brain.Event:2" }));
    this.flush();
  }

  /** Logs a scalar (stored as float32) under `tag` at `step`. */
  addScalar(tag: string, value: number, step: number): void {
    this.push(encodeEvent({ wallTime: this.now(), step, values: [{ tag, simpleValue: value }] }));
  }

  /** Logs an encoded PNG of `height × width` (`colorspace` 1 grey, 3 RGB; default 3) under `tag` at `step`. */
  addImage(tag: string, png: Uint8Array, height: number, width: number, step: number, colorspace = 3): void {
    this.push(
      encodeEvent({
        wallTime: this.now(),
        step,
        values: [{ tag, image: { height, width, colorspace, encoded: png } }],
      }),
    );
  }

  /** Writes every buffered record to the file. */
  flush(): void {
    if (this.pending.length === 0) return;
    const total = this.pending.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of this.pending) {
      out.set(p, o);
      o += p.length;
    }
    Deno.writeFileSync(this.path, out, { append: true });
    this.pending = [];
    this.lastFlush = this.now() * 1000;
  }

  /** Flushes and stops accepting events. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Frames and buffers one event; flushes when the interval has passed. */
  private push(event: Uint8Array): void {
    if (this.closed) throw new Error(`tfevents: ${this.path} is closed`);
    this.pending.push(tfRecord(event));
    if (this.now() * 1000 - this.lastFlush >= this.flushIntervalMs) this.flush();
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
