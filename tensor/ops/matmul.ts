/** Matrix products: 2-D and batched (broadcast batch dims), with gradients. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import {
  type AsShape,
  broadcastShapes,
  type MatmulShape,
  type Shape,
  type ShapeError,
  sizeOf,
} from "../shape.ts";
import { empty, type Tensor } from "../tensor.ts";
import { sumToShape } from "./elementwise.ts";

/** Fails to type-check when the inner dims are literal and differ. */
export type CheckMatmul<A extends Shape, B extends Shape> = MatmulShape<A, B> extends readonly number[]
  ? unknown
  : ShapeError<"matmul: inner dims differ">;

/** Raw op(A)·op(B) with broadcast batch dims; no autograd. */
export function matmulRaw(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: needs rank >= 2, got [${a.shape}] and [${b.shape}]`);
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new Error(`matmul: needs float32 (${a.dtype}, ${b.dtype})`);
  }
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const KB = transB ? bc : br, N = transB ? br : bc;
  if (K !== KB) {
    throw new Error(
      `matmul: inner dims differ: [${a.shape}]${transA ? "ᵀ" : ""} · [${b.shape}]${transB ? "ᵀ" : ""}`,
    );
  }
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batchShape = broadcastShapes("matmul", batchA, batchB);
  const batch = sizeOf(batchShape);
  // Batch broadcasting is supported when one side has a single matrix or both have the full batch.
  const sa = sizeOf(batchA), sb = sizeOf(batchB);
  if ((sa !== 1 && sa !== batch) || (sb !== 1 && sb !== batch)) {
    throw new Error(`matmul: batch dims [${batchA}] and [${batchB}] need an explicit expand`);
  }
  const c = empty([...batchShape, M, N], "float32");
  backend().matmul(a.buffer("matmul"), b.buffer("matmul"), c.buffer(), {
    M,
    N,
    K,
    batch,
    batchStrideA: sa === 1 ? 0 : M * K,
    batchStrideB: sb === 1 ? 0 : K * N,
    transA,
    transB,
  });
  return c;
}

/** a · b over the last two dims, batch dims broadcast: [..., M, K] · [..., K, N] → [..., M, N]. */
export function matmul<A extends Shape, B extends Shape>(
  a: Tensor<A>,
  b: Tensor<B> & CheckMatmul<A, B>,
): Tensor<AsShape<MatmulShape<A, B>>> {
  const y = matmulRaw(a, b);
  return record(y, "matmul", [a, b], [a, b], (g, [sa, sb]) => {
    const ga = matmulRaw(g, sb, false, true);
    const gb = matmulRaw(sa, g, true, false);
    return [sumToShape(ga, sa.shape), sumToShape(gb, sb.shape)];
  }) as unknown as Tensor<AsShape<MatmulShape<A, B>>>;
}
