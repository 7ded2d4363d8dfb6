/** Problem descriptions of the structured primitives (matmul, conv, norms, resampling, pooling, attention). */

/** Matmul problem: A is [batch, M, K] (or [batch, K, M] when transA), B is [batch, K, N] (or [N, K]). */
export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Element offsets between batches (0 broadcasts one matrix over the batch). */
  batchStrideA: number;
  batchStrideB: number;
  transA: boolean;
  transB: boolean;
}

/** Geometry of one convolution (forward view): x [B, Ci, in], w [Co, Ci, kernel], y [B, Co, out]. */
export interface ConvGeometry {
  B: number;
  Ci: number;
  Co: number;
  inDims: number[];
  outDims: number[];
  kernel: number[];
  stride: number[];
  /** Zero padding before each spatial axis (padding after is implied by outDims). */
  padBefore: number[];
  dilation: number[];
}

/** Groups of x: B·G rows of Cg·S contiguous values, each channel c of group g scaled by gamma[c]. */
export interface GroupNormArgs {
  B: number;
  C: number;
  /** Spatial size (product of the dims after C). */
  S: number;
  G: number;
  eps: number;
}

/** Resampling mode (align_corners = false, PyTorch's source-index rule). */
export type ResampleMode = "nearest" | "trilinear";

/** Resample geometry: `scale` per axis is the reciprocal used in the source-index rule (in/out for sizes). */
export interface ResampleArgs {
  BC: number;
  inDims: number[];
  outDims: number[];
  scale: number[];
}

/** Pooling kind. */
export type PoolKind = "max" | "avg";

/** Pool geometry; windows start at o·stride − pad and are clipped to the input (ceil mode may overhang). */
export interface PoolGeometry {
  BC: number;
  inDims: number[];
  outDims: number[];
  kernel: number[];
  stride: number[];
  pad: number[];
  /** Average pooling: divide by the window size including padding (PyTorch's default) or by the valid count. */
  countIncludePad: boolean;
}

/** Problem size: BH independent (batch, head) slices of q [Tq, d], k [Tk, d], v [Tk, dv]. */
export interface AttentionArgs {
  BH: number;
  Tq: number;
  Tk: number;
  d: number;
  dv: number;
  scale: number;
}
