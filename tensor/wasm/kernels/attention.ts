/**
 * Fused attention (no [T, T] matrix in memory), in kernels.wasm: blocks of 4 query rows stream the keys in blocks
 * through an online softmax; backward recomputes probabilities blockwise from the saved log-sum-exp in one pass
 * over blocks of 4 key rows (dK, dV, and dQ into a partial per key block, summed after in block order, so the
 * result does not depend on which thread ran what). Head sizes that are not multiples of 4 take row-at-a-time
 * loops (dQ per query row, then dK/dV per key row). A chunk is `rows` rows of one (batch, head); each thread
 * gets ATTENTION_SCRATCH_BYTES of scratch for a block's scores.
 */
import type { KernelContext } from "./context.ts";
import type { SimdExports } from "./simd.ts";

/** Scratch of one thread: two blocks of 64 columns × 4 rows of scores, then two rows of 4 (as/kernels.ts). */
export const ATTENTION_SCRATCH_BYTES = (2 * 64 + 2) * 16;

/** (bh, first row, end row) of chunk c over T rows in blocks of `rows`. */
function rowsOf(T: number, rows: number, c: number): [number, number, number] {
  const per = Math.ceil(T / rows), bh = Math.floor(c / per), r0 = (c % per) * rows;
  return [bh, r0, Math.min(T, r0 + rows)];
}

/** This thread's scratch from the base at a[i]. */
function scratchOf(ctx: KernelContext, a: ArrayLike<number>, i: number): number {
  return a[i] + ctx.thread * ATTENTION_SCRATCH_BYTES;
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse, scratch]. */
export function attentionForwardKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[3], a[8], c);
  ctx.simd.attnForward(
    a[0],
    a[1],
    a[2],
    a[10],
    a[11],
    a[3],
    a[4],
    a[5],
    a[6],
    a[7],
    bh,
    r0,
    r1,
    scratchOf(ctx, a, 12),
  );
}

/** Both gradient kernels' buffers (a[10..14]) then sizes and scale (a[3..7]): the order their exports take. */
type GradArgs = Parameters<SimdExports["attnGradQ"]> extends [...infer Head, number, number, number] ? Head
  : never;
function gradArgs(a: ArrayLike<number>): GradArgs {
  return [a[0], a[1], a[2], a[10], a[11], a[12], a[13], a[14], a[3], a[4], a[5], a[6], a[7]];
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse, dout, dq, dd]. Query rows: dd and dq (head sizes not 4k). */
export function attentionGradQKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[3], a[8], c);
  ctx.simd.attnGradQ(...gradArgs(a), bh, r0, r1);
}

/**
 * Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, lse, dout, dd, dk, dv, scratch, part, partBytes]. Key rows: dk
 * and dv; with `part` (0: none) also the dQ partial of this chunk's key block, so one pass serves all three.
 */
export function attentionGradKVKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[4], a[8], c);
  // The dQ partial of this key block (the same for every run, whichever thread takes the chunk).
  const part = a[16] ? a[16] + Math.floor(r0 / a[8]) * a[17] : 0;
  ctx.simd.attnGradKV(...gradArgs(a), bh, r0, r1, scratchOf(ctx, a, 15), part);
}

/** Args: [o, dout, dd, Tq, d, dv, rows, part, parts, partBytes]. Query rows: dd, and zeroed rows of every dQ partial. */
export function attentionDeltaKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[3], a[6], c);
  ctx.simd.attnDelta(a[0], a[1], a[2], a[3], a[4], a[5], bh, r0, r1, a[7], a[8], a[9]);
}

/** Args: [dq, Tq, d, rows, part, parts, partBytes]. Query rows: dq = the sum of the dQ partials. */
export function attentionSumDqKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const [bh, r0, r1] = rowsOf(a[1], a[3], c);
  ctx.simd.attnSumParts(a[0], a[1], a[2], bh, r0, r1, a[4], a[5], a[6]);
}
