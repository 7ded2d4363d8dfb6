/** Normalisation layers: GroupNorm (affine) and InstanceNorm (affine optional, no running stats). */
import { full, groupNorm, instanceNorm, type Tensor } from "../../tensor/mod.ts";
import { Module } from "../module.ts";

/** GroupNorm(numGroups, numChannels, eps, affine): weight 1, bias 0 at init (PyTorch). [B, C, …] → same. */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    this.weight = affine ? this.registerParameter("weight", full([numChannels], 1)) : null;
    this.bias = affine ? this.registerParameter("bias", full([numChannels], 0)) : null;
  }
  /** [B, C, …] → [B, C, …]. */
  forward(x: Tensor): Tensor {
    if (x.shape[1] !== this.numChannels) {
      throw new Error(
        `GroupNorm(${this.numGroups}, ${this.numChannels}): input [${x.shape}] has ${x.shape[1]} channels`,
      );
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

/** InstanceNorm (PyTorch InstanceNorm{2,3}d, track_running_stats=False): per-sample, per-channel, biased var. */
export class InstanceNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(readonly numFeatures: number, readonly eps = 1e-5, affine = false) {
    super();
    this.weight = affine ? this.registerParameter("weight", full([numFeatures], 1)) : null;
    this.bias = affine ? this.registerParameter("bias", full([numFeatures], 0)) : null;
  }
  /** [B, C, …] → [B, C, …]. */
  forward(x: Tensor): Tensor {
    return instanceNorm(x, this.eps, this.weight ?? undefined, this.bias ?? undefined);
  }
}
