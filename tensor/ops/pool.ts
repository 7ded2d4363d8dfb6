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

/**
 * PyTorch's pooling output length along one axis (`pooling_output_shape`, dilation 1):
 * ⌊(L + 2p − (k − 1) − 1 + (ceil ? s − 1 : 0)) / s⌋ + 1, minus one in ceil mode when the last window would start
 * in the right padding. Ceil mode therefore accepts an input shorter than the kernel (L = 2, k = 3, s = 2 → 1).
 * A result below 1 is an error for the caller to report.
 */
export function poolOutputSize(
  len: number,
  kernel: number,
  stride: number,
  pad: number,
  ceil: boolean,
): number {
  const o = Math.floor((len + 2 * pad - (kernel - 1) - 1 + (ceil ? stride - 1 : 0)) / stride) + 1;
  return ceil && (o - 1) * stride >= len + pad ? o - 1 : o;
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
  const out = spatial.map((d, i) => poolOutputSize(d, k[i], s[i], p[i], opts.ceilMode ?? false));
  if (out.some((o) => o < 1)) {
    throw new Error(
      `${op}: output size [${out}] is too small: kernel [${k}], stride [${s}], padding [${p}]${
        opts.ceilMode ? ", ceil mode" : ""
      } on input [${spatial}] (x [${x.shape}])`,
    );
  }
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
  using arg = kind === "max" ? empty([y.size], "int32") : null;
  backend().pool(kind, x.buffer(op), y.buffer(), arg?.buffer() ?? null, g);
  const r = record(y, op, [x], arg ? [arg] : [], (gy, [sa]) => {
    const dx = empty(x.shape);
    backend().poolBackward(kind, gy.buffer(), sa?.buffer() ?? null, dx.buffer(), g);
    return [dx];
  });
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
