/** Decoding of raw little-endian element bytes into host arrays (float types → Float32Array, integers → Int32Array). */
import { type HostDType, isFloatDType, SerializationError } from "./types.ts";

/** Bytes per element of each dtype as stored in files. */
export const DTYPE_BYTES: Readonly<Record<HostDType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int32: 4,
  int64: 8,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

const f16Table = buildHalfTable();

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
}

/** Converts one IEEE half-precision bit pattern to a number (exact). */
export function halfToFloat(bits: number): number {
  return f16Table[bits & 0xffff];
}

/** Converts a number to the nearest IEEE half-precision bit pattern (round to nearest even). */
export function floatToHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/**
 * Decodes `count` elements of `dtype` from `bytes` (little-endian, no alignment needed) into a host array.
 * int64 values outside the int32 range raise an error naming `file` and `what`.
 */
export function decodeElements(
  bytes: Uint8Array,
  dtype: HostDType,
  count: number,
  file: string,
  what: string,
): Float32Array | Int32Array {
  const size = DTYPE_BYTES[dtype];
  if (bytes.length < count * size) {
    throw new SerializationError(
      file,
      `${what}: needs ${count * size} bytes of ${dtype}, only ${bytes.length} present`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, count * size);
  switch (dtype) {
    case "float32": {
      const copy = bytes.slice(0, count * 4);
      return new Float32Array(copy.buffer, 0, count);
    }
    case "int32": {
      const copy = bytes.slice(0, count * 4);
      return new Int32Array(copy.buffer, 0, count);
    }
    case "float16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16Table[dv.getUint16(2 * i, true)];
      return out;
    }
    case "bfloat16": {
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case "float64": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case "int64": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = dv.getUint32(8 * i, true);
        const hi = dv.getInt32(8 * i + 4, true);
        // Fits in int32 iff the high word is the sign extension of the low word.
        if (hi !== ((lo | 0) < 0 ? -1 : 0)) {
          const v = dv.getBigInt64(8 * i, true);
          throw new SerializationError(
            file,
            `${what}: int64 value ${v} at element ${i} does not fit in int32`,
          );
        }
        out[i] = lo | 0;
      }
      return out;
    }
    case "int16": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      return out;
    }
    case "int8": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      return out;
    }
    case "uint8":
    case "bool": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getUint8(i);
      return out;
    }
  }
}

/** Allocates an empty host array of the right kind for `dtype`. */
export function allocFor(dtype: HostDType, count: number): Float32Array | Int32Array {
  return isFloatDType(dtype) ? new Float32Array(count) : new Int32Array(count);
}
