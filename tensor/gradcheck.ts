/**
 * Finite-difference gradient check: compares autograd gradients of sum(f(inputs) · w) (w a fixed random
 * weighting) with central differences computed in float64 on the host from float32 evaluations.
 */
import { noGrad } from "./autograd.ts";
import { tensor } from "./ops/create.ts";
import { mul } from "./ops/elementwise.ts";
import { sum } from "./ops/reduce.ts";
import { scopeAsync, type Tensor } from "./tensor.ts";

/** Result of a gradient check: worst relative error over all inputs. */
export interface GradcheckResult {
  maxRelError: number;
  details: { input: number; index: number; analytic: number; numeric: number }[];
}

/**
 * Checks gradients of `fn` at host inputs `values` with `shapes`. `eps` is the finite-difference step;
 * up to `maxProbes` entries per input are probed.
 */
export async function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  values: Float32Array[],
  shapes: number[][],
  opts: { eps?: number; maxProbes?: number; seed?: number } = {},
): Promise<GradcheckResult> {
  const eps = opts.eps ?? 1e-2;
  const maxProbes = opts.maxProbes ?? 24;
  let seed = opts.seed ?? 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const xs = values.map((v, i) => tensor(v, shapes[i]).requireGrad());
  let w = new Float32Array(0);
  // Scopes free everything fn makes too; they are safe here because the probes run one after another.
  const analytic = await scopeAsync(() => {
    const y0 = fn(...xs);
    w = Float32Array.from({ length: y0.size }, rnd);
    sum(mul(y0, tensor(w, y0.shape))).backward();
    return Promise.all(xs.map((x) => x.grad ? x.grad.data() : Promise.resolve(new Float32Array(x.size))));
  });
  const evalAt = async (vals: Float32Array[]) => {
    const data = await scopeAsync(() => noGrad(() => fn(...vals.map((v, i) => tensor(v, shapes[i])))).data());
    let s = 0;
    for (let i = 0; i < data.length; i++) s += data[i] * w[i];
    return s;
  };
  const details: GradcheckResult["details"] = [];
  let maxRel = 0;
  for (let k = 0; k < values.length; k++) {
    const n = values[k].length;
    const probes = n <= maxProbes
      ? [...Array(n).keys()]
      : Array.from({ length: maxProbes }, (_, i) => Math.floor((i * n) / maxProbes));
    let scale = 1e-3;
    for (const v of analytic[k]) scale = Math.max(scale, Math.abs(v));
    for (const idx of probes) {
      const plus = values.map((v) => v.slice()), minus = values.map((v) => v.slice());
      plus[k][idx] += eps;
      minus[k][idx] -= eps;
      const numeric = ((await evalAt(plus)) - (await evalAt(minus))) / (2 * eps);
      const a = analytic[k][idx];
      const rel = Math.abs(a - numeric) / scale;
      if (rel > maxRel) maxRel = rel;
      details.push({ input: k, index: idx, analytic: a, numeric });
    }
  }
  xs.forEach((x) => {
    x.grad?.dispose();
    x.dispose();
  });
  return { maxRelError: maxRel, details };
}
