/** Softmax and log-softmax along one axis, composed from primitives (max-shifted for stability). */
import { noGrad } from "../autograd.ts";
import type { Shape } from "../shape.ts";
import { scope, type Tensor } from "../tensor.ts";
import { exp, log, sub } from "./elementwise.ts";
import { max, sum } from "./reduce.ts";
import { div } from "./elementwise.ts";

function shifted(x: Tensor, axis: number): Tensor {
  const m = noGrad(() => max(x, axis, true)); // the shift does not change the result: no gradient needed
  return sub(x, m);
}

/** exp(x) / Σ exp(x) along `axis`. */
export function softmax<S extends Shape>(x: Tensor<S>, axis = -1): Tensor<S> {
  return scope((): Tensor => {
    const e = exp(shifted(x, axis));
    return div(e, sum(e, axis, true));
  }) as Tensor<S>;
}

/** x − log Σ exp(x) along `axis`. */
export function logSoftmax<S extends Shape>(x: Tensor<S>, axis = -1): Tensor<S> {
  return scope((): Tensor => {
    const d = shifted(x, axis);
    return sub(d, log(sum(exp(d), axis, true)));
  }) as Tensor<S>;
}
