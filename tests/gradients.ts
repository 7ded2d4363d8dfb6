/** Gradient comparison shared by the parity tests, including the rule for mathematically-zero gradients. */
import assert from "node:assert/strict";
import { relError } from "./fixtures.ts";

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
 * Checks our gradient against the reference: relative error ≤ tol, or, when the reference is zero by the rule
 * above, ours is too. Returns the relative error (0 for a zero gradient) and whether it was zero.
 */
export function checkGradient(
  got: ArrayLike<number>,
  expected: ArrayLike<number>,
  scale: number,
  tol: number,
  what: string,
): { error: number; zero: boolean } {
  assert.equal(got.length, expected.length, `${what}: ${got.length} values, expected ${expected.length}`);
  const refMax = maxAbs(expected);
  if (refMax > ZERO_GRAD_REL * scale) {
    const error = relError(got, expected);
    assert.ok(error <= tol, `${what}: relative error ${error.toExponential(3)} > ${tol}`);
    return { error, zero: false };
  }
  const ours = maxAbs(got);
  assert.ok(
    ours <= 10 * ZERO_GRAD_REL * scale,
    `${what}: the reference gradient is zero (max ${refMax.toExponential(2)} ≤ ${ZERO_GRAD_REL}·${
      scale.toExponential(2)
    }) but ours reaches ${ours.toExponential(2)}`,
  );
  return { error: 0, zero: true };
}
