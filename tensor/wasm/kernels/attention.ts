/**
 * Fused attention (no [T, T] matrix in memory), in kernels.wasm: each query row streams every key through an
 * online softmax; backward recomputes probabilities from the saved log-sum-exp, dQ per query row, then dK/dV
 * per key row. A chunk is `rows` rows of one (batch, head).
 */
import type { KernelContext } from "./context.ts";
import type { SimdExports } from "./simd.ts";

/** (bh, first row, end row) of chunk c over T rows in blocks of `rows`. */
function rowsOf(T: number, rows: number, c: number): [number, number, number] {
  const per = Math.ceil(T / rows), bh = Math.floor(c / per), r0 = (c % per) * rows;
  return [bh, r0, Math.min(T, r0 + rows)];
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse]. */
export function attentionForwardKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[3], a[8], c);
  ctx.simd.attnForward(a[0], a[1], a[2], a[10], a[11], a[3], a[4], a[5], a[6], a[7], bh, r0, r1);
}

/** Both gradient kernels' buffers (a[10..14]) then sizes and scale (a[3..7]): the order their exports take. */
type GradArgs = Parameters<SimdExports["attnGradQ"]> extends [...infer Head, number, number, number] ? Head
  : never;
function gradArgs(a: ArrayLike<number>): GradArgs {
  return [a[0], a[1], a[2], a[10], a[11], a[12], a[13], a[14], a[3], a[4], a[5], a[6], a[7]];
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse, dout, dq, dd]. Query rows: dd and dq. */
export function attentionGradQKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[3], a[8], c);
  ctx.simd.attnGradQ(...gradArgs(a), bh, r0, r1);
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, lse, dout, dd, dk, dv]. Key rows: dk and dv. */
export function attentionGradKVKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[4], a[8], c);
  ctx.simd.attnGradKV(...gradArgs(a), bh, r0, r1);
}
