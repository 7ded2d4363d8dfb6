/** Max and average pooling (2-D and 3-D), with gradients. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import { empty, type Tensor } from "../tensor.ts";
import type { AsShape, Shape } from "../shape.ts";
import type { Pool3dShape } from "../window_shape.ts";
import type { PoolGeometry, PoolKind } from "../backend/geometry.ts";

/** Pooling options: padding (each side) and PyTorch's ceil_mode. */
export interface PoolOptions {
  /** Implicit padding on each side. */
  padding?: number | number[];
  /** Round the output size up (PyTorch's ceil_mode). */
  ceilMode?: boolean;
  /** Average pooling only: include padded zeros in the divisor (PyTorch's default true). */
  countIncludePad?: boolean;
}

function axes(op: string, name: string, v: number | number[], n: number, min: number): number[] {
  const a = typeof v === "number" ? new Array(n).fill(v) : [...v];
  if (a.length !== n || a.some((x) => !Number.isInteger(x) || x < min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return a;
}

function pool(
  op: string,
  kind: PoolKind,
  x: Tensor,
  n: number,
  kernel: number | number[],
  stride: number | number[] | undefined,
  opts: PoolOptions,
): Tensor {
  if (x.rank !== n + 2) {
    throw new Error(
      `${op}: input must be ${n + 2}-D [B, C, ${n === 3 ? "D, H, W" : "H, W"}], got [${x.shape}]`,
    );
  }
  if (x.dtype !== "float32") throw new Error(`${op}: needs float32, got ${x.dtype} [${x.shape}]`);
  const k = axes(op, "kernel", kernel, n, 1);
  const s = axes(op, "stride", stride ?? kernel, n, 1);
  const p = axes(op, "padding", opts.padding ?? 0, n, 0);
  if (p.some((v, i) => v * 2 > k[i])) {
    throw new Error(`${op}: padding [${p}] must be at most half the kernel [${k}]`);
  }
  const spatial = x.shape.slice(2);
  const out = spatial.map((d, i) => {
    const span = d + 2 * p[i] - k[i];
    if (span < 0) {
      throw new Error(
        `${op}: kernel [${k}] is larger than the padded input [${
          spatial.map((v, j) => v + 2 * p[j])
        }] (x [${x.shape}])`,
      );
    }
    let o = (opts.ceilMode ? Math.ceil(span / s[i]) : Math.floor(span / s[i])) + 1;
    // Reference behaviour (PyTorch): in ceil mode the last window must start inside the input or left padding.
    if (opts.ceilMode && (o - 1) * s[i] >= d + p[i]) o--;
    return o;
  });
  const pad3 = (a: number[], v: number) => [...new Array(3 - n).fill(v), ...a];
  const g: PoolGeometry = {
    BC: x.shape[0] * x.shape[1],
    inDims: pad3(spatial, 1),
    outDims: pad3(out, 1),
    kernel: pad3(k, 1),
    stride: pad3(s, 1),
    pad: pad3(p, 0),
    countIncludePad: opts.countIncludePad ?? true,
  };
  const y = empty([x.shape[0], x.shape[1], ...out]);
  const arg = kind === "max" ? empty([y.size], "int32") : null;
  backend().pool(kind, x.buffer(op), y.buffer(), arg?.buffer() ?? null, g);
  const r = record(y, op, [x], arg ? [arg] : [], (gy, [sa]) => {
    const dx = empty(x.shape);
    backend().poolBackward(kind, gy.buffer(), sa?.buffer() ?? null, dx.buffer(), g);
    return [dx];
  });
  arg?.dispose();
  return r;
}

/** 2-D max pooling: [B, C, H, W] → [B, C, H', W'] (stride defaults to the kernel; ceilMode as PyTorch). */
export function maxPool2d(
  x: Tensor,
  kernel: number | number[],
  stride?: number | number[],
  opts: PoolOptions = {},
): Tensor {
  return pool("maxPool2d", "max", x, 2, kernel, stride, opts);
}

/** 3-D max pooling: [B, C, D, H, W] → [B, C, D', H', W']. */
export function maxPool3d<
  X extends Shape,
  const K extends number | number[],
  const S extends number | number[] | undefined = undefined,
  const O extends PoolOptions = Record<never, never>,
>(x: Tensor<X>, kernel: K, stride?: S, opts: O = {} as O): Tensor<AsShape<Pool3dShape<X, K, S, O>>> {
  return pool("maxPool3d", "max", x, 3, kernel, stride, opts) as Tensor<AsShape<Pool3dShape<X, K, S, O>>>;
}

/** 3-D average pooling: [B, C, D, H, W] → [B, C, D', H', W'] (divisor includes padding unless told). */
export function avgPool3d<
  X extends Shape,
  const K extends number | number[],
  const S extends number | number[] | undefined = undefined,
  const O extends PoolOptions = Record<never, never>,
>(x: Tensor<X>, kernel: K, stride?: S, opts: O = {} as O): Tensor<AsShape<Pool3dShape<X, K, S, O>>> {
  return pool("avgPool3d", "avg", x, 3, kernel, stride, opts) as Tensor<AsShape<Pool3dShape<X, K, S, O>>>;
}

/** 2-D average pooling: [B, C, H, W] → [B, C, H', W']. */
export function avgPool2d(
  x: Tensor,
  kernel: number | number[],
  stride?: number | number[],
  opts: PoolOptions = {},
): Tensor {
  return pool("avgPool2d", "avg", x, 2, kernel, stride, opts);
}
