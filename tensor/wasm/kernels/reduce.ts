/** Reductions over the middle axis of an [outer, R, inner] view (sum in double; NaN propagates like the GPU). */
import type { KernelContext } from "./context.ts";

/** Reduce op codes in kernel arguments. */
export const REDUCE_CODE = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 } as const;

const BIG = 3.4028234663852886e38;

/**
 * Args: [op, xPtr, outPtr, outer, R, inner, innerBlock, rowsPerChunk]. Chunk c = (o, block of `innerBlock` inner
 * positions); a sum over contiguous rows (inner = 1) instead takes `rowsPerChunk` rows per chunk. Sums run in
 * kernels.wasm.
 */
export function reduceKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const op = a[0], x = ctx.f32, xb = a[1] / 4, R = a[4], inner = a[5], ib = a[6];
  if (op === 0 && inner === 1) {
    const per = a[7], r0 = c * per, rows = Math.min(a[3], r0 + per) - r0;
    if (rows > 0) ctx.simd.sumRows(a[1] + r0 * R * 4, a[2] + r0 * 4, rows, R);
    return;
  }
  const blocks = Math.ceil(inner / ib);
  const o = Math.floor(c / blocks), i0 = (c % blocks) * ib, i1 = Math.min(inner, i0 + ib);
  const base = xb + o * R * inner;
  const outIdx = a[2] / 4 + o * inner;
  const w = i1 - i0;
  if (op === 0) {
    ctx.simd.sumCols((base + i0) * 4, (outIdx + i0) * 4, R, inner, w);
    return;
  }
  const isMax = op === 1 || op === 3;
  const acc = new Float64Array(w).fill(isMax ? -BIG : BIG);
  const best = new Int32Array(w);
  const arg = op >= 3;
  for (let r = 0; r < R; r++) {
    const row = base + r * inner + i0;
    for (let i = 0; i < w; i++) {
      const v = x[row + i], cur = acc[i];
      const better = isMax ? v > cur : v < cur;
      if (arg ? better || (v !== v && cur === cur) : better || v !== v) {
        acc[i] = v;
        best[i] = r;
      }
    }
  }
  if (arg) { for (let i = 0; i < w; i++) ctx.i32[outIdx + i0 + i] = best[i]; }
  else for (let i = 0; i < w; i++) ctx.f32[outIdx + i0 + i] = acc[i];
}
