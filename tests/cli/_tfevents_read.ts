/** Reads TensorBoard event files back for tests: TFRecord framing (both CRCs checked) and a minimal protobuf decoder. */
import { assertEquals } from "./_assert.ts";
import { maskedCrc32c } from "../../recipe/tfevents.ts";

/** Reads TFRecord framing back, verifying both masked CRCs. */
export function readRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < bytes.length) {
    const len = Number(view.getBigUint64(o, true));
    assertEquals(view.getUint32(o + 8, true), maskedCrc32c(bytes.subarray(o, o + 8)), "length CRC");
    const data = bytes.subarray(o + 12, o + 12 + len);
    assertEquals(view.getUint32(o + 12 + len, true), maskedCrc32c(data), "data CRC");
    out.push(data);
    o += 16 + len;
  }
  assertEquals(o, bytes.length);
  return out;
}

export type Field = { field: number; wire: number; value: number | bigint | Uint8Array };

/** A minimal protobuf decoder: returns the fields in order (varint as number, fixed64/32 as raw bytes). */
export function decodeProto(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let o = 0;
  const varint = (): number => {
    let result = 0, mul = 1, b: number;
    do {
      b = bytes[o++];
      result += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return result;
  };
  while (o < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) fields.push({ field, wire, value: varint() });
    else if (wire === 1) (fields.push({ field, wire, value: bytes.slice(o, o + 8) }), o += 8);
    else if (wire === 5) (fields.push({ field, wire, value: bytes.slice(o, o + 4) }), o += 4);
    else if (wire === 2) {
      const n = varint();
      fields.push({ field, wire, value: bytes.slice(o, o + n) });
      o += n;
    } else throw new Error(`wire type ${wire}`);
  }
  return fields;
}
export const f64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getFloat64(0, true);
export const f32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getFloat32(0, true);
export const get = (fs: Field[], n: number) => fs.find((f) => f.field === n)?.value;

/** One logged value: tag, step, and the scalar or the image's PNG size. */
export interface LoggedValue {
  tag: string;
  step: number;
  scalar?: number;
  image?: { height: number; width: number; colorspace: number; png: Uint8Array };
}

/** Every summary value in an event file, in order (the version record skipped). */
export function readEventFile(bytes: Uint8Array): LoggedValue[] {
  const out: LoggedValue[] = [];
  for (const rec of readRecords(bytes).map(decodeProto)) {
    const summary = get(rec, 5) as Uint8Array | undefined;
    if (!summary) continue;
    const step = (get(rec, 2) as number | undefined) ?? 0;
    for (const v of decodeProto(summary)) {
      const value = decodeProto(v.value as Uint8Array);
      const tag = new TextDecoder().decode(get(value, 1) as Uint8Array);
      const simple = get(value, 2) as Uint8Array | undefined;
      const img = get(value, 4) as Uint8Array | undefined;
      if (img) {
        const f = decodeProto(img);
        out.push({
          tag,
          step,
          image: {
            height: get(f, 1) as number,
            width: get(f, 2) as number,
            colorspace: get(f, 3) as number,
            png: get(f, 4) as Uint8Array,
          },
        });
      } else out.push({ tag, step, scalar: simple ? f32(simple) : undefined });
    }
  }
  return out;
}

/** Reads every event file in `dir`. */
export async function readEventDir(dir: string): Promise<LoggedValue[]> {
  const out: LoggedValue[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("events.out.tfevents.")) {
      out.push(...readEventFile(await Deno.readFile(`${dir}/${e.name}`)));
    }
  }
  return out;
}
