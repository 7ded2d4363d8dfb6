/** Data movement: strided gather/scatter (permute, slice, expand, concat), constant pad, index-select. Bit-exact. */
import type { KernelContext } from "./context.ts";
import { index, rawView } from "./views.ts";

/**
 * Args: [code, xPtr, outPtr, n, chunk, scatter, offset, rank, shape…, strides…]. Gather: out[i] = x[offset + Σ
 * coord·strides]; scatter: out[that] = x[i].
 */
export function regionKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const code = a[0], v = rawView(ctx, code), xb = index(code, a[1]), ob = index(code, a[2]);
  const n = a[3], chunk = a[4], scatter = a[5] === 1, offset = a[6], rank = a[7];
  const shape = Array.from({ length: rank }, (_, d) => a[8 + d]);
  const strides = Array.from({ length: rank }, (_, d) => a[8 + rank + d]);
  const start = c * chunk, end = Math.min(n, start + chunk);
  const last = rank - 1, len = shape[last], t = strides[last];
  const idx = new Array(rank).fill(0);
  let p = offset, r = start;
  for (let d = last; d >= 0; d--) {
    const q = r % shape[d];
    r = (r - q) / shape[d];
    idx[d] = q;
    p += q * strides[d];
  }
  let i = start;
  while (i < end) {
    const run = Math.min(len - idx[last], end - i);
    if (scatter) { for (let j = 0; j < run; j++, i++, p += t) v[ob + p] = v[xb + i]; }
    else if (t === 1) {
      v.copyWithin(ob + i, xb + p, xb + p + run);
      i += run;
      p += run;
    } else for (let j = 0; j < run; j++, i++, p += t) v[ob + i] = v[xb + p];
    idx[last] += run;
    if (i >= end) break;
    for (let d = last; d > 0 && idx[d] === shape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
      p += strides[d - 1] - strides[d] * shape[d];
    }
  }
}

/**
 * Args: [code, xPtr, outPtr, rows, chunk, valueBits, rank, outShape…, inShape…, before…]. Chunk c covers output
 * rows (all dims but the last) [c·chunk, (c+1)·chunk): each row is filled with the value and, when it lies inside
 * the input, gets the input row copied in.
 */
export function padKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const code = a[0], v = rawView(ctx, code), xb = index(code, a[1]), ob = index(code, a[2]);
  const rows = a[3], chunk = a[4], value = a[5], rank = a[6];
  const outShape = Array.from({ length: rank }, (_, d) => a[7 + d]);
  const inShape = Array.from({ length: rank }, (_, d) => a[7 + rank + d]);
  const before = Array.from({ length: rank }, (_, d) => a[7 + 2 * rank + d]);
  const last = rank - 1, outW = outShape[last], inW = inShape[last], b0 = before[last];
  // Input columns that land inside the output row (negative padding crops).
  const c0 = Math.max(0, -b0), c1 = Math.min(inW, outW - b0);
  const start = c * chunk, end = Math.min(rows, start + chunk);
  for (let r = start; r < end; r++) {
    const o = ob + r * outW;
    v.fill(value, o, o + outW);
    let rem = r, off = 0, inStride = inW, inside = true;
    for (let d = last - 1; d >= 0; d--) {
      const q = rem % outShape[d];
      rem = (rem - q) / outShape[d];
      const cc = q - before[d];
      if (cc < 0 || cc >= inShape[d]) {
        inside = false;
        break;
      }
      off += cc * inStride;
      inStride *= inShape[d];
    }
    if (inside && c1 > c0) v.copyWithin(o + b0 + c0, xb + off + c0, xb + off + c1);
  }
}

/**
 * Args: [code, xPtr, idxPtr, outPtr, outer, D, inner, J, backward, chunk]. Forward: out[o, j, i] = x[o, idx[j], i]
 * (indices clamped); backward: out[o, d, i] = Σ_{j: idx[j] = d} g[o, j, i] (float32 only, like the GPU kernel).
 */
export function indexSelectKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const code = a[0], outer = a[4], D = a[5], inner = a[6], J = a[7], backward = a[8] === 1, chunk = a[9];
  const ib = a[2] / 4;
  const n = outer * (backward ? D : J) * inner;
  const start = c * chunk, end = Math.min(n, start + chunk);
  if (!backward) {
    const v = rawView(ctx, code), xb = index(code, a[1]), ob = index(code, a[3]);
    for (let i = start; i < end; i++) {
      const inIdx = i % inner, j = Math.floor(i / inner) % J, o = Math.floor(i / (inner * J));
      const d = Math.min(Math.max(ctx.i32[ib + j], 0), D - 1);
      v[ob + i] = v[xb + (o * D + d) * inner + inIdx];
    }
    return;
  }
  const v = code === 1 ? ctx.i32 : code === 2 ? ctx.f16 : ctx.f32,
    xb = index(code, a[1]),
    ob = index(code, a[3]);
  for (let i = start; i < end; i++) {
    const inIdx = i % inner, d = Math.floor(i / inner) % D, o = Math.floor(i / (inner * D));
    let acc = 0;
    for (let j = 0; j < J; j++) if (ctx.i32[ib + j] === d) acc += v[xb + (o * J + j) * inner + inIdx];
    v[ob + i] = acc;
  }
}
