/** Adam and AdamW with torch.optim's defaults and update order; one fused kernel per parameter. */
import type { Tensor } from "../../tensor/mod.ts";
import { Optimizer, type ParamState } from "./optimizer.ts";

/** Options of Adam / AdamW (PyTorch names camelCased). */
export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to √v̂ (after the bias correction), default 1e-8. */
  eps?: number;
  /** Adam: L2 term added to the gradient; AdamW: decoupled decay p ← p·(1 − lr·wd). Defaults 0 / 1e-2. */
  weightDecay?: number;
  /** Not supported (throws when true). */
  amsgrad?: boolean;
}

/**
 * torch.optim.Adam: g ← g + wd·p; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps).
 */
export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  constructor(params: Tensor[], options: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, options.lr ?? 1e-3);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaultWeightDecay;
    if (options.amsgrad) throw new Error(`${this.constructor.name}: amsgrad is not supported`);
    for (const b of [this.beta1, this.beta2]) {
      if (!(b >= 0 && b < 1)) throw new Error(`${this.constructor.name}: invalid beta ${b}`);
    }
    if (!(this.eps >= 0)) throw new Error(`${this.constructor.name}: invalid eps ${this.eps}`);
  }
  protected stateNames(): string[] {
    return ["exp_avg", "exp_avg_sq"];
  }
  protected hyper(): Record<string, number | boolean> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }
  protected update(p: Tensor, grad: Tensor, s: ParamState): void {
    const bc1 = 1 - this.beta1 ** s.step;
    const bc2 = 1 - this.beta2 ** s.step;
    this.dispatch("adam", p, grad, [s.buffers.get("exp_avg")!, s.buffers.get("exp_avg_sq")!], {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      stepSize: this.lr / bc1,
      biasCorrection2Sqrt: Math.sqrt(bc2),
    });
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay p ← p·(1 − lr·wd) (default wd 1e-2). */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;
  constructor(params: Tensor[], options: AdamOptions = {}) {
    super(params, options, 1e-2);
  }
}
