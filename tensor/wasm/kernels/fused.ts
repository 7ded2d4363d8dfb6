/** Fused update kernels (optimizer, scheduler step, noise mix) in float32 operation order (Math.fround per op). */
import type { KernelContext } from "./context.ts";

const f = Math.fround;

/**
 * Args: [kind (0 adam, 1 sgd), pPtr, gPtr, mPtr (or buf), vPtr, nState, n, chunk, lr, beta1, beta2, eps, wd,
 * stepSize, bc2Sqrt, decoupled, momentum, oneMinusDampening, firstStep, nesterov, oneMinusBeta1, oneMinusBeta2,
 * decayFactor].
 */
export function optimizerKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, pb = a[1] / 4, gb = a[2] / 4, mb = a[3] / 4, vb = a[4] / 4, nState = a[5];
  const n = a[6], chunk = a[7];
  const [lr, b1, b2, eps, wd, stepSize, bc2, decoupled, mom, damp, first, nesterov, omb1, omb2, decay] = [
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
  ].map((i) => f(a[i]));
  const start = c * chunk, end = Math.min(n, start + chunk);
  if (a[0] === 0) {
    for (let i = start; i < end; i++) {
      let param = x[pb + i], grad = x[gb + i];
      if (wd !== 0) {
        if (decoupled === 1) param = f(param * decay);
        else grad = f(grad + f(wd * param));
      }
      const mi = f(f(x[mb + i] * b1) + f(omb1 * grad));
      const vi = f(f(x[vb + i] * b2) + f(f(omb2 * grad) * grad));
      x[mb + i] = mi;
      x[vb + i] = vi;
      const denom = f(f(f(Math.sqrt(vi)) / bc2) + eps);
      x[pb + i] = f(param + f(f(-stepSize * mi) / denom));
    }
    return;
  }
  for (let i = start; i < end; i++) {
    const param = x[pb + i];
    let d = x[gb + i];
    if (wd !== 0) d = f(d + f(wd * param));
    if (nState > 0) {
      let b = d;
      if (first === 0) b = f(f(x[mb + i] * mom) + f(damp * d));
      x[mb + i] = b;
      d = nesterov === 1 ? f(d + f(mom * b)) : b;
    }
    x[pb + i] = f(param + f(-lr * d));
  }
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
