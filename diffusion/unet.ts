/**
 * DiffusionModelUNet (MONAI core naming, SPEC §6): a 3-D UNet over latents with a sinusoidal time
 * embedding (cos half first), ResNet blocks with a time projection, optional self-attention per level,
 * and skip connections concatenated on the channel axis. Keys match MONAI's `state_dict()`
 * (`down_blocks.1.attentions.0.attn.to_q.weight`, `up_blocks.0.upsampler.postconv.conv.weight`, …).
 */
import {
  add,
  cast,
  concat,
  cos,
  indexSelect,
  mul,
  reshape,
  scope,
  silu,
  sin,
  Tensor,
  tensor,
  upsampleNearest3d,
} from "../tensor/mod.ts";
import { type Declaration, type OptionsOf, resolveArgs, type RuleProblem } from "../nn/args/declare.ts";
import { normGroupsDivideChannels } from "../nn/models/norm_groups_rule.ts";
import { globalRng, type HostRng, setTensorData } from "../nn/init.ts";
import { Module } from "../nn/module.ts";
import { SpatialAttentionBlock } from "../nn/layers/attention.ts";
import { Convolution } from "../nn/layers/conv.ts";
import { Linear } from "../nn/layers/linear.ts";
import { GroupNorm } from "../nn/layers/norm.ts";
import { SiLU } from "../nn/layers/activation.ts";
import { ModuleList, Sequential } from "../nn/layers/sequential.ts";

/**
 * MONAI `DiffusionModelUNet`'s arguments (SPEC §6.1), camelCased, with the class's defaults. A config file
 * must give those the reference config gives ("required"); `include_fc` & co. exist in MONAI core only.
 */
export const DIFFUSION_MODEL_UNET_ARGS = {
  owner: "DiffusionModelUNet",
  args: {
    /** Only 3 is supported. */
    spatialDims: { type: "positive integer", default: 3, config: "required" },
    /** Latent channels in. */
    inChannels: { type: "positive integer", config: "required" },
    /** Latent channels out. */
    outChannels: { type: "positive integer", config: "required" },
    /** Residual blocks per level (one number for every level, or one per level). */
    numResBlocks: { type: "non-negative integer", levels: "expand", default: 2, config: "required" },
    /** Feature channels per level (GenerativeModels: `num_channels`). */
    channels: {
      type: "positive integer",
      list: "nonEmpty",
      default: [32, 64, 64, 64],
      gm: "num_channels",
      config: "required",
    },
    /** Self-attention at each level. */
    attentionLevels: {
      type: "boolean",
      levels: "list",
      default: [false, false, true, true],
      config: "required",
    },
    /** GroupNorm groups; must divide every entry of `channels`. */
    normNumGroups: { type: "positive integer", default: 32 },
    /** GroupNorm epsilon. */
    normEps: { type: "positive number", default: 1e-6 },
    /** Residual blocks for up/down-sampling (not supported: throws when set). */
    resblockUpdown: { type: "boolean", default: false },
    /** Channels per attention head per level (0 where a level has no attention). */
    numHeadChannels: { type: "non-negative integer", levels: "expand", default: 8, config: "required" },
    /** Cross-attention conditioning (not supported: throws when set). */
    withConditioning: { type: "boolean", default: false },
    /** Transformer layers per attention block (accepted for compatibility; no effect). */
    transformerNumLayers: { type: "positive integer", default: 1 },
    /** Cross-attention context size (accepted for compatibility; no effect). */
    crossAttentionDim: { type: "integer | null", default: null },
    /** Class conditioning: an embedding table of this many classes added to the time embedding. */
    numClassEmbeds: { type: "integer | null", default: null },
    /** Upcast attention to fp32 (accepted for compatibility; no effect). */
    upcastAttention: { type: "boolean", default: false },
    /** Attention output projection `attn.out_proj` (MONAI core; false = GenerativeModels' forward). */
    includeFc: { type: "boolean", default: true, config: "ifGiven" },
    /** One qkv Linear instead of three (MONAI core). */
    useCombinedLinear: { type: "boolean", default: false, config: "ifGiven" },
    /** Cross-attention dropout (accepted for compatibility; no effect). */
    dropoutCattn: { type: "number", default: 0, config: "never" },
    /** Flash attention (accepted for compatibility; no effect). */
    useFlashAttention: { type: "boolean", default: false, config: "ifGiven" },
    /** Largest integer timestep + 1 for the tabulated embedding of int32 timestep tensors (ours). */
    numTrainTimesteps: { type: "positive integer", default: 1000, config: "never" },
  },
  rules: [normGroupsDivideChannels, headsDivideChannels],
} as const satisfies Declaration;

/** Constructor options: MONAI `DiffusionModelUNet` kwargs camelCased (GenerativeModels' names accepted). */
export type DiffusionModelUNetOptions = OptionsOf<typeof DIFFUSION_MODEL_UNET_ARGS.args> & {
  /** Init generator (default: the global one). */
  rng?: HostRng;
};

/** Every level with attention needs a positive `numHeadChannels` that divides its channels. */
function headsDivideChannels(
  a: { channels: number[]; attentionLevels: boolean[]; numHeadChannels: number[] },
): RuleProblem[] {
  return a.channels.flatMap((c, i) => {
    const h = a.numHeadChannels[i];
    return a.attentionLevels[i] && (h <= 0 || c % h !== 0)
      ? [{
        arg: "numHeadChannels",
        message:
          `level ${i} has attention and ${c} channels, so it needs a positive divisor of ${c}, got ${h}`,
      }]
      : [];
  });
}

/**
 * Sinusoidal timestep embedding on the host with float32 rounding as PyTorch computes it:
 * freq_i = exp(−ln(10000)·i/half), args = t·freq, embedding = [cos(args), sin(args)] (cos half first).
 * Returns [T, dim] row-major.
 */
export function timestepEmbedding(
  timesteps: ArrayLike<number>,
  dim: number,
  maxPeriod = 10000,
): Float32Array {
  const f = Math.fround;
  const half = Math.floor(dim / 2);
  const out = new Float32Array(timesteps.length * dim);
  const negLog = f(-Math.log(maxPeriod));
  const freqs = Array.from({ length: half }, (_, i) => f(Math.exp(f(f(negLog * i) / half))));
  for (let b = 0; b < timesteps.length; b++) {
    const t = f(timesteps[b]);
    for (let i = 0; i < half; i++) {
      const a = f(t * freqs[i]);
      out[b * dim + i] = Math.cos(a);
      out[b * dim + half + i] = Math.sin(a);
    }
  }
  return out;
}

/** MONAI `DiffusionUNetResnetBlock`: h = conv1(SiLU(norm1 x)) + proj(SiLU(emb)); conv2(SiLU(norm2 h)) + skip(x). */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Convolution;
  readonly timeEmbProj: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Convolution;
  readonly skipConnection: Convolution | null;
  constructor(inCh: number, outCh: number, tembCh: number, groups: number, eps: number, rng: HostRng) {
    super();
    this.norm1 = this.registerModule("norm1", new GroupNorm(groups, inCh, eps));
    this.conv1 = this.registerModule("conv1", new Convolution(inCh, outCh, 3, { padding: 1, rng }));
    this.timeEmbProj = this.registerModule("time_emb_proj", new Linear(tembCh, outCh, { rng }));
    this.norm2 = this.registerModule("norm2", new GroupNorm(groups, outCh, eps));
    this.conv2 = this.registerModule(
      "conv2",
      zeroModule(new Convolution(outCh, outCh, 3, { padding: 1, rng })),
    );
    this.skipConnection = inCh !== outCh
      ? this.registerModule("skip_connection", new Convolution(inCh, outCh, 1, { rng }))
      : null;
  }
  /** x [B, Cin, X, Y, Z], emb [B, temb] → [B, Cout, X, Y, Z]. */
  forward(x: Tensor, emb: Tensor): Tensor {
    return scope(() => {
      let h = this.conv1.forward(silu(this.norm1.forward(x)));
      const t = this.timeEmbProj.forward(silu(emb));
      h = add(h, reshape(t, [t.shape[0], t.shape[1], 1, 1, 1])) as Tensor;
      h = this.conv2.forward(silu(this.norm2.forward(h)));
      const skip = this.skipConnection ? this.skipConnection.forward(x) : x;
      return add(skip, h) as Tensor;
    });
  }
}

/** Zero-initialises every parameter of a module (MONAI `zero_module`). Returns it. */
export function zeroModule<M extends Module>(m: M): M {
  for (const p of m.parameters()) setTensorData(p, new Float32Array(p.size));
  return m;
}

/** UNet downsampler: Convolution k3 s2 p1 (symmetric padding), child `op`. */
export class Downsample extends Module {
  readonly op: Convolution;
  constructor(ch: number, rng: HostRng) {
    super();
    this.op = this.registerModule("op", new Convolution(ch, ch, 3, { stride: 2, padding: 1, rng }));
  }
  /** [B, C, X, Y, Z] → [B, C, ⌈X/2⌉, …]. */
  forward(x: Tensor): Tensor {
    return this.op.forward(x);
  }
}

/** UNet upsampler: nearest ×2 then Convolution k3 p1, child `postconv`. */
export class UpsampleBlock extends Module {
  readonly postconv: Convolution;
  constructor(ch: number, rng: HostRng) {
    super();
    this.postconv = this.registerModule("postconv", new Convolution(ch, ch, 3, { padding: 1, rng }));
  }
  /** [B, C, X, Y, Z] → [B, C, 2X, 2Y, 2Z]. */
  forward(x: Tensor): Tensor {
    return scope(() => this.postconv.forward(upsampleNearest3d(x, 2)));
  }
}

interface Common {
  tembCh: number;
  groups: number;
  eps: number;
  includeFc: boolean;
  useCombinedLinear: boolean;
  rng: HostRng;
}

function attention(c: Common, ch: number, headCh: number): SpatialAttentionBlock {
  return new SpatialAttentionBlock(ch, headCh, c.groups, c.eps, {
    includeFc: c.includeFc,
    useCombinedLinear: c.useCombinedLinear,
    rng: c.rng,
  });
}

/** DownBlock / AttnDownBlock: [resnet (+attention)] × n, then an optional downsampler. Pushes every output. */
export class DownBlock extends Module {
  readonly resnets: ModuleList<ResnetBlock>;
  readonly attentions: ModuleList<SpatialAttentionBlock> | null = null;
  readonly downsampler: Downsample | null = null;
  constructor(
    inCh: number,
    outCh: number,
    numRes: number,
    addDownsample: boolean,
    headCh: number | null,
    c: Common,
  ) {
    super();
    const resnets: ResnetBlock[] = [], attns: SpatialAttentionBlock[] = [];
    for (let i = 0; i < numRes; i++) {
      resnets.push(new ResnetBlock(i === 0 ? inCh : outCh, outCh, c.tembCh, c.groups, c.eps, c.rng));
      if (headCh !== null) attns.push(attention(c, outCh, headCh));
    }
    // Registration order of MONAI's AttnDownBlock: attentions before resnets.
    if (headCh !== null) this.attentions = this.registerModule("attentions", new ModuleList(attns));
    this.resnets = this.registerModule("resnets", new ModuleList(resnets));
    if (addDownsample) this.downsampler = this.registerModule("downsampler", new Downsample(outCh, c.rng));
  }
  /** Returns the block output and the states pushed on the skip stack. */
  forward(x: Tensor, emb: Tensor): { h: Tensor; states: Tensor[] } {
    const states: Tensor[] = [];
    let h = x;
    this.resnets.items.forEach((r, i) => {
      h = r.forward(h, emb);
      if (this.attentions) {
        const a = this.attentions.items[i].forward(h);
        h = a;
      }
      states.push(h);
    });
    if (this.downsampler) {
      h = this.downsampler.forward(h);
      states.push(h);
    }
    return { h, states };
  }
}

/** AttnMidBlock: resnet_1 → attention → resnet_2. */
export class MidBlock extends Module {
  readonly resnet1: ResnetBlock;
  readonly attention: SpatialAttentionBlock;
  readonly resnet2: ResnetBlock;
  constructor(ch: number, headCh: number, c: Common) {
    super();
    this.resnet1 = this.registerModule("resnet_1", new ResnetBlock(ch, ch, c.tembCh, c.groups, c.eps, c.rng));
    this.attention = this.registerModule("attention", attention(c, ch, headCh));
    this.resnet2 = this.registerModule("resnet_2", new ResnetBlock(ch, ch, c.tembCh, c.groups, c.eps, c.rng));
  }
  /** [B, C, x, y, z] → same. */
  forward(x: Tensor, emb: Tensor): Tensor {
    return scope(() => this.resnet2.forward(this.attention.forward(this.resnet1.forward(x, emb)), emb));
  }
}

/** UpBlock / AttnUpBlock: [cat(h, skip) → resnet (+attention)] × n, then an optional upsampler. */
export class UpBlock extends Module {
  readonly resnets: ModuleList<ResnetBlock>;
  readonly attentions: ModuleList<SpatialAttentionBlock> | null = null;
  readonly upsampler: UpsampleBlock | null = null;
  constructor(
    inCh: number,
    prevOutCh: number,
    outCh: number,
    numRes: number,
    addUpsample: boolean,
    headCh: number | null,
    c: Common,
  ) {
    super();
    const resnets: ResnetBlock[] = [], attns: SpatialAttentionBlock[] = [];
    for (let i = 0; i < numRes; i++) {
      const skipCh = i === numRes - 1 ? inCh : outCh;
      const resIn = i === 0 ? prevOutCh : outCh;
      resnets.push(new ResnetBlock(resIn + skipCh, outCh, c.tembCh, c.groups, c.eps, c.rng));
      if (headCh !== null) attns.push(attention(c, outCh, headCh));
    }
    this.resnets = this.registerModule("resnets", new ModuleList(resnets));
    if (headCh !== null) this.attentions = this.registerModule("attentions", new ModuleList(attns));
    if (addUpsample) this.upsampler = this.registerModule("upsampler", new UpsampleBlock(outCh, c.rng));
  }
  /** Consumes `skips` from the end (one per resnet). */
  forward(x: Tensor, skips: Tensor[], emb: Tensor): Tensor {
    return scope(() => {
      let h = x;
      this.resnets.items.forEach((r, i) => {
        const skip = skips.pop()!;
        h = r.forward(concat([h, skip], 1), emb);
        if (this.attentions) h = this.attentions.items[i].forward(h);
      });
      return this.upsampler ? this.upsampler.forward(h) : h;
    });
  }
}

/** Hidden states a forward can report (fixture checks). */
export type UNetHook = (name: string, t: Tensor) => void;

/** MONAI `DiffusionModelUNet` (no cross-attention): (x [B, Cin, X, Y, Z], timesteps [B]) → [B, Cout, X, Y, Z]. */
export class DiffusionModelUNet extends Module {
  readonly convIn: Convolution;
  readonly timeEmbed: Sequential;
  readonly classEmbedding: Module & { weight: Tensor } | null = null;
  readonly downBlocks: ModuleList<DownBlock>;
  readonly middleBlock: MidBlock;
  readonly upBlocks: ModuleList<UpBlock>;
  readonly out: Sequential;
  readonly channels: number[];
  readonly numTrainTimesteps: number;
  #table: Tensor | null = null;

  constructor(options: DiffusionModelUNetOptions) {
    super();
    const a = resolveArgs(DIFFUSION_MODEL_UNET_ARGS, options);
    if (a.spatialDims !== 3) throw new Error("DiffusionModelUNet: only spatialDims 3 is supported");
    if (a.withConditioning) {
      throw new Error("DiffusionModelUNet: withConditioning (cross-attention) is not supported");
    }
    if (a.resblockUpdown) throw new Error("DiffusionModelUNet: resblockUpdown is not supported");
    const { channels, numResBlocks: numRes, attentionLevels: attn, numHeadChannels: heads } = a;
    const L = channels.length, groups = a.normNumGroups;
    this.channels = channels;
    this.numTrainTimesteps = a.numTrainTimesteps;
    const rng = options.rng ?? globalRng();
    const tembCh = channels[0] * 4;
    const c: Common = {
      tembCh,
      groups,
      eps: a.normEps,
      includeFc: a.includeFc,
      useCombinedLinear: a.useCombinedLinear,
      rng,
    };
    this.convIn = this.registerModule(
      "conv_in",
      new Convolution(a.inChannels, channels[0], 3, { padding: 1, rng }),
    );
    this.timeEmbed = this.registerModule(
      "time_embed",
      new Sequential([
        new Linear(channels[0], tembCh, { rng }),
        new SiLU(),
        new Linear(tembCh, tembCh, { rng }),
      ]),
    );
    if (a.numClassEmbeds) {
      this.classEmbedding = this.registerModule(
        "class_embedding",
        new Embedding(a.numClassEmbeds, tembCh, rng),
      );
    }
    const down = new ModuleList<DownBlock>();
    let outCh = channels[0];
    for (let i = 0; i < L; i++) {
      const inCh = outCh;
      outCh = channels[i];
      down.append(new DownBlock(inCh, outCh, numRes[i], i !== L - 1, attn[i] ? heads[i] : null, c));
    }
    this.downBlocks = this.registerModule("down_blocks", down);
    this.middleBlock = this.registerModule("middle_block", new MidBlock(channels[L - 1], heads[L - 1], c));
    const rev = [...channels].reverse(), revRes = [...numRes].reverse();
    const revAttn = [...attn].reverse(), revHeads = [...heads].reverse();
    const up = new ModuleList<UpBlock>();
    outCh = rev[0];
    for (let i = 0; i < L; i++) {
      const prev = outCh;
      outCh = rev[i];
      const inCh = rev[Math.min(i + 1, L - 1)];
      up.append(
        new UpBlock(inCh, prev, outCh, revRes[i] + 1, i !== L - 1, revAttn[i] ? revHeads[i] : null, c),
      );
    }
    this.upBlocks = this.registerModule("up_blocks", up);
    this.out = this.registerModule(
      "out",
      new Sequential([
        new GroupNorm(groups, channels[0], c.eps),
        new SiLU(),
        zeroModule(new Convolution(channels[0], a.outChannels, 3, { padding: 1, rng })),
      ]),
    );
  }

  /**
   * The time embedding input [B, channels[0]]: host numbers are embedded exactly on the host; an int32
   * tensor gathers rows of a table built once for 0 … numTrainTimesteps−1; a float32 tensor is embedded on
   * the device.
   */
  timeEmbeddingInput(timesteps: Tensor | ArrayLike<number>): Tensor {
    const dim = this.channels[0];
    if (!(timesteps instanceof Tensor)) {
      return tensor(timestepEmbedding(timesteps, dim), [timesteps.length, dim]);
    }
    if (timesteps.dtype === "int32") {
      if (!this.#table) {
        const all = Array.from({ length: this.numTrainTimesteps }, (_, i) => i);
        this.#table = tensor(timestepEmbedding(all, dim), [all.length, dim]).keep();
      }
      return indexSelect(this.#table, 0, reshape(timesteps, [-1]));
    }
    return scope(() => {
      const half = Math.floor(dim / 2);
      const f = Math.fround;
      const negLog = f(-Math.log(10000));
      const freqs = tensor(Array.from({ length: half }, (_, i) => f(Math.exp(f(f(negLog * i) / half)))), [
        1,
        half,
      ]);
      const args = mul(reshape(cast(timesteps, "float32"), [-1, 1]), freqs) as Tensor;
      return concat([cos(args), sin(args)], 1);
    });
  }

  /** (x [B, Cin, X, Y, Z], timesteps [B], classLabels?) → [B, Cout, X, Y, Z]. X, Y, Z divisible by 2^(levels−1). */
  forward(x: Tensor, timesteps: Tensor | ArrayLike<number>, classLabels?: number[], hook?: UNetHook): Tensor {
    return scope(() => {
      const tEmb = this.timeEmbeddingInput(timesteps);
      hook?.("t_emb", tEmb);
      let emb = this.timeEmbed.forward(tEmb);
      if (this.classEmbedding) {
        if (!classLabels) {
          throw new Error("DiffusionModelUNet: classLabels are required (numClassEmbeds is set)");
        }
        emb = add(emb, indexSelect(this.classEmbedding.weight, 0, classLabels)) as Tensor;
      }
      hook?.("emb", emb);
      let h = this.convIn.forward(x);
      hook?.("conv_in", h);
      const skips: Tensor[] = [h];
      this.downBlocks.items.forEach((block, i) => {
        const r = block.forward(h, emb);
        h = r.h;
        skips.push(...r.states);
        hook?.(`down_blocks.${i}`, h);
      });
      h = this.middleBlock.forward(h, emb);
      hook?.("middle_block", h);
      this.upBlocks.items.forEach((block, i) => {
        h = block.forward(h, skips, emb);
        hook?.(`up_blocks.${i}`, h);
      });
      return this.out.forward(h);
    });
  }

  /** `(x, t) => forward(x, t)`, the shape the latent diffusion inferer takes. */
  asFunction(): (x: Tensor, timesteps: Tensor | number[]) => Tensor {
    return (x, t) => this.forward(x, t);
  }

  override dispose(): void {
    this.#table?.dispose();
    this.#table = null;
    super.dispose();
  }
}

/** nn.Embedding: weight [num, dim] ~ N(0, 1). */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(num: number, dim: number, rng: HostRng) {
    super();
    this.weight = this.registerParameter("weight", tensor(rng.normalArray(num * dim), [num, dim]));
  }
}
