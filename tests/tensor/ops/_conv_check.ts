/** A conv3d case checked end to end against the TS reference: forward (with bias), input and weight gradients. */
import * as T from "../../../tensor/mod.ts";
import { assertClose, randomArray } from "../_helpers.ts";
import { refConv3d, refConv3dGrads } from "./_ref.ts";

/** x shape, w shape, stride, pad before, pad after, dilation. */
export type ConvCase = [number[], number[], number[], number[], number[], number[]];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Runs the case on the active backend and compares y, dx and dw with the reference (rtol 1e-4, atol `atol`: sums
 * of thousands of terms, each up to 1, cancel to small values whose float32 rounding is ~1e-5 of the terms').
 */
export async function assertConvMatchesRef(
  c: ConvCase,
  seed: number,
  where = "",
  atol = 1e-5,
): Promise<void> {
  const [xs, ws, stride, before, after, dilation] = c;
  const x = randomArray(size(xs), seed),
    w = randomArray(size(ws), seed + 1),
    b = randomArray(ws[0], seed + 2);
  const xt = T.tensor(x, xs).requireGrad(), wt = T.tensor(w, ws).requireGrad();
  const bt = T.tensor(b, [ws[0]]);
  const y = T.conv3d(xt, wt, bt, { stride, padding: { before, after }, dilation });
  const outDims = y.shape.slice(2);
  const what = `${where}x [${xs}] w [${ws}] s [${stride}] pad [${before}]/[${after}] d [${dilation}]`;
  assertClose(
    await y.data(),
    refConv3d(x, xs, w, ws, b, stride, before, dilation, outDims),
    1e-4,
    atol,
    `y ${what}`,
  );
  const dy = randomArray(y.size, seed + 3);
  y.backward(T.tensor(dy, y.shape));
  const ref = refConv3dGrads(x, xs, w, ws, dy, stride, before, dilation, outDims);
  assertClose(await xt.grad!.data(), ref.dx, 1e-4, atol, `dx ${what}`);
  assertClose(await wt.grad!.data(), ref.dw, 1e-4, atol, `dw ${what}`);
  for (const t of [xt, wt, bt, y, xt.grad!, wt.grad!]) t.dispose();
}

/**
 * Few output voxels (a UNet's 4³ and 2³ levels, strided downsampling): the WASM backend's small-convolution
 * path, single-chunk (small work) and split over threads (M and N blocks, batch 2), odd channel counts.
 */
export const SMALL_CONV_CASES: ConvCase[] = [
  // Split into channel blocks on 2+ threads (3.5M multiply-adds), the weight gradient into im2col-row blocks.
  [[1, 64, 4, 4, 4], [32, 64, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  // Odd channels (6-row tiles with a ragged edge, 8-column panels past P), batch 2, one chunk.
  [[2, 17, 2, 2, 2], [13, 17, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  // Batch 2 with enough work to pool: chunks per sample.
  [[2, 19, 4, 4, 4], [23, 19, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  // The UNet's stride-2 downsample (8³ → 4³), and an odd strided one with asymmetric padding.
  [[1, 16, 8, 8, 8], [16, 16, 3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  [[2, 7, 5, 6, 4], [9, 7, 3, 3, 3], [2, 1, 2], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
  // Non-cubic rows of 5 and 3 voxels (no 4-voxel vector runs), dilation 2, and a 1×1×1 kernel.
  [[1, 6, 3, 2, 5], [7, 6, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  [[1, 5, 4, 4, 3], [6, 5, 3, 3, 3], [1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
  [[1, 40, 4, 4, 4], [33, 40, 1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]],
  // 8³ with few weights (the forward and input gradient take the small path before the direct one), batch 2.
  [[2, 3, 8, 8, 8], [16, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  [[1, 16, 8, 8, 8], [5, 16, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  // 8³ with more weights: the forward runs direct, the input gradient small.
  [[1, 24, 8, 8, 8], [20, 24, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
];
