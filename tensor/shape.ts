/**
 * Shapes as types. A `Shape` is a readonly tuple of dims; literal dims are checked at compile time,
 * `number` dims (or `number[]` shapes) fall back to the run-time checks every op also does.
 */

/** A tensor shape: a readonly tuple of non-negative integer dims. */
export type Shape = readonly number[];

/** T when it is a valid shape, else `number[]` (the error is reported on the argument instead). */
export type AsShape<T> = T extends Shape ? T : number[];

/** A compile-time shape error: shows up in the editor as a readable message. */
export interface ShapeError<Msg extends string> {
  /** The message shown by the type checker. */
  readonly __shapeError: Msg;
}

/** True when every element of S is a number (no ShapeError left inside). */
export type IsValidShape<S> = S extends readonly number[] ? true : false;

/** Passes `T` through when `S` is a valid shape, else the ShapeError so the argument fails to type-check. */
export type RequireValid<S, T> = IsValidShape<S> extends true ? T
  : S extends readonly unknown[] ? FirstError<S>
  : S;

type FirstError<S extends readonly unknown[]> = S extends readonly [infer H, ...infer R]
  ? H extends ShapeError<string> ? H : FirstError<R>
  : ShapeError<"invalid shape">;

type BroadcastDim<A extends number, B extends number> = number extends A ? number
  : number extends B ? number
  : A extends 1 ? B
  : B extends 1 ? A
  : A extends B ? A
  : ShapeError<`cannot broadcast dim ${A} with ${B}`>;

/** Broadcast of two shapes (NumPy rules, aligned from the right). */
export type Broadcast<A extends Shape, B extends Shape> = number extends A["length"] ? number[]
  : number extends B["length"] ? number[]
  : A extends readonly [] ? B
  : B extends readonly [] ? A
  : A extends readonly [...infer AI extends number[], infer AL extends number]
    ? B extends readonly [...infer BI extends number[], infer BL extends number]
      ? [...Broadcast<AI, BI>, BroadcastDim<AL, BL>]
    : never
  : never;

/** Shape of a (batched) matmul: [..., M, K] @ [..., K, N] → [..., M, N]. */
export type MatmulShape<A extends Shape, B extends Shape> = number extends A["length"] ? number[]
  : number extends B["length"] ? number[]
  : A extends readonly [...infer AB extends number[], infer M extends number, infer KA extends number]
    ? B extends readonly [...infer BB extends number[], infer KB extends number, infer N extends number]
      ? number extends KA ? [...Broadcast<AB, BB>, M, N]
      : number extends KB ? [...Broadcast<AB, BB>, M, N]
      : KA extends KB ? [...Broadcast<AB, BB>, M, N]
      : [ShapeError<`matmul inner dims differ: ${KA} vs ${KB}`>]
    : [ShapeError<"matmul needs rank >= 2">]
  : [ShapeError<"matmul needs rank >= 2">];

/** Shape after permuting S by P. */
export type PermuteShape<S extends Shape, P extends readonly number[]> = number extends S["length"] ? number[]
  : P["length"] extends S["length"] ? { -readonly [K in keyof P]: P[K] extends number ? S[P[K]] : never }
  : [ShapeError<`permute: ${P["length"]} axes given for a rank-${S["length"]} tensor`>];

type Contains<Axes extends readonly number[], I> = I extends `${infer N extends number}`
  ? N extends Axes[number] ? true
  : false
  : false;

type DropAxes<S extends readonly number[], Axes extends readonly number[], I extends unknown[] = []> =
  S extends readonly [infer H, ...infer R extends number[]]
    ? Contains<Axes, `${I["length"]}`> extends true ? DropAxes<R, Axes, [...I, 0]>
    : [H, ...DropAxes<R, Axes, [...I, 0]>]
    : [];

/** Shape of a reduction of S over Axes (non-negative literal axes), with or without kept dims. */
export type ReduceShape<S extends Shape, Axes extends readonly number[], KeepDim extends boolean> =
  number extends S["length"] ? number[]
    : number extends Axes[number] ? number[]
    : KeepDim extends true ? { -readonly [K in keyof S]: Contains<Axes, K> extends true ? 1 : S[K] }
    : DropAxes<S, Axes>;

// ---------------------------------------------------------------- run-time helpers

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Run-time broadcast of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes [${a}] and [${b}] cannot be broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides for reading a tensor of `shape` as if broadcast to `outShape` (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

/** Normalises a possibly negative axis; throws naming the op when out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  }
  return a;
}

/** Validates a shape: non-negative integers; zero-size dims are rejected (no op supports empty tensors). */
export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: invalid shape [${shape}] (dims must be integers >= 0)`);
    }
    if (d === 0) throw new Error(`${op}: zero-size dims are not supported (shape [${shape}])`);
  }
}

/** Shapes equal elementwise. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Merges adjacent dims that every operand traverses contiguously, so most broadcasts fit in 6 dims. */
export function collapseDims(shape: number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 &&
      strides.every((s, k) => outStrides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}
