/**
 * Self-attention over the voxels of a 3-D feature map: MONAI `SpatialAttentionBlock` (GroupNorm → SABlock →
 * residual). Tokens are the voxels in row-major (X, Y, Z) order; the channel axis splits into heads as
 * (head, dim), i.e. channel c = head·d + j.
 */
import { add, attention, permute, reshape, scope, slice, type Tensor, transpose } from "../../tensor/mod.ts";
import type { HostRng } from "../init.ts";
import { Module } from "../module.ts";
import { Linear } from "./linear.ts";
import { GroupNorm } from "./norm.ts";

/** Options of SABlock / SpatialAttentionBlock (MONAI names camelCased). */
export interface AttentionOptions {
  /** Output projection `out_proj` (MONAI core default true; false reproduces GenerativeModels). */
  includeFc?: boolean;
  /** One `qkv` Linear(C → 3C) instead of to_q / to_k / to_v. */
  useCombinedLinear?: boolean;
  rng?: HostRng;
}

/** MONAI `SABlock` (qkv bias on, no dropout): [B, T, C] → [B, T, C]. Children: out_proj, to_q/k/v or qkv. */
export class SABlock extends Module {
  readonly outProj: Linear | null;
  readonly toQ: Linear | null = null;
  readonly toK: Linear | null = null;
  readonly toV: Linear | null = null;
  readonly qkv: Linear | null = null;
  readonly headDim: number;
  constructor(readonly hiddenSize: number, readonly numHeads: number, options: AttentionOptions = {}) {
    super();
    if (hiddenSize % numHeads !== 0) {
      throw new Error(`SABlock: hidden size ${hiddenSize} not divisible by ${numHeads} heads`);
    }
    this.headDim = hiddenSize / numHeads;
    const rng = options.rng;
    this.outProj = options.includeFc ?? true
      ? this.registerModule("out_proj", new Linear(hiddenSize, hiddenSize, { rng }))
      : null;
    if (options.useCombinedLinear) {
      this.qkv = this.registerModule("qkv", new Linear(hiddenSize, 3 * hiddenSize, { rng }));
    } else {
      this.toQ = this.registerModule("to_q", new Linear(hiddenSize, hiddenSize, { rng }));
      this.toK = this.registerModule("to_k", new Linear(hiddenSize, hiddenSize, { rng }));
      this.toV = this.registerModule("to_v", new Linear(hiddenSize, hiddenSize, { rng }));
    }
  }

  /** [B, T, C] → [B, T, C]. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const [B, T, C] = x.shape;
      const h = this.numHeads, d = this.headDim;
      let q: Tensor, k: Tensor, v: Tensor;
      if (this.qkv) {
        // [q(all heads) | k | v] along the feature axis.
        const all = permute(reshape(this.qkv.forward(x), [B, T, 3, h, d]), [2, 0, 3, 1, 4]);
        [q, k, v] = [0, 1, 2].map((i) => reshape(slice(all, [i], [i + 1]), [B, h, T, d]));
      } else {
        const heads = (t: Tensor) => permute(reshape(t, [B, T, h, d]), [0, 2, 1, 3]);
        q = heads(this.toQ!.forward(x));
        k = heads(this.toK!.forward(x));
        v = heads(this.toV!.forward(x));
      }
      const o = attention(q, k, v, 1 / Math.sqrt(d));
      const merged = reshape(permute(o, [0, 2, 1, 3]), [B, T, C]);
      return this.outProj ? this.outProj.forward(merged) : merged;
    });
  }
}

/** MONAI `SpatialAttentionBlock`: x + Attn(GroupNorm(x)) over voxels; [B, C, X, Y, Z] → same. */
export class SpatialAttentionBlock extends Module {
  readonly norm: GroupNorm;
  readonly attn: SABlock;
  constructor(
    readonly numChannels: number,
    numHeadChannels: number | null,
    normNumGroups: number,
    normEps: number,
    options: AttentionOptions = {},
  ) {
    super();
    if (numHeadChannels && numChannels % numHeadChannels !== 0) {
      throw new Error(
        `SpatialAttentionBlock: ${numChannels} channels not divisible by num_head_channels ${numHeadChannels}`,
      );
    }
    const numHeads = numHeadChannels ? numChannels / numHeadChannels : 1;
    this.norm = this.registerModule("norm", new GroupNorm(normNumGroups, numChannels, normEps));
    this.attn = this.registerModule("attn", new SABlock(numChannels, numHeads, options));
  }

  /** [B, C, X, Y, Z] → [B, C, X, Y, Z]. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const [B, C] = x.shape;
      const tokens = transpose(reshape(this.norm.forward(x), [B, C, -1]), 1, 2);
      const y = this.attn.forward(tokens);
      const back = reshape(transpose(y, 1, 2), [...x.shape]);
      return add(back, x) as Tensor;
    });
  }
}
