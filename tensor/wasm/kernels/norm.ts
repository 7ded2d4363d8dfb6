/**
 * Group norm, fused per row/plane: statistics in one shifted pass (double sums, so a large mean offset does not
 * cancel), the affine apply per (b, c) plane, and the backward as per-plane partial sums, a tiny coefficient
 * pass, and one dx pass, the same decomposition as the GPU kernels. The loops over a row or plane are SIMD128
 * (kernels.wasm); a chunk is a run of `per` rows or planes, so small tensors take one step on one thread.
 */
import type { KernelContext } from "./context.ts";

const f = Math.fround;

/** Rows [c·per, min(count, (c + 1)·per)) of chunk c. */
function span(count: number, per: number, c: number): [number, number] {
  return [c * per, Math.min(count, (c + 1) * per)];
}

/** Args: [xPtr, statsPtr, L, eps, rows, per]. A row is one group of L contiguous values. */
export function groupNormStatsKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const L = a[2];
  const [r0, r1] = span(a[4], a[5], c);
  for (let row = r0; row < r1; row++) ctx.simd.gnRowStats(a[0] + row * L * 4, L, a[1] + row * 8, a[3]);
}

/** The group row of plane (b, ch). */
function rowOf(plane: number, C: number, G: number): number {
  const ch = plane % C, b = Math.floor(plane / C);
  return b * G + Math.floor(ch / (C / G));
}

/** Args: [xPtr, statsPtr, gammaPtr, betaPtr, yPtr, C, S, G, affine, planes, per]. A plane is one (b, c). */
export function groupNormApplyKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, C = a[5], S = a[6], G = a[7];
  const [p0, p1] = span(a[9], a[10], c);
  for (let plane = p0; plane < p1; plane++) {
    const ch = plane % C, st = a[1] / 4 + rowOf(plane, C, G) * 2;
    const scale = f(x[st + 1] * (a[8] ? x[a[2] / 4 + ch] : 1));
    const shift = f((a[8] ? x[a[3] / 4 + ch] : 0) - f(x[st] * scale));
    ctx.simd.gnApply(a[0] + plane * S * 4, a[4] + plane * S * 4, S, scale, shift);
  }
}

/** Args: [xPtr, dyPtr, statsPtr, partPtr, C, S, G, planes, per]. Per plane: part = (Σ dy, rstd·Σ dy·(x − mean)). */
export function groupNormPartialKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, C = a[4], S = a[5], G = a[6];
  const [p0, p1] = span(a[7], a[8], c);
  for (let plane = p0; plane < p1; plane++) {
    const st = a[2] / 4 + rowOf(plane, C, G) * 2;
    ctx.simd.gnPartial(a[0] + plane * S * 4, a[1] + plane * S * 4, S, x[st], x[st + 1], a[3] + plane * 8);
  }
}

/**
 * Args: [partPtr, coefPtr, gammaPtr, dgammaPtr, dbetaPtr, B, C, S, G, affine]. One chunk: coefficients per group
 * row and, when affine, dgamma/dbeta per channel.
 */
export function groupNormCoefKernel(ctx: KernelContext, a: ArrayLike<number>): void {
  const x = ctx.f32,
    pt = a[0] / 4,
    co = a[1] / 4,
    B = a[5],
    C = a[6],
    S = a[7],
    G = a[8],
    affine = a[9] === 1;
  const Cg = C / G, n = Cg * S;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < G; g++) {
      let a1 = 0, a2 = 0;
      for (let c = g * Cg; c < (g + 1) * Cg; c++) {
        const gm = affine ? x[a[2] / 4 + c] : 1;
        a1 += gm * x[pt + (b * C + c) * 2];
        a2 += gm * x[pt + (b * C + c) * 2 + 1];
      }
      x[co + (b * G + g) * 2] = a1 / n;
      x[co + (b * G + g) * 2 + 1] = a2 / n;
    }
  }
  if (!affine) return;
  for (let c = 0; c < C; c++) {
    let s1 = 0, s2 = 0;
    for (let b = 0; b < B; b++) {
      s1 += x[pt + (b * C + c) * 2];
      s2 += x[pt + (b * C + c) * 2 + 1];
    }
    x[a[4] / 4 + c] = s1;
    x[a[3] / 4 + c] = s2;
  }
}

/** Args: [xPtr, dyPtr, statsPtr, coefPtr, dxPtr, gammaPtr, C, S, G, affine, planes, per]. */
export function groupNormInputGradKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, C = a[6], S = a[7], G = a[8];
  const [p0, p1] = span(a[10], a[11], c);
  for (let plane = p0; plane < p1; plane++) {
    const ch = plane % C, row = rowOf(plane, C, G);
    const st = a[2] / 4 + row * 2, mean = x[st], rstd = x[st + 1];
    const c1 = x[a[3] / 4 + row * 2], c2 = x[a[3] / 4 + row * 2 + 1];
    // dx = rstd·(dy·γ − c1 − x̂·c2), folded into dy·p + x·q + r.
    const p = rstd * (a[9] ? x[a[5] / 4 + ch] : 1);
    const q = -rstd * rstd * c2;
    const r = -rstd * c1 + mean * rstd * rstd * c2;
    const o = plane * S * 4;
    ctx.simd.gnInputGrad(a[0] + o, a[1] + o, a[4] + o, S, p, q, r);
  }
}
