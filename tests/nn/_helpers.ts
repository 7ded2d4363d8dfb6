/** Shared helpers of the nn tests: device init, fixture tensors on the device, relative-error asserts. */
import assert from "node:assert/strict";
import { init, type Tensor, tensor } from "../../tensor/mod.ts";
import { type FixtureCase, relError } from "../fixtures.ts";
import { checkGradient } from "../gradients.ts";

export { gradientScale, maxAbs, ZERO_GRAD_REL } from "../gradients.ts";

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

/**
 * Asserts our gradient matches the reference: relative error ≤ tol, or, when the reference is mathematically zero
 * (see ../gradients.ts), ours is too. Returns the relative error (0 for a zero gradient) and whether it was zero.
 */
export async function assertGradient(
  got: Tensor | Float32Array,
  expected: ArrayLike<number>,
  scale: number,
  tol: number,
  what: string,
): Promise<{ error: number; zero: boolean }> {
  const data = got instanceof Float32Array ? got : (await got.data()) as Float32Array;
  return checkGradient(data, expected, scale, tol, what);
}
