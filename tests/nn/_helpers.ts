/** Shared helpers of the nn tests: device init, fixture tensors on the device, relative-error asserts. */
import assert from "node:assert/strict";
import { init, type Tensor, tensor } from "../../tensor/mod.ts";
import { type FixtureCase, relError } from "../fixtures.ts";

/** Creates the device once (every test file awaits this first). */
export async function setup(): Promise<void> {
  await init();
}

/** Uploads fixture tensor `name` to the device. */
export function fixtureTensor(fx: FixtureCase, name: string): Tensor {
  const { data, shape } = fx.tensor(name);
  return tensor(data, shape as number[], data instanceof Int32Array ? "int32" : "float32");
}

/** Reads `t` back and asserts max|a−b|/max|b| ≤ tol; returns the relative error. */
export async function assertRel(
  t: Tensor | Float32Array,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): Promise<number> {
  const data = t instanceof Float32Array ? t : (await t.data()) as Float32Array;
  assert.equal(data.length, expected.length, `${what}: ${data.length} values, expected ${expected.length}`);
  const e = relError(data, expected);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(3)} > ${tol}`);
  return e;
}

/** Deterministic uniform values in [lo, hi). */
export function randomArray(n: number, seed = 1, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

/** max |v|. */
export function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/**
 * Mathematically-zero gradients. Some parameters cannot move the loss: a key bias (softmax ignores a per-query
 * constant), a conv bias feeding a GroupNorm with one channel per group (the mean subtraction removes it, e.g. the
 * last decoder ResBlock before the output norm). Their gradients hold only float32 cancellation residue on both
 * sides, so a relative error between them is noise.
 * Rule: a reference gradient is zero when its max |g| ≤ ZERO_GRAD_REL × the largest |g| of all reference gradients
 * of the same model (`gradientScale`); ours must then be within 10× that bound. Measured on both fixture sets: the
 * residue reaches 1.7e-6 of the scale (it grows with the number of summed positions), the smallest real gradient
 * is 1.5e-4 of it, so 1e-5 (and 1e-4 for ours) separates the two.
 */
export const ZERO_GRAD_REL = 1e-5;

/** The largest |g| over a model's reference gradients: the scale `assertGradient` measures "zero" against. */
export function gradientScale(grads: Iterable<ArrayLike<number>>): number {
  let m = 0;
  for (const g of grads) m = Math.max(m, maxAbs(g));
  return m;
}

/**
 * Asserts our gradient matches the reference: relative error ≤ tol, or, when the reference is zero by the rule
 * above, ours is too. Returns the relative error (0 for a zero gradient) and whether it was zero.
 */
export async function assertGradient(
  got: Tensor | Float32Array,
  expected: ArrayLike<number>,
  scale: number,
  tol: number,
  what: string,
): Promise<{ error: number; zero: boolean }> {
  const refMax = maxAbs(expected);
  if (refMax > ZERO_GRAD_REL * scale) {
    return { error: await assertRel(got, expected, tol, what), zero: false };
  }
  const data = got instanceof Float32Array ? got : (await got.data()) as Float32Array;
  assert.equal(data.length, expected.length, `${what}: ${data.length} values, expected ${expected.length}`);
  const ours = maxAbs(data);
  assert.ok(
    ours <= 10 * ZERO_GRAD_REL * scale,
    `${what}: the reference gradient is zero (max ${refMax.toExponential(2)} ≤ ${ZERO_GRAD_REL}·${
      scale.toExponential(2)
    }) but ours reaches ${ours.toExponential(2)}`,
  );
  return { error: 0, zero: true };
}
