/**
 * Random tensors from the counter-based GPU generator. A draw is addressed by
 * (seed, stream name, step, global sample index, element): dim 0 of the shape is the sample (batch) axis,
 * and `sampleOffset` is the global index of this tensor's first sample, so a batch split across processes
 * draws exactly what one process would.
 */
import { backend } from "../backend/mod.ts";
import { checkShape, type Shape, sizeOf } from "../shape.ts";
import { empty, type Tensor } from "../tensor.ts";
import { philox4x32, streamId, toUnit } from "../philox.ts";
import type { RandomKind } from "../backend/random.ts";
import { tensor } from "./create.ts";

/** Addresses a random draw. */
export interface RandomOptions {
  /** The experiment's seed. */
  seed: number;
  /** Stream name, e.g. "vae/eps" or "diffusion/timesteps". */
  stream: string;
  /** Training step (or any counter that changes between draws of the same stream). */
  step?: number;
  /** Global index of the first sample (dim 0) of this tensor. */
  sampleOffset?: number;
}

function draw<S extends Shape>(
  kind: RandomKind,
  shape: S,
  o: RandomOptions,
  a: number,
  b: number,
): Tensor<S, "float32" | "int32"> {
  checkShape(kind, shape);
  const out = empty(shape, kind === "randint" ? "int32" : "float32");
  const n = sizeOf(shape);
  const perSample = shape.length > 0 ? n / shape[0] : 1;
  backend().random({
    kind,
    out: out.buffer(),
    n,
    perSample,
    key: { seed: o.seed, stream: streamId(o.stream), step: o.step ?? 0, sampleOffset: o.sampleOffset ?? 0 },
    a,
    b,
  });
  return out;
}

/** Uniform draws in (low, high). */
export function rand<const S extends Shape>(shape: S, o: RandomOptions, low = 0, high = 1): Tensor<S> {
  return draw("uniform", shape, o, low, high) as Tensor<S>;
}

/** Normal draws N(mean, std²) (Box–Muller). */
export function randn<const S extends Shape>(shape: S, o: RandomOptions, mean = 0, std = 1): Tensor<S> {
  return draw("normal", shape, o, mean, std) as Tensor<S>;
}

/** Integers uniformly in [low, high) as int32. */
export function randint<const S extends Shape>(
  shape: S,
  o: RandomOptions,
  low: number,
  high: number,
): Tensor<S, "int32"> {
  if (!(high > low)) throw new Error(`randint: empty range [${low}, ${high})`);
  return draw("randint", shape, o, low, high) as Tensor<S, "int32">;
}

/** Host-side permutation of 0..n-1 keyed like every other draw (sort of Philox keys). */
export function permutationHost(n: number, o: RandomOptions): Int32Array {
  const key: [number, number] = [o.seed >>> 0, streamId(o.stream)];
  const keys = Array.from(
    { length: n },
    (_, i) => toUnit(philox4x32([i, o.sampleOffset ?? 0, o.step ?? 0, 0], key)[0]),
  );
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
  return Int32Array.from(idx);
}

/** A random permutation of 0..n-1 as an int32 tensor. */
export function randperm(n: number, o: RandomOptions): Tensor<[number], "int32"> {
  return tensor(permutationHost(n, o), [n], "int32");
}
