/**
 * Fused update kernels (optimizer, scheduler step, noise mix) in float32 operation order, bit for bit what
 * Math.fround after every op gives: each runs in kernels.wasm, where every float32 op rounds once.
 */
import type { KernelContext } from "./context.ts";

/**
 * Args: [kind (0 adam, 1 sgd), pPtr, gPtr, mPtr (or buf), vPtr, nState, n, chunk, lr, beta1, beta2, eps, wd,
 * stepSize, bc2Sqrt, decoupled, momentum, oneMinusDampening, firstStep, nesterov, oneMinusBeta1, oneMinusBeta2,
 * decayFactor].
 */
export function optimizerKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const n = a[6], chunk = a[7];
  const start = c * chunk, count = Math.min(n, start + chunk) - start;
  if (count <= 0) return;
  const at = (ptr: number) => ptr + start * 4;
  // Scalars arrive as doubles; the kernel takes them as float32 (what Math.fround made of them before).
  if (a[0] === 0) {
    ctx.simd.adamF32(
      at(a[1]),
      at(a[2]),
      at(a[3]),
      at(a[4]),
      count,
      a[9],
      a[10],
      a[11],
      a[12],
      a[13],
      a[14],
      a[15],
      a[20],
      a[21],
      a[22],
    );
    return;
  }
  // SGD: [lr 8, wd 12, momentum 16, 1 − dampening 17, firstStep 18, nesterov 19]; state only with nState > 0.
  const state = a[5] > 0 ? 1 : 0;
  ctx.simd.sgdF32(
    at(a[1]),
    at(a[2]),
    state ? at(a[3]) : 0,
    count,
    a[8],
    a[12],
    a[16],
    a[17],
    a[18],
    a[19],
    state,
  );
}

/**
 * Args: [form (0 ddpm, 1 ddim), clip, hasNoise, samplePtr, modelPtr, noisePtr, prevPtr, predPtr, n, chunk,
 * a, b, c, d, e, f, lo, hi, p, q, s].
 */
export function schedulerStepKernel(ctx: KernelContext, g: ArrayLike<number>, ch: number): void {
  const n = g[8], chunk = g[9], start = ch * chunk, end = Math.min(n, start + chunk);
  if (end <= start) return;
  ctx.simd.schedulerStep(
    g[0],
    g[1],
    g[2],
    g[3],
    g[4],
    g[5],
    g[6],
    g[7],
    start,
    end,
    g[10],
    g[11],
    g[12],
    g[13],
    g[14],
    g[15],
    g[16],
    g[17],
    g[18],
    g[19],
    g[20],
  );
}

/** Args: [velocity, origPtr, noisePtr, tsPtr, tablePtr, outPtr, n, perSample, timestepCount, numTrain, chunk]. */
export function noiseMixKernel(ctx: KernelContext, g: ArrayLike<number>, ch: number): void {
  const n = g[6], chunk = g[10], start = ch * chunk, end = Math.min(n, start + chunk);
  if (end <= start) return;
  ctx.simd.noiseMix(g[0], g[1], g[2], g[3], g[4], g[5], start, end, g[7], g[8], g[9]);
}
