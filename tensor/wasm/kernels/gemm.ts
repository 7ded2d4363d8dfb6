/**
 * Matmul and convolution on the packed GEMM core (as/gemm.ts): each chunk owns one block of C, packs its
 * A and B panels per K block into this thread's scratch, and runs the register-blocked micro-kernel over them.
 * Convolutions pack B straight from the input through per-axis index tables (implicit GEMM): forward and
 * input gradient gather im2col panels, the weight gradient gathers the transposed ones.
 */
import type { KernelContext } from "./context.ts";

/** Micro-kernel tile (must match as/gemm.ts). */
export const MR = 6, NR = 8;

/** Scratch floats one thread needs for blocks of mc × kc (A) and kc × nc (B). */
export function scratchFloats(mc: number, nc: number, kc: number): number {
  const m = Math.ceil(mc / MR) * MR, n = Math.ceil(nc / NR) * NR;
  return m * kc + n * kc + m * n + MR * NR + 64;
}

interface Scratch {
  ap: number;
  bp: number;
  /** A whole-tile C block (rows and columns padded to MR, NR), so the micro-kernel never takes the edge path. */
  cb: number;
  tile: number;
  cols: number;
}

function scratch(
  ctx: KernelContext,
  base: number,
  perThread: number,
  mc: number,
  nc: number,
  kc: number,
): Scratch {
  const s = base + ctx.thread * perThread * 4;
  const m = Math.ceil(mc / MR) * MR, n = Math.ceil(nc / NR) * NR;
  const ap = s, bp = ap + m * kc * 4, cb = bp + n * kc * 4;
  const tile = s + (perThread - MR * NR - 64) * 4;
  return { ap, bp, cb, tile, cols: tile + MR * NR * 4 };
}

/**
 * Args: [a, b, c, M, N, K, batch, bsA, bsB, transA, transB, MC, NC, KC, scratch, perThread].
 * Chunk = (batch, M block, N block).
 */
export function matmulKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [a, b, c, M, N, K, , bsA, bsB, transA, transB, MC, NC, KC, sp, per] = Array.from(g);
  const mBlocks = Math.ceil(M / MC), nBlocks = Math.ceil(N / NC);
  const nb = chunk % nBlocks,
    mb = Math.floor(chunk / nBlocks) % mBlocks,
    bi = Math.floor(chunk / (nBlocks * mBlocks));
  const m0 = mb * MC, n0 = nb * NC, mc = Math.min(MC, M - m0), nc = Math.min(NC, N - n0);
  const cBase = c + (bi * M * N + m0 * N + n0) * 4;
  if (K === 0) {
    for (let i = 0; i < mc; i++) ctx.f32.fill(0, cBase / 4 + i * N, cBase / 4 + i * N + nc);
    return;
  }
  const [rsA, csA] = transA ? [1, M] : [K, 1];
  const [rsB, csB] = transB ? [1, K] : [N, 1];
  const s = scratch(ctx, sp, per, MC, NC, KC);
  const aBase = a + bi * bsA * 4, bBase = b + bi * bsB * 4;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    ctx.gemm.packA(aBase + (m0 * rsA + k0 * csA) * 4, rsA, csA, mc, kc, s.ap);
    ctx.gemm.packB(bBase + (k0 * rsB + n0 * csB) * 4, rsB, csB, kc, nc, s.bp);
    ctx.gemm.gemmBlock(s.ap, s.bp, mc, nc, kc, cBase, N, k0 > 0 ? 1 : 0, s.tile);
  }
}

/**
 * Implicit-GEMM convolution, forward or input gradient: Y[b] (M × P) (+)= A (M × R) · im2col(X[b]) (R × P).
 * Args: [x, a, bias (−1: none), y, M, R, P, xSample, rowTab, tabD, tabH, tabW, cd, ch, cw, MC, NC, KC, scratch,
 * perThread, batch]. Chunk = (batch, M block, N block).
 */
export function convKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [x, a, bias, y, M, R, P, xSample, rowTab, tabD, tabH, tabW, cd, ch, cw, MC, NC, KC, sp, per] = Array
    .from(g);
  const mBlocks = Math.ceil(M / MC), nBlocks = Math.ceil(P / NC);
  const nb = chunk % nBlocks,
    mb = Math.floor(chunk / nBlocks) % mBlocks,
    bi = Math.floor(chunk / (nBlocks * mBlocks));
  const m0 = mb * MC, n0 = nb * NC, mc = Math.min(MC, M - m0), nc = Math.min(NC, P - n0);
  const cBase = y / 4 + bi * M * P + m0 * P + n0;
  const s = scratch(ctx, sp, per, MC, NC, KC);
  const mPad = Math.ceil(mc / MR) * MR, nPad = Math.ceil(nc / NR) * NR;
  // Accumulate in the padded scratch block, starting from the bias (or zero); copy the valid part out at the end.
  const f = ctx.f32, cb = s.cb / 4;
  for (let i = 0; i < mPad; i++) {
    f.fill(bias >= 0 && i < mc ? f[bias / 4 + m0 + i] : 0, cb + i * nPad, cb + (i + 1) * nPad);
  }
  const xb = x + bi * xSample * 4;
  for (let k0 = 0; k0 < R; k0 += KC) {
    const kc = Math.min(KC, R - k0);
    ctx.gemm.packA(a + (m0 * R + k0) * 4, R, 1, mc, kc, s.ap);
    ctx.gemm.packBConv(xb, rowTab, tabD, tabH, tabW, cd, ch, cw, k0, kc, n0, nc, s.bp, s.cols);
    ctx.gemm.gemmBlock(s.ap, s.bp, mPad, nPad, kc, s.cb, nPad, 1, s.tile);
  }
  for (let i = 0; i < mc; i++) f.copyWithin(cBase + i * P, cb + i * nPad, cb + i * nPad + nc);
}

/**
 * Weight gradient: dW (M × R) = Σ_b dY[b] (M × P) · im2col(X[b])ᵀ (P × R).
 * Args: [x, dy, dw, M, R, P, xSample, rowTab, tabD, tabH, tabW, cd, ch, cw, MC, NC, KC, scratch, perThread,
 * batch]. Chunk = (M block, N block).
 */
export function convWeightGradKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [x, dy, dw, M, R, P, xSample, rowTab, tabD, tabH, tabW, cd, ch, cw, MC, NC, KC, sp, per, batch] =
    Array
      .from(g);
  const nBlocks = Math.ceil(R / NC);
  const nb = chunk % nBlocks, mb = Math.floor(chunk / nBlocks);
  const m0 = mb * MC, n0 = nb * NC, mc = Math.min(MC, M - m0), nc = Math.min(NC, R - n0);
  const cBase = dw + (m0 * R + n0) * 4;
  for (let i = 0; i < mc; i++) ctx.f32.fill(0, cBase / 4 + i * R, cBase / 4 + i * R + nc);
  const s = scratch(ctx, sp, per, MC, NC, KC);
  for (let b = 0; b < batch; b++) {
    const xb = x + b * xSample * 4, gb = dy + (b * M * P + m0 * P) * 4;
    for (let k0 = 0; k0 < P; k0 += KC) {
      const kc = Math.min(KC, P - k0);
      ctx.gemm.packA(gb + k0 * 4, P, 1, mc, kc, s.ap);
      ctx.gemm.packBConvT(xb, rowTab, tabD, tabH, tabW, cd, ch, cw, k0, kc, n0, nc, s.bp);
      ctx.gemm.gemmBlock(s.ap, s.bp, mc, nc, kc, cBase, R, 1, s.tile);
    }
  }
}

/**
 * Input gradient of a strided convolution as GEMM + col2im (no taps that read between samples): per (sample,
 * block of input channels), dcol [(ci, k) × voxels] = wᵀ · dy[b] in N blocks, each added into dx through the
 * forward tables. Args: [dy, w, dx, Ci, Co, K3, P (output voxels), inVol, rowTab, tabD, tabH, tabW, cd, ch, cw,
 * CIB, NC, KC, scratch, perThread, batch]. Chunk = (batch, channel block).
 */
export function convInputGradScatterKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [dy, w, dx, Ci, Co, K3, P, inVol, rowTab, tabD, tabH, tabW, , ch, cw, CIB, NC, KC, sp, per] = Array
    .from(g);
  const blocks = Math.ceil(Ci / CIB), bi = Math.floor(chunk / blocks), ci0 = (chunk % blocks) * CIB;
  const cis = Math.min(CIB, Ci - ci0), mc = cis * K3, mPad = Math.ceil(mc / MR) * MR;
  const s = scratch(ctx, sp, per, CIB * K3, NC, KC);
  const dxb = dx + bi * Ci * inVol * 4;
  ctx.f32.fill(0, dxb / 4 + ci0 * inVol, dxb / 4 + (ci0 + cis) * inVol);
  for (let n0 = 0; n0 < P; n0 += NC) {
    const nc = Math.min(NC, P - n0), nPad = Math.ceil(nc / NR) * NR;
    if (Co === 0) break;
    for (let k0 = 0; k0 < Co; k0 += KC) {
      const kc = Math.min(KC, Co - k0);
      // A[(ci, k), co] = w[co, ci, k]: rows are consecutive, columns Ci·K3 apart.
      ctx.gemm.packA(w + (k0 * Ci * K3 + ci0 * K3) * 4, 1, Ci * K3, mc, kc, s.ap);
      ctx.gemm.packB(dy + (bi * Co * P + k0 * P + n0) * 4, P, 1, kc, nc, s.bp);
      ctx.gemm.gemmBlock(s.ap, s.bp, mPad, nPad, kc, s.cb, nPad, k0 > 0 ? 1 : 0, s.tile);
    }
    ctx.gemm.col2imAdd(s.cb, nPad, ci0 * K3, mc, n0, nc, rowTab, tabD, tabH, tabW, ch, cw, dxb);
  }
}

/**
 * Direct stride-1 convolution on a zero-padded input copy: per output row (od, oh), B is read straight from the
 * input (8 voxels per tap, at base + offs[r]); A (the weights) was packed once for the whole op (convPackWeights).
 * Args: [xp, packed, bias (−1: none), y, M, R, Wo, Ho, Do, sampleFloats (Ci·padVol), planeFloats (Hp·Wp), Wp, offs,
 * MC, rowsPerChunk, scratch, perThread, panels, group (3: taps in runs of 3 voxels, else 1), rowsPerGroup (output
 * rows one A tile meets)]. Chunk = (batch, M block, block of output rows).
 */
export function convDirectKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [
    xp,
    packed,
    bias,
    y,
    M,
    R,
    Wo,
    Ho,
    Do,
    sample,
    planeF,
    Wp,
    offs,
    MC,
    rpc,
    sp,
    per,
    panels,
    group,
    rowsPer,
  ] = Array.from(g);
  const rows = Do * Ho, rBlocks = Math.ceil(rows / rpc), mBlocks = Math.ceil(M / MC);
  const rb = chunk % rBlocks,
    mb = Math.floor(chunk / rBlocks) % mBlocks,
    bi = Math.floor(chunk / (rBlocks * mBlocks));
  const m0 = mb * MC, mc = Math.min(MC, M - m0);
  const { n6, n4 } = directTiles(mc);
  ctx.gemm.convDirectRows(
    packed + mb * packedBlockFloats(MC, R) * 4,
    R,
    offs,
    xp + bi * sample * 4,
    planeF,
    Wp,
    Ho,
    rb * rpc,
    Math.min(rows, (rb + 1) * rpc),
    rowsPer,
    n6,
    n4,
    panels,
    group,
    bias >= 0 ? bias + m0 * 4 : 0,
    mc,
    sp + ctx.thread * per * 4,
    y + (bi * M + m0) * rows * Wo * 4,
    rows * Wo,
    Wo,
  );
}

/** Floats of one M block of packed direct-conv weights: room for ⌈MC/6⌉ tiles of 6 × R. */
export function packedBlockFloats(MC: number, R: number): number {
  return Math.ceil(MC / MR) * MR * R;
}

/**
 * Packs the weights [M, R] of a direct convolution once per op, block by block and tile by tile as
 * convDirectKernel reads them: each tile its own 6-row panel (a 4-row tile's has 2 zero rows the 4-row kernel
 * never reads). Args: [w, packed, M, R, MC]. Chunk = (M block, tile).
 */
export function convPackWeightsKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [w, packed, M, R, MC] = Array.from(g);
  const tilesPerBlock = Math.ceil(MC / MR), mb = Math.floor(chunk / tilesPerBlock), t = chunk % tilesPerBlock;
  const m0 = mb * MC, mc = Math.min(MC, M - m0), { n6, n4 } = directTiles(mc);
  if (t >= n6 + n4) return;
  const r0 = t < n6 ? t * MR : n6 * MR + (t - n6) * 4, h = Math.min(t < n6 ? MR : 4, mc - r0);
  const dst = packed + (mb * packedBlockFloats(MC, R) + t * MR * R) * 4;
  ctx.gemm.packA(w + (m0 + r0) * R * 4, R, 1, h, R, dst);
}

/**
 * Row tiles of a direct-conv block of mc channels: n6 of 6 rows, then n4 (≤ 2) of 4, covering mc with the least
 * padding (32 = 4·6 + 2·4). Never more tiles, nor rows, than ⌈mc/6⌉ six-row tiles.
 */
export function directTiles(mc: number): { n6: number; n4: number } {
  const n4 = Math.min([0, 2, 2, 1, 1, 0][mc % MR], Math.floor(mc / 4));
  return { n6: Math.ceil((mc - 4 * n4) / MR), n4 };
}

/** Weight-gradient dot tile (must match gen_microkernels.ts): co channels × im2col rows, 192 bytes of lane sums. */
export const DOT_CO = 2, DOT_R = 6;

/**
 * Scratch bytes of one chunk of the direct weight gradient: the lane sums of its tiles, 192 bytes each (2×6, or
 * 3×3 for a 3-wide kernel's shifted tiles: `shift`).
 */
export function dotScratchBytes(mc: number, nc: number, shift: boolean): number {
  const [co, r] = shift ? [3, 3] : [DOT_CO, DOT_R];
  return Math.ceil(mc / co) * Math.ceil(nc / r) * DOT_CO * DOT_R * 16;
}

/**
 * Direct stride-1 weight gradient (as/gemm.ts convWeightGradDirect) on a zero-padded input copy, chunked over
 * blocks of dw. Args: [dy, dySample, Wq, xp, xSample, xPlane, Wp, offs, batch, Do, Ho, rowsPerBlock, Co, R,
 * MC, NC, scratch, perThreadBytes, dw, shift (1: a 3-wide kernel's 3×3 shifted tiles)]. Chunk = (Co block,
 * R block).
 */
export function convWeightGradDirectKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [
    dy,
    dySample,
    Wq,
    xp,
    xSample,
    xPlane,
    Wp,
    offs,
    batch,
    Do,
    Ho,
    rb,
    Co,
    R,
    MC,
    NC,
    sp,
    per,
    dw,
    shift,
  ] = Array.from(g);
  const nBlocks = Math.ceil(R / NC);
  const nb = chunk % nBlocks, mb = Math.floor(chunk / nBlocks);
  const co0 = mb * MC, r0 = nb * NC;
  ctx.gemm.convWeightGradDirect(
    dy,
    dySample,
    Wq,
    xp,
    xSample,
    xPlane,
    Wp,
    offs,
    batch,
    Do,
    Ho,
    rb,
    co0,
    Math.min(MC, Co - co0),
    r0,
    Math.min(NC, R - r0),
    R,
    sp + ctx.thread * per,
    dw,
    shift === 1,
  );
}

/**
 * Zero-padded copy for the direct convolutions (as/gemm.ts padPlanes). Args: [src, dst, planes, planesPerChunk,
 * D, H, W, Dp, Hp, Wp, bd, bh, bw]. Chunk = a run of planes.
 */
export function convPadKernel(ctx: KernelContext, g: ArrayLike<number>, chunk: number): void {
  const [src, dst, planes, per, D, H, W, Dp, Hp, Wp, bd, bh, bw] = Array.from(g);
  const p0 = chunk * per, p1 = Math.min(planes, p0 + per);
  ctx.gemm.padPlanes(src, dst, p0, p1, D, H, W, Dp, Hp, Wp, bd, bh, bw);
}
