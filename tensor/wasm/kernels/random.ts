/** Counter-based random fills (Philox4x32-10), the same keying and float32 mapping as the GPU kernel (kernels.wasm). */
import type { KernelContext } from "./context.ts";

/** Args: [kind (0 uniform, 1 normal, 2 randint), outPtr, n, perSample, sampleOffset, seed, stream, step, lane, a, b, chunk]. */
export function randomKernel(ctx: KernelContext, g: ArrayLike<number>, ch: number): void {
  const n = g[2], chunk = g[11];
  const start = ch * chunk, end = Math.min(n, start + chunk);
  if (end <= start) return;
  ctx.simd.philox(g[0], g[1], start, end, g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10]);
}
