/** Fused update kernels (optimizer, scheduler step, noise mix) in float32 operation order (Math.fround per op). */
import type { KernelContext } from "./context.ts";

const f = Math.fround;

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
  const x = ctx.f32, ddim = g[0] === 1, clip = g[1] === 1, noise = g[2] === 1;
  const sb = g[3] / 4, mb = g[4] / 4, zb = g[5] / 4, pb = g[6] / 4, xb = g[7] / 4, n = g[8], chunk = g[9];
  const [a, b, c, d, e, ff, lo, hi, p, q, s] = Array.from({ length: 11 }, (_, i) => f(g[10 + i]));
  const start = ch * chunk, end = Math.min(n, start + chunk);
  for (let i = start; i < end; i++) {
    const xs = x[sb + i], m = x[mb + i];
    let x0 = f(f(f(a * xs) + f(b * m)) / c);
    if (clip) x0 = Math.min(Math.max(x0, lo), hi);
    const other = ddim ? f(f(f(d * xs) + f(e * m)) / ff) : xs;
    let prev = f(f(p * x0) + f(q * other));
    if (noise) prev = f(prev + f(s * x[zb + i]));
    x[pb + i] = prev;
    x[xb + i] = x0;
  }
}

/** Args: [velocity, origPtr, noisePtr, tsPtr, tablePtr, outPtr, n, perSample, timestepCount, numTrain, chunk]. */
export function noiseMixKernel(ctx: KernelContext, g: ArrayLike<number>, ch: number): void {
  const x = ctx.f32, velocity = g[0] === 1, ob = g[1] / 4, nb = g[2] / 4, tb = g[3] / 4, tab = g[4] / 4;
  const out = g[5] / 4, n = g[6], perSample = g[7], count = g[8], T = g[9], chunk = g[10];
  const start = ch * chunk, end = Math.min(n, start + chunk);
  for (let i = start; i < end; i++) {
    const t = ctx.i32[tb + (count === 1 ? 0 : Math.floor(i / perSample))];
    if (t < 0 || t >= T) {
      x[out + i] = NaN;
      continue;
    }
    const ca = x[tab + t], cb = x[tab + T + t], x0 = x[ob + i], eps = x[nb + i];
    x[out + i] = velocity ? f(f(ca * eps) - f(cb * x0)) : f(f(ca * x0) + f(cb * eps));
  }
}
