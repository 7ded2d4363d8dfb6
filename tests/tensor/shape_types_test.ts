/**
 * Compile-time shape checks. `deno test` type-checks this file: every `@ts-expect-error` line must be a
 * type error and every other line must type-check, or the whole run fails. The test bodies only build
 * descriptors; nothing here needs the GPU.
 */
import assert from "node:assert/strict";
import type { Broadcast, MatmulShape, PermuteShape, ReduceShape, Tensor } from "../../tensor/mod.ts";
import type * as T from "../../tensor/mod.ts";

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
const expectType = <_ extends true>() => {};

// Shape arithmetic on literals.
expectType<Equal<Broadcast<[2, 3], [3]>, [2, 3]>>();
expectType<Equal<Broadcast<[4, 1, 5], [3, 1]>, [4, 3, 5]>>();
expectType<Equal<MatmulShape<[2, 3, 4], [4, 5]>, [2, 3, 5]>>();
expectType<Equal<PermuteShape<[2, 3, 4], [2, 0, 1]>, [4, 2, 3]>>();
expectType<Equal<ReduceShape<[2, 3, 4], [1], true>, [2, 1, 4]>>();
expectType<Equal<ReduceShape<[2, 3, 4], [0, 2], false>, [3]>>();
// `number` dims fall back to run-time checks.
expectType<Equal<Broadcast<number[], [3]>, number[]>>();

// The ops' signatures: these functions are never called, only type-checked.
function _typedOps(
  ops: typeof T,
  a: Tensor<[2, 3]>,
  b: Tensor<[3]>,
  c: Tensor<[3, 4]>,
  d: Tensor<[4]>,
  n: Tensor<number[]>,
) {
  const s: Tensor<[2, 3]> = ops.add(a, b);
  const m: Tensor<[2, 4]> = ops.matmul(a, c);
  const p: Tensor<[3, 2]> = ops.permute(a, [1, 0]);
  const r: Tensor<[2, 1]> = ops.sum(a, [1], true);
  ops.add(n, b); // unknown dims: accepted, checked at run time
  // @ts-expect-error a wrong broadcast: [2,3] with [4]
  ops.add(a, d);
  // @ts-expect-error a wrong matmul inner dim: [2,3]·[4]... needs 3 rows
  ops.matmul(a, ops.reshape(c, [4, 3] as const));
  // @ts-expect-error a wrong permute rank: 3 axes for a rank-2 tensor
  ops.permute(a, [0, 1, 2]);
  // @ts-expect-error result shape is [2,3], not [3,2]
  const wrong: Tensor<[3, 2]> = ops.add(a, b);
  return [s, m, p, r, wrong];
}

// Elementwise ops on erased shapes (model code) and on one generic shape (shape-generic helpers): no casts.
function _erasedOps(ops: typeof T, x: Tensor, y: Tensor<number[]>, z: Tensor<readonly number[]>) {
  const e1: Tensor = ops.add(x, ops.mul(y, z));
  const e2: Tensor<number[]> = ops.sub(y, ops.div(x, z));
  return [e1, e2];
}
function _genericOps<S extends T.Shape>(ops: typeof T, x: Tensor<S>): Tensor<S> {
  const twice: Tensor<S> = ops.add(x, x);
  return ops.mul(twice, x);
}
function _literalStillChecked(ops: typeof T, a: Tensor<[2, 3]>, d: Tensor<[4]>, n: Tensor) {
  // @ts-expect-error the erased signature does not swallow a wrong literal broadcast
  ops.mul(a, d);
  // @ts-expect-error a literal result stays literal even next to an erased operand's signature
  const wrong: Tensor<[9]> = ops.sub(a, a);
  return [wrong, ops.add(n, a)];
}

// Sliding-window ops: literal input shape, kernel, stride and padding give a literal output shape.
function _windowOps(
  ops: typeof T,
  x: Tensor<[1, 1, 32, 32, 32]>,
  w1: Tensor<[8, 1, 3, 3, 3]>,
  w2: Tensor<[16, 8, 4, 4, 4]>,
  up: Tensor<[16, 4, 4, 4, 4]>,
  erased: Tensor,
) {
  const h = ops.conv3d(x, w1, null, { padding: 1 });
  expectType<Equal<typeof h, Tensor<[1, 8, 32, 32, 32]>>>();
  const valid = ops.conv3d(x, w1);
  expectType<Equal<typeof valid, Tensor<[1, 8, 30, 30, 30]>>>();
  const down = ops.conv3d(h, w2, null, { stride: 2, padding: 1 });
  expectType<Equal<typeof down, Tensor<[1, 16, 16, 16, 16]>>>();
  const back = ops.convTranspose3d(down, up, null, { stride: 2, padding: 1 });
  expectType<Equal<typeof back, Tensor<[1, 4, 32, 32, 32]>>>();
  const pooled = ops.maxPool3d(h, 2);
  expectType<Equal<typeof pooled, Tensor<[1, 8, 16, 16, 16]>>>();
  const avg = ops.avgPool3d(h, 3, 2, { padding: 1 });
  expectType<Equal<typeof avg, Tensor<[1, 8, 16, 16, 16]>>>();
  // Erased shapes or non-literal options: an erased result, checked at run time.
  const e: Tensor = ops.conv3d(erased, erased, null, { padding: 1 });
  const ceil: Tensor = ops.maxPool3d(h, 2, 2, { ceilMode: true });
  // @ts-expect-error a wrong conv chain: w2 expects 8 input channels, `down` has 16
  ops.conv3d(down, w2);
  const tiny = ops.maxPool3d(ops.maxPool3d(ops.conv3d(x, w1, null, { stride: 4 }), 2), 2); // [1, 8, 2, 2, 2]
  // @ts-expect-error a wrong conv chain: a 3³ window does not fit the 2³ result of two poolings
  ops.conv3d(tiny, ops.zeros([8, 8, 3, 3, 3]));
  // @ts-expect-error stride 0
  ops.conv3d(x, w1, null, { stride: 0 });
  // @ts-expect-error the transposed conv's output is [1, 4, 32, 32, 32], not 64³
  const wrong: Tensor<[1, 4, 64, 64, 64]> = ops.convTranspose3d(down, up, null, { stride: 2, padding: 1 });
  return [h, valid, down, back, pooled, avg, e, ceil, tiny, wrong];
}

function _normAndAttention(
  ops: typeof T,
  q: Tensor<[2, 4, 16, 8]>,
  v: Tensor<[2, 4, 16, 32]>,
  erased: Tensor,
) {
  const n = ops.groupNorm(q, 2);
  expectType<Equal<typeof n, Tensor<[2, 4, 16, 8]>>>();
  const i = ops.instanceNorm(v);
  expectType<Equal<typeof i, Tensor<[2, 4, 16, 32]>>>();
  const a = ops.attention(q, q, v, 0.5);
  expectType<Equal<typeof a, Tensor<[2, 4, 16, 32]>>>();
  const e: Tensor = ops.attention(erased, erased, erased, 0.5);
  // @ts-expect-error attention's output takes v's last dim (32), not q's (8)
  const wrong: Tensor<[2, 4, 16, 8]> = ops.attention(q, q, v, 0.5);
  return [n, i, a, e, wrong];
}

Deno.test("shape types: the file type-checks with its expected errors", () => {
  for (const f of [_typedOps, _erasedOps, _genericOps, _literalStillChecked, _windowOps, _normAndAttention]) {
    assert.equal(typeof f, "function");
  }
});
