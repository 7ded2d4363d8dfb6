/**
 * Small convolutions (few output voxels, e.g. a UNet's 4³ and 2³ levels and its strided downsampling) as one
 * pool step each: every chunk copies the source sample it needs, zero-padded, into its thread's scratch, then
 * packs im2col panels from that copy with two loads per element (as/conv_small.ts) and runs the packed GEMM.
 * The copy is cheap next to the chunk's GEMM, so no step has to wait for a separate padding pass, and the
 * blocks can be small enough that every thread gets one.
 */
import type { KernelContext } from "./context.ts";
import { MR, NR, scratchFloats } from "./gemm.ts";

/** Scratch floats one thread needs: the padded source copy (+ slack for whole panels) and the GEMM blocks. */
export function smallScratchFloats(srcFloats: number, mc: number, nc: number, kc: number): number {
  return srcFloats + 16 + scratchFloats(mc, nc, kc);
}

interface SmallScratch {
  xp: number;
  ap: number;
  bp: number;
  cb: number;
  tile: number;
}

function smallScratch(
  ctx: KernelContext,
  base: number,
  per: number,
  srcFloats: number,
  mc: number,
  nc: number,
  kc: number,
): SmallScratch {
  const xp = base + ctx.thread * per * 4;
  const m = Math.ceil(mc / MR) * MR, n = Math.ceil(nc / NR) * NR;
  const ap = xp + (srcFloats + 16) * 4, bp = ap + m * kc * 4, cb = bp + n * kc * 4;
  return { xp, ap, bp, cb, tile: cb + m * n * 4 };
}

/**
 * Forward pass or stride-1 input gradient: Y[b] (M × P) = A (M × R) · im2col(pad(X[b])) (R × P) (+ bias), with
 * A[i][k] = a[i·aRowStride + ⌊k/aRun⌋·aRunStride + k mod aRun]. Args: [x, a, bias (−1: none), y, M, R, P, chans,
 * D, H, W, Dp, Hp, Wp, bd, bh, bw, offs, cols, aRowStride, aRun, aRunStride, MC, NC, KC, scratch, perThread,
 * batch]. Chunk = (batch, M block, N block).
 */
export function convSmallKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [
    x,
    a,
    bias,
    y,
    M,
    R,
    P,
    chans,
    D,
    H,
    W,
    Dp,
    Hp,
    Wp,
    bd,
    bh,
    bw,
    offs,
    cols,
    rs,
    run,
    runStride,
    MC,
    NC,
    KC,
    sp,
    per,
  ] = Array.from(g);
  const mBlocks = Math.ceil(M / MC), nBlocks = Math.ceil(P / NC);
  const nb = chunk % nBlocks,
    mb = Math.floor(chunk / nBlocks) % mBlocks,
    bi = Math.floor(chunk / (nBlocks * mBlocks));
  const m0 = mb * MC, n0 = nb * NC, mc = Math.min(MC, M - m0), nc = Math.min(NC, P - n0);
  const srcFloats = chans * Dp * Hp * Wp;
  const s = smallScratch(ctx, sp, per, srcFloats, MC, NC, KC);
  ctx.gemm.padSmall(x + bi * chans * D * H * W * 4, s.xp, 0, chans, D, H, W, Dp, Hp, Wp, bd, bh, bw);
  const mPad = Math.ceil(mc / MR) * MR, nPad = Math.ceil(nc / NR) * NR;
  const f = ctx.f32, cb = s.cb / 4;
  for (let i = 0; i < mPad; i++) {
    f.fill(bias >= 0 && i < mc ? f[bias / 4 + m0 + i] : 0, cb + i * nPad, cb + (i + 1) * nPad);
  }
  for (let k0 = 0; k0 < R; k0 += KC) {
    const kc = Math.min(KC, R - k0);
    ctx.gemm.packARuns(a + m0 * rs * 4, rs, run, runStride, mc, k0, kc, s.ap);
    ctx.gemm.packBPadded(s.xp, offs, cols, k0, kc, n0, nc, s.bp);
    ctx.gemm.gemmBlock(s.ap, s.bp, mPad, nPad, kc, s.cb, nPad, 1, s.tile);
  }
  const out = y / 4 + bi * M * P + m0 * P + n0;
  for (let i = 0; i < mc; i++) f.copyWithin(out + i * P, cb + i * nPad, cb + i * nPad + nc);
}

/**
 * Weight gradient: dW (M × R) = Σ_b dY[b] (M × P) · im2col(pad(X[b]))ᵀ (P × R). Each chunk pads only the input
 * channels its R block reads. Args: [x, dy, dw, M, R, P, chans, D, H, W, Dp, Hp, Wp, bd, bh, bw, offs, cols, K3,
 * MC, NC, KC, scratch, perThread, batch]. Chunk = (M block, N block).
 */
export function convSmallWeightGradKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [
    x,
    dy,
    dw,
    M,
    R,
    P,
    chans,
    D,
    H,
    W,
    Dp,
    Hp,
    Wp,
    bd,
    bh,
    bw,
    offs,
    cols,
    K3,
    MC,
    NC,
    KC,
    sp,
    per,
    batch,
  ] = Array.from(g);
  const nBlocks = Math.ceil(R / NC);
  const nb = chunk % nBlocks, mb = Math.floor(chunk / nBlocks);
  const m0 = mb * MC, n0 = nb * NC, mc = Math.min(MC, M - m0), nc = Math.min(NC, R - n0);
  const s = smallScratch(ctx, sp, per, chans * Dp * Hp * Wp, MC, NC, KC);
  const c0 = Math.floor(n0 / K3), c1 = Math.ceil((n0 + nc) / K3);
  const out = dw + (m0 * R + n0) * 4;
  for (let b = 0; b < batch; b++) {
    ctx.gemm.padSmall(x + b * chans * D * H * W * 4, s.xp, c0, c1, D, H, W, Dp, Hp, Wp, bd, bh, bw);
    for (let k0 = 0; k0 < P; k0 += KC) {
      const kc = Math.min(KC, P - k0);
      ctx.gemm.packA(dy + (b * M * P + m0 * P + k0) * 4, P, 1, mc, kc, s.ap);
      ctx.gemm.packBPaddedT(s.xp, offs, cols, k0, kc, n0, nc, s.bp);
      ctx.gemm.gemmBlock(s.ap, s.bp, mc, nc, kc, out, R, b > 0 || k0 > 0 ? 1 : 0, s.tile);
    }
  }
}
