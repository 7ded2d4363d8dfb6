/** Movement ops: reshape, permute, transpose, slice, concat, pad, expand, index-select. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import {
  type AsShape,
  normAxis,
  type PermuteShape,
  type Shape,
  type ShapeError,
  sizeOf,
  stridesOf,
} from "../shape.ts";
import { empty, Tensor } from "../tensor.ts";
import { tensor } from "./create.ts";
import { sumToShape } from "./elementwise.ts";

/** Same data, new shape (one dim may be -1). Shares storage; no copy. */
export function reshape<const S2 extends Shape>(x: Tensor, shape: S2): Tensor<S2> {
  const known = shape.filter((d) => d !== -1);
  const infer = shape.length - known.length;
  if (infer > 1) throw new Error(`reshape: more than one -1 in [${shape}]`);
  const knownSize = sizeOf(known);
  const resolved = shape.map((d) => (d === -1 ? x.size / knownSize : d));
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`reshape: cannot view [${x.shape}] (${x.size} elements) as [${shape}]`);
  }
  x.buffer("reshape");
  const y = new Tensor(resolved as unknown as S2, x.dtype, x.storage.retain());
  return record(y, "reshape", [x], [], (g) => [reshape(g, x.shape)]);
}

/** Fails to type-check when the permutation has the wrong length. */
export type CheckPermute<S extends Shape, P extends readonly number[]> = number extends S["length"] ? unknown
  : P["length"] extends S["length"] ? unknown
  : ShapeError<"permute: wrong number of axes">;

/** Reorders dims: out.shape[i] = x.shape[perm[i]]. */
export function permute<S extends Shape, const P extends readonly number[]>(
  x: Tensor<S>,
  perm: P & CheckPermute<S, P>,
): Tensor<AsShape<PermuteShape<S, P>>> {
  const p = perm as readonly number[];
  if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new Error(`permute: [${p}] is not a permutation of the ${x.rank} dims of [${x.shape}]`);
  }
  const inStrides = stridesOf(x.shape);
  const shape = p.map((a) => x.shape[a]);
  const y = empty(shape, x.dtype);
  backend().strided(x.dtype, x.buffer("permute"), y.buffer(), shape, p.map((a) => inStrides[a]), 0);
  const inverse = p.map((_, i) => p.indexOf(i));
  return record(y, "permute", [x], [], (g) => [permute(g, inverse)]) as unknown as Tensor<
    AsShape<PermuteShape<S, P>>
  >;
}

/** Swaps two dims. */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const perm = [...Array(x.rank).keys()];
  const i = normAxis("transpose", a, x.rank), j = normAxis("transpose", b, x.rank);
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** x[start:end] along each axis (step 1); `end` defaults to the dim, negative values count from the end. */
export function slice(x: Tensor, starts: number[], ends?: number[]): Tensor {
  if (starts.length > x.rank) throw new Error(`slice: ${starts.length} starts for rank ${x.rank}`);
  const st = x.shape.map((d, i) => {
    const s = starts[i] ?? 0;
    return s < 0 ? s + d : s;
  });
  const en = x.shape.map((d, i) => {
    const e = ends?.[i] ?? d;
    return e < 0 ? e + d : Math.min(e, d);
  });
  const shape = st.map((s, i) => en[i] - s);
  if (shape.some((d, i) => d <= 0 || st[i] < 0)) {
    throw new Error(`slice: [${starts}]:[${ends ?? ""}] selects nothing valid from [${x.shape}]`);
  }
  const strides = stridesOf(x.shape);
  const offset = st.reduce((acc, s, i) => acc + s * strides[i], 0);
  const y = empty(shape, x.dtype);
  backend().strided(x.dtype, x.buffer("slice"), y.buffer(), shape, strides, offset);
  return record(y, "slice", [x], [], (g) => [pad(g, st, x.shape.map((d, i) => d - en[i]))]);
}

/** Joins tensors along `axis`; all other dims must agree. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("concat: no tensors");
  const a = normAxis("concat", axis, xs[0].rank);
  for (const x of xs) {
    if (x.rank !== xs[0].rank || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new Error(
        `concat: shapes [${xs.map((t) => `[${t.shape}]`).join(", ")}] differ outside axis ${axis}`,
      );
    }
    if (x.dtype !== xs[0].dtype) throw new Error(`concat: dtypes differ (${xs[0].dtype} vs ${x.dtype})`);
  }
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((acc, x) => acc + x.shape[a], 0);
  const y = empty(shape, xs[0].dtype);
  const strides = stridesOf(shape);
  let pos = 0;
  const starts: number[] = [];
  for (const x of xs) {
    starts.push(pos);
    backend().scatterRegion(x.dtype, x.buffer("concat"), y.buffer(), [...x.shape], strides, pos * strides[a]);
    pos += x.shape[a];
  }
  return record(y, "concat", xs, [], (g) =>
    xs.map((x, k) => {
      const s = new Array(x.rank).fill(0);
      s[a] = starts[k];
      const e = [...g.shape];
      e[a] = starts[k] + x.shape[a];
      return slice(g, s, e);
    }));
}

/** Constant padding: `before[i]`/`after[i]` elements on each side of axis i (missing axes: 0). */
export function pad(x: Tensor, before: number[], after: number[], value = 0): Tensor {
  const b = x.shape.map((_, i) => before[i] ?? 0), e = x.shape.map((_, i) => after[i] ?? 0);
  if ([...b, ...e].some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`pad: paddings must be integers >= 0 (got before [${before}], after [${after}])`);
  }
  const shape = x.shape.map((d, i) => d + b[i] + e[i]);
  const y = empty(shape, x.dtype);
  backend().pad(x.dtype, x.buffer("pad"), y.buffer(), [...x.shape], b, e, value);
  return record(y, "pad", [x], [], (g) => [slice(g, b, b.map((v, i) => v + x.shape[i]))]);
}

/** Broadcasts x to `shape` (materialised). */
export function expand<const S extends Shape>(x: Tensor, shape: S): Tensor<S> {
  const off = shape.length - x.rank;
  if (off < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[i + off])) {
    throw new Error(`expand: [${x.shape}] cannot expand to [${shape}]`);
  }
  const own = stridesOf(x.shape);
  const strides = shape.map((_, i) => (i < off || x.shape[i - off] === 1 ? 0 : own[i - off]));
  const y = empty(shape, x.dtype);
  backend().strided(x.dtype, x.buffer("expand"), y.buffer(), [...shape], strides, 0);
  return record(y, "expand", [x], [], (g) => [sumToShape(g, x.shape)]) as Tensor<S>;
}

/** Picks entries `indices` (int32, 1-D) along `axis`. Out-of-range indices are rejected when given on the host. */
export function indexSelect(x: Tensor, axis: number, indices: Tensor | number[]): Tensor {
  const a = normAxis("indexSelect", axis, x.rank);
  const D = x.shape[a];
  if (Array.isArray(indices)) {
    const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= D);
    if (bad !== undefined) {
      throw new Error(`indexSelect: index ${bad} out of range [0, ${D}) on axis ${axis} of [${x.shape}]`);
    }
  } else if (indices.dtype !== "int32" || indices.rank !== 1) {
    throw new Error(
      `indexSelect: indices must be a 1-D int32 tensor, got ${indices.dtype} [${indices.shape}]`,
    );
  }
  // Indices given on the host become a tensor of ours, released on return (the backward keeps its own handle).
  using owned = Array.isArray(indices) ? tensor(indices, [indices.length], "int32") : null;
  const idx = owned ?? (indices as Tensor);
  const outer = sizeOf(x.shape.slice(0, a)), inner = sizeOf(x.shape.slice(a + 1)), J = idx.size;
  const shape = [...x.shape];
  shape[a] = J;
  const y = empty(shape, x.dtype);
  const shared = { outer, D, inner, J };
  backend().indexSelect({
    dtype: x.dtype,
    x: x.buffer("indexSelect"),
    idx: idx.buffer(),
    out: y.buffer(),
    ...shared,
    backward: false,
  });
  const out = record(y, "indexSelect", [x], [idx], (g, [si]) => {
    const gx = empty(x.shape, g.dtype);
    backend().indexSelect({
      dtype: g.dtype,
      x: g.buffer(),
      idx: si.buffer(),
      out: gx.buffer(),
      ...shared,
      backward: true,
    });
    return [gx];
  });
  return out;
}
