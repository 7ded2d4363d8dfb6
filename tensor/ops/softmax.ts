/** Softmax and log-softmax along one axis, composed from primitives (max-shifted for stability). */
import { noGrad } from "../autograd.ts";
import type { Shape } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { exp, log, sub } from "./elementwise.ts";
import { max, sum } from "./reduce.ts";
import { div } from "./elementwise.ts";

function shifted(x: Tensor, axis: number): Tensor {
  const m = noGrad(() => max(x, axis, true)); // the shift does not change the result: no gradient needed
  const d = sub(x, m) as Tensor;
  m.dispose();
  return d;
}

/** exp(x) / Σ exp(x) along `axis`. */
export function softmax<S extends Shape>(x: Tensor<S>, axis = -1): Tensor<S> {
  const d = shifted(x, axis);
  const e = exp(d);
  d.dispose();
  const s = sum(e, axis, true);
  const y = div(e, s) as Tensor;
  e.dispose();
  s.dispose();
  return y as Tensor<S>;
}

/** x − log Σ exp(x) along `axis`. */
export function logSoftmax<S extends Shape>(x: Tensor<S>, axis = -1): Tensor<S> {
  const d = shifted(x, axis);
  const e = exp(d);
  const s = sum(e, axis, true);
  e.dispose();
  const l = log(s);
  s.dispose();
  const y = sub(d, l) as Tensor;
  d.dispose();
  l.dispose();
  return y as Tensor<S>;
}
