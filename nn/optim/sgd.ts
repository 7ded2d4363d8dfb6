/** SGD with optional momentum, dampening, Nesterov and weight decay (torch.optim.SGD semantics). */
import type { Tensor } from "../../tensor/mod.ts";
import { Optimizer, type ParamState } from "./optimizer.ts";

/** Options of SGD (PyTorch names camelCased). */
export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * d ← g + wd·p; with momentum: buf ← d on the first step, else momentum·buf + (1−dampening)·d;
 * d ← nesterov ? d + momentum·buf : buf; p ← p − lr·d. One fused kernel per parameter.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  constructor(params: Tensor[], options: SgdOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error("SGD: Nesterov momentum requires a momentum and zero dampening");
    }
  }
  protected stateNames(): string[] {
    return this.momentum !== 0 ? ["momentum_buffer"] : [];
  }
  protected hyper(): Record<string, number | boolean> {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
  }
  protected update(p: Tensor, grad: Tensor, s: ParamState): void {
    const buf = s.buffers.get("momentum_buffer");
    this.dispatch("sgd", p, grad, buf ? [buf] : [], {
      lr: this.lr,
      weightDecay: this.weightDecay,
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      firstStep: s.step === 1,
    });
  }
}
