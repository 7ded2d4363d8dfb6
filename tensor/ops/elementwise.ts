/** Elementwise ops with broadcasting, and their gradients. */
import { backend } from "../backend/mod.ts";
import type { DType } from "../dtype.ts";
import { record, setAutogradOps } from "../autograd.ts";
import {
  type AsShape,
  type Broadcast,
  broadcastShapes,
  broadcastStrides,
  sameShape,
  type Shape,
  type ShapeError,
} from "../shape.ts";
import { empty, scope, type Tensor } from "../tensor.ts";
import type { MapOp } from "../backend/ops.ts";
import { onesLike } from "./create.ts";
import { reshape } from "./movement.ts";
import { sum } from "./reduce.ts";

/** Fails to type-check (with the message) when A and B cannot broadcast. */
export type CheckBroadcast<A extends Shape, B extends Shape> = Broadcast<A, B> extends readonly number[]
  ? unknown
  : ShapeError<"shapes cannot be broadcast">;

/** Runs a raw elementwise kernel (no autograd) over broadcast inputs. */
export function mapRaw(
  op: MapOp,
  inputs: Tensor[],
  outDtype: DType = inputs[0].dtype,
  scalars: [number, number] = [0, 0],
): Tensor {
  let shape: number[] = [...inputs[0].shape];
  for (const x of inputs.slice(1)) shape = broadcastShapes(op, shape, x.shape);
  const out = empty(shape, outDtype);
  backend().map(
    op,
    inputs.map((x) => ({
      buffer: x.buffer(op),
      dtype: x.dtype,
      strides: sameShape(x.shape, shape) ? null : broadcastStrides(x.shape, shape),
    })),
    out.buffer(),
    shape,
    outDtype,
    scalars,
  );
  return out;
}

/** Sums a broadcast gradient back down to `shape`. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
  return scope(() => reshape(sum(g, axes, true), shape));
}

function checkFloat(op: string, ...xs: Tensor[]): void {
  for (const x of xs) {
    if (
      x.dtype === "int32" &&
      ![
        "add",
        "sub",
        "mul",
        "neg",
        "abs",
        "maximum",
        "minimum",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "where",
        "copy",
      ].includes(op)
    ) {
      throw new Error(`${op}: needs a float tensor, got int32 [${x.shape}]`);
    }
  }
  const d = xs[0].dtype;
  for (const x of xs) {
    if (x.dtype !== d) throw new Error(`${op}: dtypes differ (${d} vs ${x.dtype}); cast first`);
  }
}

// ---------------------------------------------------------------- unary

type Unary = <S extends Shape, D extends DType>(x: Tensor<S, D>) => Tensor<S, D>;

function unary(op: MapOp, grad: (x: Tensor, y: Tensor, g: Tensor) => Tensor, savesOutput = false): Unary {
  return ((x: Tensor) => {
    checkFloat(op, x);
    const y = mapRaw(op, [x]);
    return record(y, op, [x], savesOutput ? [x, y] : [x], (g, [sx, sy]) => [grad(sx, sy, g)]);
  }) as Unary;
}

/** -x */
export const neg: Unary = unary("neg", (_x, _y, g) => mapRaw("neg", [g]));
/** e^x */
export const exp: Unary = unary("exp", (_x, y, g) => mapRaw("mul", [g, y]), true);
/** natural log */
export const log: Unary = unary("log", (x, _y, g) => mapRaw("div", [g, x]));
/** sin x */
export const sin: Unary = unary("sin", (x, _y, g) => mapRaw("mul", [g, mapRaw("cos", [x])]));
/** cos x */
export const cos: Unary = unary(
  "cos",
  (x, _y, g) => mapRaw("mul", [g, mapRaw("affine", [mapRaw("sin", [x])], "float32", [-1, 0])]),
);
/** √x */
export const sqrt: Unary = unary(
  "sqrt",
  (_x, y, g) => mapRaw("affine", [mapRaw("div", [g, y])], "float32", [0.5, 0]),
  true,
);
/** 1/√x */
export const rsqrt: Unary = unary("rsqrt", (_x, y, g) => {
  const y3 = mapRaw("powScalar", [y], "float32", [3, 0]);
  return mapRaw("mul", [g, mapRaw("affine", [y3], "float32", [-0.5, 0])]);
}, true);
/** |x| (gradient sign(x), 0 at 0) */
export const abs: Unary = unary("abs", (x, _y, g) => mapRaw("absGrad", [x, g]));
/** sign(x) (zero gradient) */
export const sign: Unary = unary("sign", (x) => mapRaw("affine", [x], "float32", [0, 0]));
/** x² */
export const square: Unary = unary(
  "square",
  (x, _y, g) => mapRaw("mul", [g, mapRaw("affine", [x], "float32", [2, 0])]),
);
/** max(x, 0) */
export const relu: Unary = unary("relu", (x, _y, g) => mapRaw("reluGrad", [x, g]));
/** x·σ(x) */
export const silu: Unary = unary("silu", (x, _y, g) => mapRaw("siluGrad", [x, g]));
/** σ(x) */
export const sigmoid: Unary = unary("sigmoid", (_x, y, g) => mapRaw("sigmoidGrad", [y, g]), true);
/** tanh x */
export const tanh: Unary = unary("tanh", (_x, y, g) => mapRaw("tanhGrad", [y, g]), true);
/** GELU with the exact erf form (PyTorch's default). */
export const gelu: Unary = unary("gelu", (x, _y, g) => mapRaw("geluGrad", [x, g]));

/** LeakyReLU with negative slope `slope`. */
export function leakyRelu<S extends Shape, D extends DType = "float32">(
  x: Tensor<S, D>,
  slope = 0.01,
): Tensor<S, D> {
  checkFloat("leakyRelu", x);
  const y = mapRaw("leakyRelu", [x], "float32", [slope, 0]);
  return record(
    y,
    "leakyRelu",
    [x],
    [x],
    (g, [sx]) => [mapRaw("leakyReluGrad", [sx, g], "float32", [slope, 0])],
  ) as Tensor<S, D>;
}

/** Clamps into [lo, hi] (gradient passes inside the range). */
export function clamp<S extends Shape, D extends DType = "float32">(
  x: Tensor<S, D>,
  lo: number,
  hi: number,
): Tensor<S, D> {
  checkFloat("clamp", x);
  if (lo > hi) throw new Error(`clamp: lo ${lo} > hi ${hi}`);
  const y = mapRaw("clamp", [x], "float32", [lo, hi]);
  return record(
    y,
    "clamp",
    [x],
    [x],
    (g, [sx]) => [mapRaw("clampGrad", [sx, g], "float32", [lo, hi])],
  ) as Tensor<S, D>;
}

/** x·scale + shift, one kernel. */
export function affine<S extends Shape, D extends DType = "float32">(
  x: Tensor<S, D>,
  scale: number,
  shift = 0,
): Tensor<S, D> {
  checkFloat("affine", x);
  const y = mapRaw("affine", [x], "float32", [scale, shift]);
  return record(y, "affine", [x], [], (g) => [mapRaw("affine", [g], "float32", [scale, 0])]) as Tensor<S, D>;
}

/** x^p for a scalar exponent. */
export function powScalar<S extends Shape, D extends DType = "float32">(
  x: Tensor<S, D>,
  p: number,
): Tensor<S, D> {
  checkFloat("pow", x);
  const y = mapRaw("powScalar", [x], "float32", [p, 0]);
  return record(y, "pow", [x], [x], (g, [sx]) => {
    const d = mapRaw("powScalar", [sx], "float32", [p - 1, 0]);
    return [mapRaw("mul", [g, mapRaw("affine", [d], "float32", [p, 0])])];
  }) as Tensor<S, D>;
}

// ---------------------------------------------------------------- binary

/** `unknown` for an erased shape (`number[]`, `readonly number[]`), a ShapeError for a literal tuple. */
export type Erased<S extends Shape> = number extends S["length"] ? unknown
  : ShapeError<"literal shape: use the shape-checked signature">;

/**
 * A broadcasting binary op. Erased shapes (`Tensor`, `Tensor<number[]>`) take the first signature and give an
 * erased result, checked when the op runs; literal shapes are checked and the result shape computed at
 * compile time; two tensors of one generic shape `S` (shape-generic code, where a broadcast cannot be
 * evaluated) give `Tensor<S>`.
 */
export interface Binary {
  <A extends Shape, B extends Shape>(a: Tensor<A> & Erased<A>, b: Tensor<B> & Erased<B>): Tensor<number[]>;
  <A extends Shape, B extends Shape>(a: Tensor<A>, b: Tensor<B> & CheckBroadcast<A, B>): Tensor<
    AsShape<Broadcast<A, B>>
  >;
  <S extends Shape>(a: Tensor<S>, b: Tensor<S>): Tensor<S>;
}

function binary(
  op: MapOp,
  grad: (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => [Tensor | null, Tensor | null],
  savesOutput = false,
): Binary {
  return ((a: Tensor, b: Tensor) => {
    checkFloat(op, a, b);
    const y = mapRaw(op, [a, b]);
    return record(y, op, [a, b], savesOutput ? [a, b, y] : [a, b], (g, [sa, sb, sy]) => {
      const [ga, gb] = grad(sa, sb, sy, g);
      return [ga && sumToShape(ga, sa.shape), gb && sumToShape(gb, sb.shape)];
    });
  }) as unknown as Binary;
}

/** a + b (broadcasting) */
export const add: Binary = binary("add", (_a, _b, _y, g) => [mapRaw("copy", [g]), mapRaw("copy", [g])]);
/** a − b */
export const sub: Binary = binary("sub", (_a, _b, _y, g) => [mapRaw("copy", [g]), mapRaw("neg", [g])]);
/** a · b */
export const mul: Binary = binary("mul", (a, b, _y, g) => [mapRaw("mul", [g, b]), mapRaw("mul", [g, a])]);
/** a / b */
export const div: Binary = binary("div", (_a, b, y, g) => {
  const ga = mapRaw("div", [g, b]);
  return [ga, mapRaw("neg", [mapRaw("mul", [ga, y])])];
}, true);
/** a^b elementwise */
export const pow: Binary = binary("pow", (a, b, y, g) => {
  const bm1 = mapRaw("affine", [b], "float32", [1, -1]);
  const p = mapRaw("pow", [a, bm1]);
  const t = mapRaw("mul", [p, b]);
  const ga = mapRaw("mul", [g, t]);
  const la = mapRaw("log", [a]);
  const t2 = mapRaw("mul", [y, la]);
  const gb = mapRaw("mul", [g, t2]);
  return [ga, gb];
}, true);
/** elementwise max (ties split the gradient evenly, as PyTorch) */
export const maximum: Binary = binary("maximum", (a, b, _y, g) => tieSplit(a, b, g, "gt"));
/** elementwise min */
export const minimum: Binary = binary("minimum", (a, b, _y, g) => tieSplit(a, b, g, "lt"));

function tieSplit(a: Tensor, b: Tensor, g: Tensor, cmp: "gt" | "lt"): [Tensor, Tensor] {
  const win = mapRaw(cmp, [a, b]);
  const tie = mapRaw("eq", [a, b]);
  const half = mapRaw("affine", [tie], "float32", [0.5, 0]);
  const wa = mapRaw("add", [win, half]);
  const ga = mapRaw("mul", [g, wa]);
  const gb = mapRaw("sub", [g, ga]);
  return [ga, gb];
}

/** A comparison op: 1 where the relation holds, else 0 (float32, no gradient). */
export type Comparison = <A extends Shape, B extends Shape>(
  a: Tensor<A>,
  b: Tensor<B> & CheckBroadcast<A, B>,
) => Tensor<AsShape<Broadcast<A, B>>>;

function comparison(op: MapOp): Comparison {
  return <A extends Shape, B extends Shape>(
    a: Tensor<A>,
    b: Tensor<B> & CheckBroadcast<A, B>,
  ): Tensor<AsShape<Broadcast<A, B>>> => {
    checkFloat(op, a, b);
    return mapRaw(op, [a, b], "float32") as Tensor<AsShape<Broadcast<A, B>>>;
  };
}

/** 1 where a == b else 0 (no gradient). */
export const eq: Comparison = comparison("eq");
/** 1 where a != b else 0. */
export const ne: Comparison = comparison("ne");
/** 1 where a < b else 0. */
export const lt: Comparison = comparison("lt");
/** 1 where a <= b else 0. */
export const le: Comparison = comparison("le");
/** 1 where a > b else 0. */
export const gt: Comparison = comparison("gt");
/** 1 where a >= b else 0. */
export const ge: Comparison = comparison("ge");

/** cond ≠ 0 ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkFloat("where", a, b);
  if (cond.dtype !== "float32") throw new Error(`where: condition must be float32 (0/1), got ${cond.dtype}`);
  const y = mapRaw("where", [cond, a, b]);
  return record(y, "where", [cond, a, b], [cond, a, b], (g, [c, sa, sb]) => {
    const z = mapRaw("affine", [g], "float32", [0, 0]);
    const ga = mapRaw("where", [c, g, z]);
    const gb = mapRaw("where", [c, z, g]);
    return [null, sumToShape(ga, sa.shape), sumToShape(gb, sb.shape)];
  });
}

/** Converts to another dtype (float32 ↔ int32 ↔ float16); gradient flows for float ↔ float casts. */
export function cast<S extends Shape, D extends DType>(x: Tensor<S>, dtype: D): Tensor<S, D> {
  // A same-dtype cast is a copy that keeps the gradient path (it used to cut it silently).
  const y = x.dtype === dtype ? mapRaw("copy", [x]) : mapRaw("cast", [x], dtype);
  const differentiable = x.dtype !== "int32" && dtype !== "int32";
  return (differentiable
    ? record(y, "cast", [x], [x], (g, [sx]) => [mapRaw("cast", [g], sx.dtype)])
    : y) as Tensor<S, D>;
}

setAutogradOps((a, b) => mapRaw("add", [a, b]), (t) => onesLike(t));
