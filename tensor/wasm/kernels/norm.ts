/**
 * Group norm, fused per row/plane: statistics in one shifted pass (double sums, so a large mean offset does not
 * cancel), the affine apply per (b, c) plane, and the backward as per-plane partial sums, a tiny coefficient
 * pass, and one dx pass, the same decomposition as the GPU kernels.
 */
import type { KernelContext } from "./context.ts";

const f = Math.fround;

/** Args: [xPtr, statsPtr, L, eps]. Chunk = one group row of L contiguous values. */
export function groupNormStatsKernel(ctx: KernelContext, a: ArrayLike<number>, row: number): void {
  const x = ctx.f32, L = a[2], base = a[0] / 4 + row * L, shift = x[base];
  let s1 = 0, s2 = 0;
  for (let i = 0; i < L; i++) {
    const d = x[base + i] - shift;
    s1 += d;
    s2 += d * d;
  }
  const mean = s1 / L, variance = Math.max(s2 / L - mean * mean, 0);
  const so = a[1] / 4 + row * 2;
  x[so] = shift + mean;
  x[so + 1] = f(1 / Math.sqrt(f(f(variance) + a[3])));
}

/** Args: [xPtr, statsPtr, gammaPtr, betaPtr, yPtr, C, S, G, affine]. Chunk = one (b, c) plane. */
export function groupNormApplyKernel(ctx: KernelContext, a: ArrayLike<number>, plane: number): void {
  const x = ctx.f32, C = a[5], S = a[6], G = a[7];
  const ch = plane % C, b = Math.floor(plane / C), row = b * G + Math.floor(ch / (C / G));
  const st = a[1] / 4 + row * 2;
  const scale = f(x[st + 1] * (a[8] ? x[a[2] / 4 + ch] : 1));
  const shift = f((a[8] ? x[a[3] / 4 + ch] : 0) - f(x[st] * scale));
  const xb = a[0] / 4 + plane * S, yb = a[4] / 4 + plane * S;
  for (let i = 0; i < S; i++) x[yb + i] = x[xb + i] * scale + shift;
}

/** Args: [xPtr, dyPtr, statsPtr, partPtr, C, S, G]. Chunk = plane: part = (Σ dy, Σ dy·x̂). */
export function groupNormPartialKernel(ctx: KernelContext, a: ArrayLike<number>, plane: number): void {
  const x = ctx.f32, C = a[4], S = a[5], G = a[6];
  const ch = plane % C, b = Math.floor(plane / C), row = b * G + Math.floor(ch / (C / G));
  const st = a[2] / 4 + row * 2, mean = x[st], rstd = x[st + 1];
  const xb = a[0] / 4 + plane * S, gb = a[1] / 4 + plane * S;
  let s1 = 0, s2 = 0;
  for (let i = 0; i < S; i++) {
    const g = x[gb + i];
    s1 += g;
    s2 += g * (x[xb + i] - mean);
  }
  x[a[3] / 4 + plane * 2] = s1;
  x[a[3] / 4 + plane * 2 + 1] = s2 * rstd;
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

/** Args: [xPtr, dyPtr, statsPtr, coefPtr, dxPtr, gammaPtr, C, S, G, affine]. Chunk = plane. */
export function groupNormInputGradKernel(ctx: KernelContext, a: ArrayLike<number>, plane: number): void {
  const x = ctx.f32, C = a[6], S = a[7], G = a[8];
  const ch = plane % C, b = Math.floor(plane / C), row = b * G + Math.floor(ch / (C / G));
  const st = a[2] / 4 + row * 2, mean = x[st], rstd = x[st + 1];
  const c1 = x[a[3] / 4 + row * 2], c2 = x[a[3] / 4 + row * 2 + 1];
  // dx = rstd·(dy·γ − c1 − x̂·c2), folded into dy·p + x·q + r.
  const p = rstd * (a[9] ? x[a[5] / 4 + ch] : 1);
  const q = -rstd * rstd * c2;
  const r = -rstd * c1 + mean * rstd * rstd * c2;
  const xb = a[0] / 4 + plane * S, gb = a[1] / 4 + plane * S, ob = a[4] / 4 + plane * S;
  for (let i = 0; i < S; i++) x[ob + i] = x[gb + i] * p + x[xb + i] * q + r;
}
