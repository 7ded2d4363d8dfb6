/** Parameter-free layers: SiLU, LeakyReLU, ReLU, Identity, Dropout. */
import {
  affine,
  full,
  gt,
  leakyRelu,
  mul,
  noGrad,
  rand,
  relu,
  scope,
  silu,
  type Tensor,
} from "../../tensor/mod.ts";
import { Module } from "../module.ts";

/** x·σ(x), elementwise. */
export class SiLU extends Module {
  /** Any shape → same shape. */
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** max(x, 0), elementwise. */
export class ReLU extends Module {
  /** Any shape → same shape. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** LeakyReLU with `negativeSlope` (PyTorch default 0.01). */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  /** Any shape → same shape. */
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** Passes its input through (returns a new handle, so callers may dispose input and output independently). */
export class Identity extends Module {
  /** Any shape → same shape. */
  forward(x: Tensor): Tensor {
    return affine(x, 1, 0);
  }
}

/**
 * Inverted dropout: in training mode zeroes each element with probability `p` and scales the rest by
 * 1/(1−p); the identity in eval mode or when p = 0. Draws come from the counter-based generator, keyed
 * by `seed`, the stream "dropout" and a per-call counter.
 */
export class Dropout extends Module {
  #calls = 0;
  constructor(readonly p = 0.5, readonly seed = 0) {
    super();
    if (p < 0 || p >= 1) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  /** Any shape → same shape. */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return affine(x, 1, 0);
    const step = this.#calls++;
    return scope(() => {
      const mask = noGrad(() => {
        const u = rand(x.shape, { seed: this.seed, stream: "dropout", step });
        return affine(gt(u, full([1], this.p)) as Tensor, 1 / (1 - this.p), 0);
      });
      return mul(x, mask) as Tensor;
    });
  }
}
