/**
 * Output shapes of sliding-window ops (conv3d, convTranspose3d, pooling) as types. When the input shape,
 * kernel, stride and padding are all literals, the output dims are computed at compile time; anything else
 * (a `number` dim, per-axis padding objects, dilation, ceil mode) gives an erased `Shape`, and the op checks
 * at run time as always. The arithmetic counts tuple lengths, so it is meant for image-sized dims (< 1000).
 */
import type { Shape, ShapeError } from "./shape.ts";

type Tuple<N extends number, R extends 0[] = []> = R["length"] extends N ? R : Tuple<N, [...R, 0]>;
type Add<A extends number, B extends number> = [...Tuple<A>, ...Tuple<B>]["length"] & number;
/** A − B, or never when negative. */
type Sub<A extends number, B extends number> = Tuple<A> extends [...Tuple<B>, ...infer R] ? R["length"]
  : never;
type Repeat<T extends 0[], B extends number, R extends 0[] = [], I extends 0[] = []> = I["length"] extends B
  ? R
  : Repeat<T, B, [...R, ...T], [...I, 0]>;
type Mul<A extends number, B extends number> = Repeat<Tuple<A>, B> extends infer R extends 0[] ? R["length"]
  : never;
/** ⌊A / B⌋ for B ≥ 1. */
type FloorDiv<A extends number, B extends number, Q extends 0[] = []> = B extends 1 ? A
  : Tuple<A> extends [...Tuple<B>, ...infer R] ? FloorDiv<R["length"], B, [...Q, 0]>
  : Q["length"];

/** True when every one of the numbers is a literal. */
type AllLiteral<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R]
  ? number extends H ? false : H extends number ? AllLiteral<R> : false
  : true;

/** The value of a per-axis option at axis I: a literal number for every axis, or a literal tuple. */
type AxisValue<V, I extends number, Default extends number> = V extends undefined ? Default
  : V extends number ? V
  : V extends readonly number[] ? (number extends V["length"] ? number : V[I])
  : number;

/** ⌊(D + 2P − K) / S⌋ + 1, or a ShapeError when the window does not fit. */
export type WindowDim<D, K, S, P> = AllLiteral<[D, K, S, P]> extends true
  ? S extends 0 ? ShapeError<"stride must be at least 1">
  : Sub<Add<D & number, Add<P & number, P & number>>, K & number> extends infer X extends number
    ? [X] extends [never]
      ? ShapeError<`window ${K & number} is larger than input ${D & number} padded by ${P & number}`>
    : Add<FloorDiv<X, S & number>, 1>
  : never
  : number;

/** (D − 1)·S − 2P + K + O: the output dim of a transposed convolution. */
export type TransposedDim<D, K, S, P, O> = AllLiteral<[D, K, S, P, O]> extends true ? Sub<
    Add<Add<Mul<Sub<D & number, 1> & number, S & number>, K & number>, O & number>,
    Add<P & number, P & number>
  >
  : number;

/** `Shape` unless every dim is a literal number (then the tuple itself). */
type Settle<T extends readonly unknown[]> = T extends readonly number[] ? T
  : T extends readonly [...unknown[]] ? FirstShapeError<T>
  : Shape;
type FirstShapeError<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R]
  ? H extends ShapeError<string> ? [H] : FirstShapeError<R>
  : Shape;

/** Option K of O, `undefined` when O does not set it. */
type Opt<O, K extends string> = K extends keyof O ? O[K] : undefined;

/** Literal-only view of conv options: no dilation and no explicit before/after padding. */
interface LiteralWindowOptions {
  stride?: unknown;
  padding?: unknown;
  dilation?: unknown;
}

/** Output shape of conv3d(x: X, weight: W, bias, opts: O). */
export type Conv3dShape<X extends Shape, W extends Shape, O extends LiteralWindowOptions> = X extends
  readonly [
    infer B extends number,
    infer Ci extends number,
    infer D extends number,
    infer H extends number,
    infer Wd extends number,
  ]
  ? W extends readonly [infer Co extends number, infer Cw extends number, infer KD, infer KH, infer KW]
    ? AllLiteral<[Ci, Cw]> extends true ? Ci extends Cw ? Opt<O, "dilation"> extends undefined | 1 ? Settle<[
            B,
            Co,
            WindowDim<D, KD, AxisValue<Opt<O, "stride">, 0, 1>, AxisValue<Opt<O, "padding">, 0, 0>>,
            WindowDim<H, KH, AxisValue<Opt<O, "stride">, 1, 1>, AxisValue<Opt<O, "padding">, 1, 0>>,
            WindowDim<Wd, KW, AxisValue<Opt<O, "stride">, 2, 1>, AxisValue<Opt<O, "padding">, 2, 0>>,
          ]>
        : Shape
      : [ShapeError<`conv3d: input has ${Ci} channels, weight expects ${Cw}`>]
    : Shape
  : Shape
  : Shape; // deno-fmt-ignore

/** Output shape of convTranspose3d(x: X, weight: W [Ci, Co, k…], bias, opts: O). */
export type ConvTranspose3dShape<
  X extends Shape,
  W extends Shape,
  O extends LiteralWindowOptions & { outputPadding?: unknown },
> = X extends
  readonly [infer B extends number, infer Ci extends number, infer D extends number, infer H extends number, infer Wd extends number]
  ? W extends readonly [infer Cw extends number, infer Co extends number, infer KD, infer KH, infer KW]
    ? AllLiteral<[Ci, Cw]> extends true
      ? Ci extends Cw ? Opt<O, "dilation"> extends undefined | 1 ? Settle<[
            B,
            Co,
            TransposedDim<D, KD, AxisValue<Opt<O, "stride">, 0, 1>, AxisValue<Opt<O, "padding">, 0, 0>, AxisValue<Opt<O, "outputPadding">, 0, 0>>,
            TransposedDim<H, KH, AxisValue<Opt<O, "stride">, 1, 1>, AxisValue<Opt<O, "padding">, 1, 0>, AxisValue<Opt<O, "outputPadding">, 1, 0>>,
            TransposedDim<Wd, KW, AxisValue<Opt<O, "stride">, 2, 1>, AxisValue<Opt<O, "padding">, 2, 0>, AxisValue<Opt<O, "outputPadding">, 2, 0>>,
          ]>
        : Shape
        : [ShapeError<`convTranspose3d: input has ${Ci} channels, weight expects ${Cw}`>]
      : Shape
    : Shape
  : Shape; // deno-fmt-ignore

/** Output shape of a 3-D pooling of X with kernel K, stride S (default K) and options O (no ceil mode). */
export type Pool3dShape<X extends Shape, K, S, O extends { padding?: unknown; ceilMode?: boolean }> = X extends
  readonly [infer B extends number, infer C extends number, infer D extends number, infer H extends number, infer Wd extends number]
  ? Opt<O, "ceilMode"> extends undefined | false ? Settle<[
      B,
      C,
      WindowDim<D, AxisValue<K, 0, 1>, AxisValue<S extends undefined ? K : S, 0, 1>, AxisValue<Opt<O, "padding">, 0, 0>>,
      WindowDim<H, AxisValue<K, 1, 1>, AxisValue<S extends undefined ? K : S, 1, 1>, AxisValue<Opt<O, "padding">, 1, 0>>,
      WindowDim<Wd, AxisValue<K, 2, 1>, AxisValue<S extends undefined ? K : S, 2, 1>, AxisValue<Opt<O, "padding">, 2, 0>>,
    ]>
    : Shape
  : Shape; // deno-fmt-ignore

/** Fails to type-check (with the message) when a literal conv3d's channels or window do not fit. */
export type CheckWindow<R> = R extends readonly [ShapeError<string>] ? R[0] : unknown;
