/**
 * AutoencoderKL (MONAI core naming, SPEC §2): a KL-regularised 3-D VAE. Encoder compresses ×2 per
 * downsampling level and maps to `latentChannels`; the latent head gives μ and a clamped log-variance;
 * the decoder mirrors the encoder. State-dict keys match MONAI's `AutoencoderKL.state_dict()`
 * (e.g. `encoder.blocks.1.conv1.conv.weight`, `decoder.blocks.3.postconv.conv.weight`).
 */
import {
  add,
  affine,
  checkpoint,
  clamp,
  conv3d,
  exp,
  isGradEnabled,
  mul,
  randn,
  type RandomOptions,
  scope,
  silu,
  Tensor,
} from "../../tensor/mod.ts";
import { type ArgsOf, type Declaration, type OptionsOf, resolveArgs } from "../args/declare.ts";
import { normGroupsDivideChannels } from "./norm_groups_rule.ts";
import { globalRng, type HostRng } from "../init.ts";
import { Module } from "../module.ts";
import { SpatialAttentionBlock } from "../layers/attention.ts";
import { Convolution, ConvTranspose3d } from "../layers/conv.ts";
import { GroupNorm } from "../layers/norm.ts";
import { Upsample } from "../layers/sampling.ts";
import { ModuleList } from "../layers/sequential.ts";

/**
 * MONAI `AutoencoderKL`'s arguments (SPEC §2.1), camelCased, with the class's defaults. A config file must
 * give those its reference config gives ("required"); `include_fc` & co. exist in MONAI core only.
 */
export const AUTOENCODER_KL_ARGS = {
  owner: "AutoencoderKL",
  args: {
    /** Only 3 is supported. */
    spatialDims: { type: "positive integer", default: 3, config: "required" },
    /** Image channels in. */
    inChannels: { type: "positive integer", default: 1, config: "required" },
    /** Image channels out. */
    outChannels: { type: "positive integer", default: 1, config: "required" },
    /** Latent channels. */
    latentChannels: { type: "positive integer", default: 3, config: "required" },
    /** Feature channels per level (GenerativeModels: `num_channels`). */
    channels: {
      type: "positive integer",
      list: "nonEmpty",
      default: [32, 64, 64],
      gm: "num_channels",
      config: "required",
    },
    /** Residual blocks per level (one number for every level, or one per level). */
    numResBlocks: { type: "non-negative integer", levels: "expand", default: 2, config: "required" },
    /** GroupNorm groups; must divide every entry of `channels`. */
    normNumGroups: { type: "positive integer", default: 32, config: "required" },
    /** GroupNorm epsilon. */
    normEps: { type: "positive number", default: 1e-6, config: "required" },
    /** Self-attention after each residual block of a level. */
    attentionLevels: { type: "boolean", levels: "list", default: [false, false, true], config: "required" },
    /** Non-local attention in the encoder's middle block. */
    withEncoderNonlocalAttn: { type: "boolean", default: true, config: "required" },
    /** Non-local attention in the decoder's middle block. */
    withDecoderNonlocalAttn: { type: "boolean", default: true, config: "required" },
    /** Transposed-conv upsampling (`deconv`, k2 s2) instead of nearest ×2 + conv. */
    useConvtranspose: { type: "boolean", default: false },
    /** Gradient checkpointing of every encoder/decoder block (GenerativeModels: `use_checkpointing`). */
    useCheckpoint: { type: "boolean", default: false, gm: "use_checkpointing" },
    /** Attention output projection (MONAI core; GenerativeModels has none); unset in a file = the edition's. */
    includeFc: { type: "boolean", default: true, config: "ifGiven" },
    /** One qkv Linear instead of three (MONAI core). */
    useCombinedLinear: { type: "boolean", default: false, config: "ifGiven" },
    /** Accepted for config compatibility (attention always uses the chunked attention op). */
    useFlashAttention: { type: "boolean", default: false, config: "ifGiven" },
  },
  rules: [normGroupsDivideChannels],
} as const satisfies Declaration;

/** Constructor options: MONAI `AutoencoderKL` kwargs camelCased (GenerativeModels' names accepted). */
export type AutoencoderKLOptions = OptionsOf<typeof AUTOENCODER_KL_ARGS.args> & {
  /** Init generator (default: the global one). */
  rng?: HostRng;
  /** Seed of the sampling noise when no eps is given (stream "vae/eps", one step per draw). */
  seed?: number;
};

/** How `sampling` gets its N(0, 1) noise: an explicit tensor, or a keyed counter-based draw. */
export type EpsSource = Tensor | RandomOptions;

/** Residual block (MONAI `AEKLResBlock`): norm1 → SiLU → conv1 → norm2 → SiLU → conv2, + nin_shortcut(x). */
export class AEKLResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Convolution;
  readonly norm2: GroupNorm;
  readonly conv2: Convolution;
  readonly ninShortcut: Convolution | null;
  constructor(inChannels: number, normNumGroups: number, normEps: number, outChannels: number, rng: HostRng) {
    super();
    this.norm1 = this.registerModule("norm1", new GroupNorm(normNumGroups, inChannels, normEps));
    this.conv1 = this.registerModule(
      "conv1",
      new Convolution(inChannels, outChannels, 3, { padding: 1, rng }),
    );
    this.norm2 = this.registerModule("norm2", new GroupNorm(normNumGroups, outChannels, normEps));
    this.conv2 = this.registerModule(
      "conv2",
      new Convolution(outChannels, outChannels, 3, { padding: 1, rng }),
    );
    this.ninShortcut = inChannels !== outChannels
      ? this.registerModule("nin_shortcut", new Convolution(inChannels, outChannels, 1, { rng }))
      : null;
  }
  /** [B, Cin, X, Y, Z] → [B, Cout, X, Y, Z]. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      let h = this.conv1.forward(silu(this.norm1.forward(x)));
      h = this.conv2.forward(silu(this.norm2.forward(h)));
      const skip = this.ninShortcut ? this.ninShortcut.forward(x) : x;
      return add(skip, h) as Tensor;
    });
  }
}

/** Downsampling (MONAI `AEKLDownsample`): zero-pad one voxel at the END of each axis, conv k3 s2 p0. */
export class AEKLDownsample extends Module {
  readonly conv: Convolution;
  constructor(channels: number, rng: HostRng) {
    super();
    this.conv = this.registerModule("conv", new Convolution(channels, channels, 3, { stride: 2, rng }));
  }
  /** [B, C, X, Y, Z] → [B, C, X/2, Y/2, Z/2] (even sizes). */
  forward(x: Tensor): Tensor {
    // Reference behaviour: asymmetric padding (0, 1) per axis, unlike the UNet's symmetric p1 downsampler.
    const c = this.conv.conv;
    return conv3d(x, c.weight, c.bias, { stride: 2, padding: { before: [0, 0, 0], after: [1, 1, 1] } });
  }
}

/**
 * MONAI `UpSample(mode="nontrainable", interp_mode="nearest")` with a post conv (`postconv`), or
 * `mode="deconv"` (`deconv`, ConvTranspose3d k2 s2): [B, C, X, Y, Z] → [B, C, 2X, 2Y, 2Z].
 */
export class AEKLUpsample extends Module {
  readonly postconv: Convolution | null = null;
  readonly deconv: ConvTranspose3d | null = null;
  readonly #upsample = new Upsample(2);
  constructor(channels: number, useConvtranspose: boolean, rng: HostRng) {
    super();
    if (useConvtranspose) {
      this.deconv = this.registerModule(
        "deconv",
        new ConvTranspose3d(channels, channels, 2, { stride: 2, rng }),
      );
    } else {
      this.postconv = this.registerModule(
        "postconv",
        new Convolution(channels, channels, 3, { padding: 1, rng }),
      );
    }
  }
  /** [B, C, X, Y, Z] → [B, C, 2X, 2Y, 2Z]. */
  forward(x: Tensor): Tensor {
    if (this.deconv) return this.deconv.forward(x);
    return scope(() => this.postconv!.forward(this.#upsample.forward(x)));
  }
}

/** A block of the encoder/decoder list. */
type Block = Module & { forward(x: Tensor): Tensor };

type Resolved = ArgsOf<typeof AUTOENCODER_KL_ARGS.args>;

function attnBlock(r: Resolved, channels: number, rng: HostRng): SpatialAttentionBlock {
  return new SpatialAttentionBlock(channels, null, r.normNumGroups, r.normEps, {
    includeFc: r.includeFc,
    useCombinedLinear: r.useCombinedLinear,
    rng,
  });
}

/** The encoder: `blocks` = conv_in, per level [ResBlock (+attn)] × n (+ downsample), [nonlocal], norm, conv_out. */
export class Encoder extends Module {
  readonly blocks: ModuleList<Block>;
  readonly useCheckpoint: boolean;
  constructor(r: Resolved, rng: HostRng) {
    super();
    this.useCheckpoint = r.useCheckpoint;
    const b = new ModuleList<Block>();
    b.append(new Convolution(r.inChannels, r.channels[0], 3, { padding: 1, rng }));
    let out = r.channels[0];
    r.channels.forEach((ch, i) => {
      let inCh = out;
      out = ch;
      for (let j = 0; j < r.numResBlocks[i]; j++) {
        b.append(new AEKLResBlock(inCh, r.normNumGroups, r.normEps, out, rng));
        inCh = out;
        if (r.attentionLevels[i]) b.append(attnBlock(r, inCh, rng));
      }
      if (i !== r.channels.length - 1) b.append(new AEKLDownsample(inCh, rng));
    });
    const last = r.channels[r.channels.length - 1];
    if (r.withEncoderNonlocalAttn) {
      b.append(new AEKLResBlock(last, r.normNumGroups, r.normEps, last, rng));
      b.append(attnBlock(r, last, rng));
      b.append(new AEKLResBlock(last, r.normNumGroups, r.normEps, last, rng));
    }
    b.append(new GroupNorm(r.normNumGroups, last, r.normEps));
    // Reference behaviour: no SiLU between the final GroupNorm and the final conv.
    b.append(new Convolution(last, r.latentChannels, 3, { padding: 1, rng }));
    this.blocks = this.registerModule("blocks", b);
  }
  /** [B, Cin, X, Y, Z] → [B, latent, X/f, Y/f, Z/f]; `onBlock` sees every block's output. */
  forward(x: Tensor, onBlock?: (i: number, h: Tensor) => void): Tensor {
    return runBlocks(this.blocks.items, x, this.useCheckpoint, onBlock);
  }
}

/** The decoder: conv_in, [nonlocal], per reversed level [ResBlock (+attn)] × n (+ upsample), norm, conv_out. */
export class Decoder extends Module {
  readonly blocks: ModuleList<Block>;
  readonly useCheckpoint: boolean;
  constructor(r: Resolved, rng: HostRng) {
    super();
    this.useCheckpoint = r.useCheckpoint;
    const rev = [...r.channels].reverse();
    const revAttn = [...r.attentionLevels].reverse();
    const revRes = [...r.numResBlocks].reverse();
    const b = new ModuleList<Block>();
    b.append(new Convolution(r.latentChannels, rev[0], 3, { padding: 1, rng }));
    if (r.withDecoderNonlocalAttn) {
      b.append(new AEKLResBlock(rev[0], r.normNumGroups, r.normEps, rev[0], rng));
      b.append(attnBlock(r, rev[0], rng));
      b.append(new AEKLResBlock(rev[0], r.normNumGroups, r.normEps, rev[0], rng));
    }
    let out = rev[0];
    rev.forEach((ch, i) => {
      let inCh = out;
      out = ch;
      for (let j = 0; j < revRes[i]; j++) {
        b.append(new AEKLResBlock(inCh, r.normNumGroups, r.normEps, out, rng));
        inCh = out;
        if (revAttn[i]) b.append(attnBlock(r, inCh, rng));
      }
      if (i !== rev.length - 1) b.append(new AEKLUpsample(inCh, r.useConvtranspose, rng));
    });
    b.append(new GroupNorm(r.normNumGroups, out, r.normEps));
    b.append(new Convolution(out, r.outChannels, 3, { padding: 1, rng }));
    this.blocks = this.registerModule("blocks", b);
  }
  /** [B, latent, x, y, z] → [B, Cout, X, Y, Z]; `onBlock` sees every block's output. */
  forward(z: Tensor, onBlock?: (i: number, h: Tensor) => void): Tensor {
    return runBlocks(this.blocks.items, z, this.useCheckpoint, onBlock);
  }
}

function runBlocks(
  blocks: Block[],
  x: Tensor,
  useCheckpoint: boolean,
  onBlock?: (i: number, h: Tensor) => void,
): Tensor {
  let h = x;
  blocks.forEach((block, i) => {
    // Checkpointing needs an input that requires grad (else the block's parameters would get no gradient).
    const next = useCheckpoint && h.requiresGrad && isGradEnabled()
      ? checkpoint((t: Tensor) => block.forward(t), h)
      : block.forward(h);
    if (h !== x && !onBlock) h.dispose();
    h = next;
    onBlock?.(i, h);
  });
  return h;
}

/** Output of `encode`: latent mean, standard deviation and the clamped log-variance, [B, latent, x, y, z]. */
export interface EncodeOutput {
  zMu: Tensor;
  zSigma: Tensor;
  zLogVar: Tensor;
}

/** Output of `forward`: the reconstruction of the sampled latent, plus μ and σ. */
export interface AutoencoderOutput {
  reconstruction: Tensor;
  zMu: Tensor;
  zSigma: Tensor;
}

/** MONAI `AutoencoderKL` (core naming): encoder, quant_conv_mu, quant_conv_log_sigma, post_quant_conv, decoder. */
export class AutoencoderKL extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConvMu: Convolution;
  readonly quantConvLogSigma: Convolution;
  readonly postQuantConv: Convolution;
  readonly latentChannels: number;
  readonly config: Readonly<Resolved>;
  readonly seed: number;
  #draws = 0;

  constructor(options: AutoencoderKLOptions = {}) {
    super();
    const r = resolveArgs(AUTOENCODER_KL_ARGS, options);
    if (r.spatialDims !== 3) throw new Error(`AutoencoderKL: only spatialDims 3 is supported`);
    this.config = r;
    this.latentChannels = r.latentChannels;
    this.seed = options.seed ?? 0;
    const rng = options.rng ?? globalRng();
    this.encoder = this.registerModule("encoder", new Encoder(r, rng));
    this.decoder = this.registerModule("decoder", new Decoder(r, rng));
    const L = r.latentChannels;
    this.quantConvMu = this.registerModule("quant_conv_mu", new Convolution(L, L, 1, { rng }));
    this.quantConvLogSigma = this.registerModule("quant_conv_log_sigma", new Convolution(L, L, 1, { rng }));
    this.postQuantConv = this.registerModule("post_quant_conv", new Convolution(L, L, 1, { rng }));
  }

  /** [B, Cin, X, Y, Z] → μ, σ = exp(clamp(logvar, −30, 20)/2) and the clamped logvar, each [B, latent, X/f, …]. */
  encode(x: Tensor): EncodeOutput {
    return scope(() => {
      const h = this.encoder.forward(x);
      const zMu = this.quantConvMu.forward(h);
      // Reference behaviour: "log_sigma" is a log-variance, clamped to [−30, 20].
      const zLogVar = clamp(this.quantConvLogSigma.forward(h), -30, 20);
      const zSigma = exp(affine(zLogVar, 0.5));
      return { zMu, zSigma, zLogVar };
    });
  }

  /** z = μ + eps·σ. `eps` is a tensor, or draw options; default: seed `this.seed`, stream "vae/eps", a per-call step. */
  sampling(zMu: Tensor, zSigma: Tensor, eps?: EpsSource): Tensor {
    return scope(() => {
      const e = eps instanceof Tensor ? eps : randn(
        zMu.shape,
        (eps as RandomOptions | undefined) ?? { seed: this.seed, stream: "vae/eps", step: this.#draws++ },
      );
      if (e.shape.join() !== zMu.shape.join()) {
        throw new Error(`AutoencoderKL.sampling: eps [${e.shape}] does not match z_mu [${zMu.shape}]`);
      }
      return add(zMu, mul(e, zSigma)) as Tensor;
    });
  }

  /** [B, latent, x, y, z] → [B, Cout, X, Y, Z]: post_quant_conv then the decoder. */
  decode(z: Tensor): Tensor {
    return scope(() => this.decoder.forward(this.postQuantConv.forward(z)));
  }

  /** Decodes μ (no sampling). */
  reconstruct(x: Tensor): Tensor {
    return scope(() => this.decode(this.encode(x).zMu));
  }

  /** encode → sample → decode. */
  forward(x: Tensor, eps?: EpsSource): AutoencoderOutput {
    return scope(() => {
      const { zMu, zSigma } = this.encode(x);
      const z = this.sampling(zMu, zSigma, eps);
      return { reconstruction: this.decode(z), zMu, zSigma };
    });
  }

  /** The sampled latent z (what the diffusion stage trains on). */
  encodeStage2Inputs(x: Tensor, eps?: EpsSource): Tensor {
    return scope(() => {
      const { zMu, zSigma } = this.encode(x);
      return this.sampling(zMu, zSigma, eps);
    });
  }

  /** Same as `decode`. */
  decodeStage2Outputs(z: Tensor): Tensor {
    return this.decode(z);
  }
}
