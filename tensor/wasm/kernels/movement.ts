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
  if (code !== 2 && rank <= 6) {
    // 4-byte values in kernels.wasm, the shape lifted to rank 6.
    const S = [...Array(6 - rank).fill(1), ...shape], T = [...Array(6 - rank).fill(0), ...strides];
    if (end > start) {
      ctx.simd.region32(
        a[1],
        a[2],
        start,
        end,
        offset,
        a[5],
        S[0],
        S[1],
        S[2],
        S[3],
        S[4],
        S[5],
        T[0],
        T[1],
        T[2],
        T[3],
        T[4],
        T[5],
      );
    }
    return;
  }
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
 * Args: [code, xPtr, outPtr, planes, per, valueBits, rank, outShape…, inShape…, before…]. A plane is the last two
 * dims (rank 1: the one row) of one output index over the others; chunk c covers planes [c·per, (c + 1)·per).
 * Each plane is filled with the value and gets the input rows that land inside it copied in (negative padding
 * crops). 4-byte dtypes run in kernels.wasm.
 */
export function padKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const code = a[0], planes = a[3], per = a[4], value = a[5], rank = a[6];
  const outShape = Array.from({ length: rank }, (_, d) => a[7 + d]);
  const inShape = Array.from({ length: rank }, (_, d) => a[7 + rank + d]);
  const before = Array.from({ length: rank }, (_, d) => a[7 + 2 * rank + d]);
  const last = rank - 1, Wo = outShape[last], Wi = inShape[last], bW = before[last];
  const Ho = rank > 1 ? outShape[last - 1] : 1, Hi = rank > 1 ? inShape[last - 1] : 1;
  const bH = rank > 1 ? before[last - 1] : 0;
  const bytes = code === 2 ? 2 : 4;
  const start = c * per, end = Math.min(planes, start + per);
  if (bytes === 4 && rank <= 5) {
    // The whole run of planes in kernels.wasm, the shapes lifted to rank 5.
    const lift = (v: number[], fill: number) => [...Array(5 - rank).fill(fill), ...v];
    const [o, i, b] = [lift(outShape, 1), lift(inShape, 1), lift(before, 0)];
    if (end > start) {
      ctx.simd.padPlanes5(
        a[2],
        a[1],
        start,
        end,
        o[0],
        o[1],
        o[2],
        o[3],
        o[4],
        i[0],
        i[1],
        i[2],
        i[3],
        i[4],
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        value,
      );
    }
    return;
  }
  for (let pl = start; pl < end; pl++) {
    // The input plane this output plane reads, or none when it lies in the padding.
    let rem = pl, off = 0, inStride = Hi * Wi, inside = true;
    for (let d = last - 2; d >= 0; d--) {
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
    const dst = a[2] + pl * Ho * Wo * bytes, src = inside ? a[1] + off * bytes : 0;
    if (bytes === 4) ctx.simd.padPlane32(dst, src, Ho, Wo, Hi, Wi, bH, bW, value);
    else padPlaneRows(rawView(ctx, code), dst / bytes, src / bytes, inside, Ho, Wo, Hi, Wi, bH, bW, value);
  }
}

/** padPlane32 of as/kernels.ts on a typed view (2-byte dtypes). */
function padPlaneRows(
  v: Int32Array | Uint16Array,
  dst: number,
  src: number,
  inside: boolean,
  Ho: number,
  Wo: number,
  Hi: number,
  Wi: number,
  bH: number,
  bW: number,
  value: number,
): void {
  const c0 = Math.max(0, -bW), c1 = Math.min(Wi, Wo - bW);
  v.fill(value, dst, dst + Ho * Wo);
  if (!inside || c1 <= c0) return;
  for (let h = Math.max(0, bH); h < Math.min(Ho, Hi + bH); h++) {
    const row = src + (h - bH) * Wi;
    v.copyWithin(dst + h * Wo + bW + c0, row + c0, row + c1);
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
