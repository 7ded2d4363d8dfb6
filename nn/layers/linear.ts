/** Linear (fully connected) layer, PyTorch layout: weight [out, in], bias [out]. */
import { add, matmul, reshape, scope, type Tensor, transpose } from "../../tensor/mod.ts";
import { defaultInit, type HostRng } from "../init.ts";
import { hostTensor, Module } from "../module.ts";

/** Options of `Linear`. */
export interface LinearOptions {
  /** Learnable bias (default true). */
  bias?: boolean;
  /** Init generator (default: the global one, see `manualSeed`). */
  rng?: HostRng;
}

/** y = x·Wᵀ + b over the last axis: [..., in] → [..., out]. PyTorch default init. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    const useBias = options.bias ?? true;
    const init = defaultInit([outFeatures, inFeatures], useBias ? outFeatures : 0, options.rng);
    this.weight = this.registerParameter("weight", hostTensor(init.weight, [outFeatures, inFeatures]));
    this.bias = init.bias ? this.registerParameter("bias", hostTensor(init.bias, [outFeatures])) : null;
  }

  /** [..., in] → [..., out]. */
  forward(x: Tensor): Tensor {
    const inF = x.shape[x.rank - 1];
    if (inF !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures}→${this.outFeatures}): input [${x.shape}] has ${inF} features`,
      );
    }
    const lead = x.shape.slice(0, -1);
    return scope(() => {
      const y = matmul(x.rank === 2 ? x : reshape(x, [-1, inF]), transpose(this.weight, 0, 1)) as Tensor;
      const out = this.bias ? add(y, this.bias) as Tensor : y;
      return x.rank === 2 ? out : reshape(out, [...lead, this.outFeatures]);
    });
  }
}
