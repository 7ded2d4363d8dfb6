/** Dtype codes in kernel arguments and the typed view each reads through (float16 converts on access). */
import type { DType } from "../../dtype.ts";
import type { KernelContext } from "./context.ts";

/** Kernel arguments carry dtypes as numbers. */
export const DTYPE_CODE: Record<DType, number> = { float32: 0, int32: 1, float16: 2 };

/** A typed view of the whole memory indexed in elements. */
export type View = Float32Array | Int32Array | Float16Array;

/** The view of dtype `code`, and the element index of byte address `ptr` in it. */
export function view(ctx: KernelContext, code: number): View {
  return code === 0 ? ctx.f32 : code === 1 ? ctx.i32 : ctx.f16;
}

/** Element index of a byte address for dtype `code`. */
export function index(code: number, ptr: number): number {
  return code === 2 ? ptr / 2 : ptr / 4;
}

/** Raw storage view for bit-exact moves: 4-byte dtypes move as int32, float16 as uint16. */
export function rawView(ctx: KernelContext, code: number): Int32Array | Uint16Array {
  return code === 2 ? ctx.u16 : ctx.i32;
}
