/** Element types. float32 computes, int32 indexes, float16 stores (and computes where `shader-f16` exists). */
export type DType = "float32" | "int32" | "float16";

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return dtype === "float16" ? 2 : 4;
}

/** WGSL scalar type of a dtype. */
export function wgslType(dtype: DType): "f32" | "i32" | "f16" {
  return dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "f16";
}

/** Host array type for a dtype (float16 is widened to Float32Array on readback). */
export type HostArray<D extends DType> = D extends "int32" ? Int32Array : Float32Array;
