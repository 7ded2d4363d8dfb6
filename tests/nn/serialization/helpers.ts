/** Test helpers: a pickle-opcode builder and a minimal ZIP writer, to hand-build `.pt` files without PyTorch. */
import { deflateRawSync } from "node:zlib";
import { crc32 } from "../../../nn/serialization/zip.ts";

/** Emits pickle protocol-2 opcodes. */
export class PickleBuilder {
  readonly out: number[] = [0x80, 2];
  private u32(n: number): void {
    this.out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  op(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.out.push(0x58);
    this.u32(b.length);
    this.out.push(...b);
    return this;
  }
  int(n: number): this {
    if (n >= 0 && n < 256) this.out.push(0x4b, n);
    else {
      this.out.push(0x4a);
      this.u32(n);
    }
    return this;
  }
  global(module: string, name: string): this {
    this.out.push(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    return this;
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  ints(xs: number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  /** A `_rebuild_tensor_v2` call; `legacy` adds the sixth persistent-id field (view metadata, None). */
  tensor(
    storageType: string,
    key: string,
    numel: number,
    offset: number,
    shape: number[],
    stride: number[],
    legacy = false,
  ): this {
    this.global("torch._utils", "_rebuild_tensor_v2").mark();
    this.mark().str("storage").global("torch", storageType).str(key).str("cpu").int(numel);
    if (legacy) this.op(0x4e);
    this.tuple().op(0x51);
    this.int(offset).ints(shape).ints(stride).op(0x89);
    this.global("collections", "OrderedDict").op(0x29, 0x52);
    return this.tuple().op(0x52);
  }
  bytes(): Uint8Array {
    return new Uint8Array([...this.out, 0x2e]);
  }
}

/** A minimal ZIP writer (stored or deflated entries) laid out like torch.save's; `zip64` forces ZIP64 records. */
export function makeZip(files: [string, Uint8Array, boolean?][], zip64 = false): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data, deflate] of files) {
    const nameBytes = new TextEncoder().encode(name);
    const body = deflate ? new Uint8Array(deflateRawSync(data)) : data;
    const local = new Uint8Array(30 + nameBytes.length);
    const dv = new DataView(local.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(8, deflate ? 8 : 0, true);
    dv.setUint32(14, crc32(data), true);
    dv.setUint32(18, body.length, true);
    dv.setUint32(22, data.length, true);
    dv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const extraLen = zip64 ? 28 : 0;
    const cd = new Uint8Array(46 + nameBytes.length + extraLen);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, deflate ? 8 : 0, true);
    cv.setUint32(16, crc32(data), true);
    cv.setUint32(20, zip64 ? 0xffffffff : body.length, true);
    cv.setUint32(24, zip64 ? 0xffffffff : data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, extraLen, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    cd.set(nameBytes, 46);
    if (zip64) {
      const x = 46 + nameBytes.length;
      cv.setUint16(x, 0x0001, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(data.length), true);
      cv.setBigUint64(x + 12, BigInt(body.length), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    central.push(cd);
    parts.push(local, body);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const tail: Uint8Array[] = [];
  if (zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setBigUint64(24, BigInt(files.length), true);
    rv.setBigUint64(32, BigInt(files.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(offset), true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(offset + cdSize), true);
    lv.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : files.length, true);
  ev.setUint16(10, zip64 ? 0xffff : files.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : offset, true);
  tail.push(eocd);
  const all = [...parts, ...central, ...tail];
  const out = new Uint8Array(all.reduce((s, p) => s + p.length, 0));
  let p = 0;
  for (const a of all) (out.set(a, p), p += a.length);
  return out;
}
