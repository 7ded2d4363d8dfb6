/**
 * Gradient checkpointing: run a block without keeping its activations and recompute them during backward.
 */
import { enableGrad, noGrad, record } from "./autograd.ts";
import { scope, type Tensor } from "./tensor.ts";

/**
 * Runs `fn(...inputs)` under `noGrad` inside a `scope` (every intermediate tensor is released as soon as it
 * returns, so `fn` must not stash tensors it creates) and records one autograd node; its backward re-runs
 * `fn` with recording on, back-propagates the incoming gradient through the recomputation (parameters
 * captured by `fn` receive their `.grad` there) and returns the inputs' gradients. `fn` must be deterministic (draw randomness from explicit keys, not call order).
 * As in PyTorch's re-entrant checkpoint, nothing is recorded when no input requires grad.
 */
export function checkpoint<R extends Tensor>(fn: (...inputs: Tensor[]) => R, ...inputs: Tensor[]): R {
  // scope(): intermediates made inside fn are released as soon as it returns (autograd keeps its own refs).
  const y = noGrad(() => scope(() => fn(...inputs)));
  return record(y, "checkpoint", inputs, inputs, (g, saved) => {
    const leaves = saved.map((s, i) => {
      const leaf = s.detach();
      return inputs[i].requiresGrad ? leaf.requireGrad() : leaf;
    });
    const out = enableGrad(() => scope(() => fn(...leaves)));
    if (out.requiresGrad) out.backward(g);
    // The leaves' gradients were kept by backward(); the enclosing node scope frees the rest.
    return leaves.map((l) => l.grad);
  });
}
