/** Creating tensors: from host data, constants, ranges. */
import { backend } from "../backend/mod.ts";
import type { DType } from "../dtype.ts";
import { checkShape, type Shape, sizeOf } from "../shape.ts";
import { empty, type Tensor } from "../tensor.ts";

/** A tensor from host values (copied to the device). `shape` defaults to [data.length]. */
export function tensor<const S extends Shape = [number], D extends DType = "float32">(
  data: ArrayLike<number>,
  shape?: S,
  dtype?: D,
): Tensor<S, D> {
  const s = (shape ?? [data.length]) as S;
  checkShape("tensor", s);
  if (sizeOf(s) !== data.length) {
    throw new Error(`tensor: ${data.length} values do not fill shape [${s}] (${sizeOf(s)} elements)`);
  }
  const d = (dtype ?? (data instanceof Int32Array ? "int32" : "float32")) as D;
  const t = empty(s, d);
  backend().upload(t.buffer(), toHost(data, d));
  return t;
}

function toHost(data: ArrayLike<number>, dtype: DType): ArrayBufferView {
  if (dtype === "int32") return data instanceof Int32Array ? data : Int32Array.from(data);
  if (dtype === "float16") return narrowF16(data);
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Rounds float values to IEEE half precision bits (round to nearest even). */
export function narrowF16(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < data.length; i++) {
    f[0] = data[i];
    const x = u[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff, mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) out[i] = sign | 0x7c00;
    else if (e <= 0) {
      if (e < -10) out[i] = sign;
      else {
        const m = mant | 0x800000, shift = 14 - e;
        let h = m >>> shift;
        const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
        if (rem > half || (rem === half && (h & 1))) h++;
        out[i] = sign | h;
      }
    } else {
      let h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
      out[i] = sign | h;
    }
  }
  return out;
}

/** A tensor filled with `value`. */
export function full<const S extends Shape, D extends DType = "float32">(
  shape: S,
  value: number,
  dtype?: D,
): Tensor<S, D> {
  const d = (dtype ?? "float32") as D;
  checkShape("full", shape);
  const t = empty(shape, d);
  // A pad of a 1-element tensor with the value would need an input; writing host data is simpler and cheap.
  const n = sizeOf(shape);
  const host = d === "int32"
    ? new Int32Array(n).fill(value)
    : d === "float16"
    ? narrowF16(new Float32Array(n).fill(value))
    : new Float32Array(n).fill(value);
  backend().upload(t.buffer(), host);
  return t;
}

/** A tensor of zeros. */
export function zeros<const S extends Shape, D extends DType = "float32">(shape: S, dtype?: D): Tensor<S, D> {
  return full(shape, 0, dtype);
}

/** A tensor of ones. */
export function ones<const S extends Shape, D extends DType = "float32">(shape: S, dtype?: D): Tensor<S, D> {
  return full(shape, 1, dtype);
}

/** Zeros with the shape and dtype of `t`. */
export function zerosLike<S extends Shape, D extends DType>(t: Tensor<S, D>): Tensor<S, D> {
  return full(t.shape, 0, t.dtype);
}

/** Ones with the shape and dtype of `t`. */
export function onesLike<S extends Shape, D extends DType>(t: Tensor<S, D>): Tensor<S, D> {
  return full(t.shape, 1, t.dtype);
}

/** [start, start+step, …) below `end`, as float32 (or int32). */
export function arange<D extends DType = "float32">(
  start: number,
  end: number,
  step = 1,
  dtype?: D,
): Tensor<[number], D> {
  const n = Math.ceil((end - start) / step);
  if (!(n > 0)) throw new Error(`arange(${start}, ${end}, ${step}) is empty`);
  const vals = Array.from({ length: n }, (_, i) => start + i * step);
  return tensor(vals, [n], (dtype ?? "float32") as D);
}
