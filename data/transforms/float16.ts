/** float16 rounding for the diffusion stage (EnsureTyped(dtype=float16)). */
import type { Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

/** Rounds every value to the nearest float16 (ties to even); values stay in a Float32Array (widened, exact). */
export function castFloat16(): Transform {
  return {
    name: "castFloat16",
    params: {},
    random: false,
    apply(v: Volume): Volume {
      const out = new Float32Array(v.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Math.f16round(v.data[i]);
      return { ...v, data: out, affine: v.affine.map((r) => r.slice()) };
    },
  };
}

/** IEEE float16 bit patterns of float32 values (for uploading half-precision tensors). */
export function toFloat16Bits(data: Float32Array): Uint16Array {
  const out = new Float16Array(data.length);
  out.set(data);
  return new Uint16Array(out.buffer);
}
