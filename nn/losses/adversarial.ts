/** MONAI `PatchAdversarialLoss` (least squares, hinge, BCE) on patch-discriminator logits. */
import {
  add,
  affine,
  full,
  leakyRelu,
  log,
  mean,
  relu,
  scope,
  sigmoid,
  type Tensor,
} from "../../tensor/mod.ts";
import { mseLoss } from "./basic.ts";

/** The GAN criterion. */
export type AdversarialCriterion = "least_squares" | "hinge" | "bce";

/** Options of `PatchAdversarialLoss`. */
export interface PatchAdversarialLossOptions {
  criterion?: AdversarialCriterion;
  /** Skip the LeakyReLU(0.05) on logits in least-squares mode (MONAI default false). */
  noActivationLeastsq?: boolean;
}

/**
 * Adversarial loss on discriminator logits ([B, 1, x, y, z], or a list whose losses are averaged).
 * Least squares (the reference): mean((lrelu_0.05(logits) − target)²) with target 1 (real) / 0 (fake).
 * For the generator (`forDiscriminator` false) the target is always "real", as in MONAI.
 */
export class PatchAdversarialLoss {
  readonly criterion: AdversarialCriterion;
  readonly noActivationLeastsq: boolean;
  constructor(options: PatchAdversarialLossOptions = {}) {
    this.criterion = options.criterion ?? "least_squares";
    this.noActivationLeastsq = options.noActivationLeastsq ?? false;
  }

  /** The loss as a scalar [1]. */
  forward(logits: Tensor | Tensor[], targetIsReal: boolean, forDiscriminator: boolean): Tensor {
    const list = Array.isArray(logits) ? logits : [logits];
    const real = forDiscriminator ? targetIsReal : true;
    return scope(() => {
      const losses = list.map((x) => this.#one(x, real, forDiscriminator));
      if (losses.length === 1) return losses[0];
      let total = losses[0];
      for (const l of losses.slice(1)) total = add(total, l) as Tensor;
      return affine(total, 1 / losses.length);
    });
  }

  #one(x: Tensor, real: boolean, forDiscriminator: boolean): Tensor {
    if (this.criterion === "least_squares") {
      // Reference behaviour: least squares passes the logits through LeakyReLU(0.05) before the MSE.
      const act = this.noActivationLeastsq ? x : leakyRelu(x, 0.05);
      return mseLoss(act, full(x.shape, real ? 1 : 0));
    }
    if (this.criterion === "hinge") {
      if (!forDiscriminator) return affine(mean(x), -1);
      // mean(relu(1 − x)) for real, mean(relu(1 + x)) for fake.
      return mean(relu(affine(x, real ? -1 : 1, 1)));
    }
    // BCE with logits via sigmoid: −mean(t·log σ(x) + (1−t)·log(1−σ(x))).
    const p = sigmoid(x);
    const l = real ? log(p) : log(affine(p, -1, 1));
    return affine(mean(l), -1);
  }
}
