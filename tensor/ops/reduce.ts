/** Reductions over any set of axes: sum, mean, max, min, var, argmax, argmin. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import { type AsShape, normAxis, type ReduceShape, type Shape, sizeOf } from "../shape.ts";
import { empty, scope, type Tensor } from "../tensor.ts";
import type { ReduceOp } from "../backend/ops.ts";
import { expand, permute, reshape } from "./movement.ts";
import { affine, mapRaw, square, sub } from "./elementwise.ts";

function normAxes(op: string, x: Tensor, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return [...Array(x.rank).keys()];
  const list = typeof axes === "number" ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(op, a, x.rank)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new Error(`${op}: repeated axis in [${list}]`);
  return out;
}

/** Reduces x over `axes` with a raw kernel (no autograd). Returns the keep-dim shaped result. */
function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  if (x.dtype !== "float32") throw new Error(`${op}: needs float32, got ${x.dtype} [${x.shape}]`);
  const keepShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const contiguousBlock = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  // Otherwise the reduced axes move to the end so they form one block.
  const rest = [...Array(x.rank).keys()].filter((i) => !axes.includes(i));
  using moved = contiguousBlock ? null : permute(x, [...rest, ...axes]);
  const src = moved ?? x;
  const first = moved ? rest.length : axes[0], last = moved ? x.rank - 1 : axes[axes.length - 1];
  const outer = sizeOf(src.shape.slice(0, first));
  const R = sizeOf(src.shape.slice(first, last + 1));
  const inner = sizeOf(src.shape.slice(last + 1));
  const out = empty(keepShape, op === "argmax" || op === "argmin" ? "int32" : "float32");
  backend().reduce(op, src.buffer(op), out.buffer(), outer, R, inner);
  return out;
}

/** Broadcasts a reduced gradient (given in the reduced shape) back to the input shape. */
function expandFrom(g: Tensor, keepShape: Shape, shape: Shape): Tensor {
  return scope(() => expand(reshape(g, keepShape), shape));
}

function finish(y: Tensor, x: Tensor, axes: number[], keepDim: boolean): Tensor {
  if (keepDim) return y;
  const shape = x.shape.filter((_, i) => !axes.includes(i));
  using _kept = y;
  return reshape(y, shape.length ? shape : [1]);
}

/** Σ over axes (all by default). */
export function sum<S extends Shape, const A extends readonly number[] = number[], K extends boolean = false>(
  x: Tensor<S>,
  axes?: A | number,
  keepDim?: K,
): Tensor<AsShape<ReduceShape<S, A, K>>> {
  const ax = normAxes("sum", x, axes);
  const y = reduceRaw("sum", x, ax);
  const keepShape = y.shape;
  record(y, "sum", [x], [], (g) => [expandFrom(g, keepShape, x.shape)]);
  return finish(y, x, ax, !!keepDim) as Tensor<AsShape<ReduceShape<S, A, K>>>;
}

/** Mean over axes (all by default). */
export function mean<
  S extends Shape,
  const A extends readonly number[] = number[],
  K extends boolean = false,
>(
  x: Tensor<S>,
  axes?: A | number,
  keepDim?: K,
): Tensor<AsShape<ReduceShape<S, A, K>>> {
  const ax = normAxes("mean", x, axes);
  const n = ax.reduce((acc, a) => acc * x.shape[a], 1);
  using s = reduceRaw("sum", x, ax);
  const y = mapRaw("affine", [s], "float32", [1 / n, 0]);
  const keepShape = y.shape;
  record(y, "mean", [x], [], (g) => {
    return [mapRaw("affine", [expandFrom(g, keepShape, x.shape)], "float32", [1 / n, 0])];
  });
  return finish(y, x, ax, !!keepDim) as Tensor<AsShape<ReduceShape<S, A, K>>>;
}

/** A max/min reduction over axes (gradient split evenly among ties). */
export type ExtremeReduction = <
  S extends Shape,
  const A extends readonly number[] = number[],
  K extends boolean = false,
>(
  x: Tensor<S>,
  axes?: A | number,
  keepDim?: K,
) => Tensor<AsShape<ReduceShape<S, A, K>>>;

function extreme(op: "max" | "min"): ExtremeReduction {
  return <S extends Shape, const A extends readonly number[] = number[], K extends boolean = false>(
    x: Tensor<S>,
    axes?: A | number,
    keepDim?: K,
  ): Tensor<AsShape<ReduceShape<S, A, K>>> => {
    const ax = normAxes(op, x, axes);
    const y = reduceRaw(op, x, ax);
    const keepShape = y.shape;
    record(y, op, [x], [x, y], (g, [sx, sy]) => {
      // Gradient split evenly among tied extremes.
      const mask = mapRaw("eq", [sx, sy]);
      const count = reduceRaw("sum", mask, ax);
      const gk = reshape(g, keepShape);
      const share = mapRaw("div", [gk, count]);
      return [mapRaw("mul", [mask, share])];
    });
    return finish(y, x, ax, !!keepDim) as Tensor<AsShape<ReduceShape<S, A, K>>>;
  };
}

/** Maximum over axes. */
export const max: ExtremeReduction = extreme("max");
/** Minimum over axes. */
export const min: ExtremeReduction = extreme("min");

/** Variance over axes with `correction` (1 = unbiased, as PyTorch's default; 0 = population). */
export function variance(x: Tensor, axes?: number | number[], keepDim = false, correction = 1): Tensor {
  const ax = normAxes("var", x, axes);
  const n = ax.reduce((acc, a) => acc * x.shape[a], 1);
  if (n - correction <= 0) throw new Error(`var: ${n} elements with correction ${correction}`);
  return scope(() => affine(sum(square(sub(x, mean(x, ax, true))), ax, keepDim), 1 / (n - correction)));
}

/** Index of the extreme value along one axis, as int32. */
export type ArgReduction = (x: Tensor, axis: number, keepDim?: boolean) => Tensor;

function argReduce(op: "argmax" | "argmin"): ArgReduction {
  return (x: Tensor, axis: number, keepDim = false): Tensor => {
    const a = normAxis(op, axis, x.rank);
    return finish(reduceRaw(op, x, [a]), x, [a], keepDim);
  };
}

/** Index of the maximum along one axis (int32, first on ties). */
export const argmax: ArgReduction = argReduce("argmax");
/** Index of the minimum along one axis (int32, first on ties). */
export const argmin: ArgReduction = argReduce("argmin");
