/** Counter-based random fills (Philox4x32-10), the same keying and float32 mapping as the GPU kernel. */
import type { KernelContext } from "./context.ts";

function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p01 = a0 * b1, p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

const f = Math.fround;
// 24 random bits mapped into (0, 1), in float32 as the kernel does.
const unit = (x: number) => f(f((x >>> 8) + 0.5) * 5.9604644775390625e-8);

/** Args: [kind (0 uniform, 1 normal, 2 randint), outPtr, n, perSample, sampleOffset, seed, stream, step, lane, a, b, chunk]. */
export function randomKernel(ctx: KernelContext, g: ArrayLike<number>, ch: number): void {
  const kind = g[0], ob = g[1] / 4, n = g[2], perSample = g[3], sampleOffset = g[4];
  const k0s = g[5] >>> 0, k1s = g[6] >>> 0, step = g[7] >>> 0, lane = g[8] >>> 0, a = f(g[9]), b = f(g[10]);
  const chunk = g[11];
  const start = ch * chunk, end = Math.min(n, start + chunk);
  const span = f(b - a);
  for (let i = start; i < end; i++) {
    let c0 = i % perSample, c1 = (sampleOffset + Math.floor(i / perSample)) >>> 0, c2 = step, c3 = lane;
    let k0 = k0s, k1 = k1s;
    for (let r = 0; r < 10; r++) {
      const hi0 = mulhi(0xD2511F53, c0), lo0 = Math.imul(0xD2511F53, c0) >>> 0;
      const hi1 = mulhi(0xCD9E8D57, c2), lo1 = Math.imul(0xCD9E8D57, c2) >>> 0;
      const n0 = (hi1 ^ c1 ^ k0) >>> 0, n2 = (hi0 ^ c3 ^ k1) >>> 0;
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      k0 = (k0 + 0x9E3779B9) >>> 0;
      k1 = (k1 + 0xBB67AE85) >>> 0;
    }
    if (kind === 0) ctx.f32[ob + i] = f(a + f(span * unit(c0)));
    else if (kind === 1) {
      ctx.f32[ob + i] = a + b * Math.sqrt(-2 * Math.log(unit(c0))) * Math.cos(6.283185307179586 * unit(c1));
    } else ctx.i32[ob + i] = Math.floor(f(a + f(span * unit(c0))));
  }
}
