/** Upsampling of [B, C, D, H, W] volumes: nearest and trilinear (align_corners = false), with gradients. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import { empty, type Tensor } from "../tensor.ts";
import type { ResampleArgs, ResampleMode } from "../backend/geometry.ts";

function upsample(op: string, mode: ResampleMode, x: Tensor, scale: number | number[]): Tensor {
  if (x.rank !== 5) throw new Error(`${op}: input must be 5-D [B, C, D, H, W], got [${x.shape}]`);
  if (x.dtype !== "float32") throw new Error(`${op}: needs float32, got ${x.dtype} [${x.shape}]`);
  const s = typeof scale === "number" ? [scale, scale, scale] : scale;
  if (s.length !== 3 || s.some((v) => !(v > 0))) {
    throw new Error(`${op}: scale must be > 0 (one or three), got ${JSON.stringify(scale)}`);
  }
  const inDims = x.shape.slice(2);
  const outDims = inDims.map((d, i) => Math.floor(d * s[i]));
  if (outDims.some((d) => d < 1)) {
    throw new Error(`${op}: scale ${JSON.stringify(scale)} empties x [${x.shape}]`);
  }
  // Reference behaviour: PyTorch with scale_factor maps output o to source o / scale (not o · in/out).
  const a: ResampleArgs = { BC: x.shape[0] * x.shape[1], inDims, outDims, scale: s.map((v) => 1 / v) };
  const y = empty([x.shape[0], x.shape[1], ...outDims]);
  backend().resample(mode, x.buffer(op), y.buffer(), a, false);
  return record(y, op, [x], [], (g) => {
    const dx = empty(x.shape);
    backend().resample(mode, g.buffer(), dx.buffer(), a, true);
    return [dx];
  });
}

/** Nearest-neighbour upsampling: [B, C, D, H, W] → [B, C, ⌊D·s⌋, ⌊H·s⌋, ⌊W·s⌋] (s per axis or one number). */
export function upsampleNearest3d(x: Tensor, scale: number | number[] = 2): Tensor {
  return upsample("upsampleNearest3d", "nearest", x, scale);
}

/** Trilinear upsampling (align_corners = false, as PyTorch's default): [B, C, D, H, W] → [B, C, ⌊D·s⌋, …]. */
export function upsampleTrilinear3d(x: Tensor, scale: number | number[] = 2): Tensor {
  return upsample("upsampleTrilinear3d", "trilinear", x, scale);
}
