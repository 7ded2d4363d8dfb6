/**
 * MONAI `PatchDiscriminator` (SPEC §3.1): a stack of strided 3-D convs; `forward` returns every child's
 * output (the last is the logits map). Keys: `initial_conv.conv.*`, `0.conv.weight`, …, `final_conv.conv.*`.
 */
import { leakyRelu, scope, type Tensor } from "../../tensor/mod.ts";
import { globalRng, type HostRng, setTensorData } from "../init.ts";
import { Module } from "../module.ts";
import { type Declaration, type OptionsOf, resolveArgs } from "../args/declare.ts";
import { Conv3d } from "../layers/conv.ts";
import { InstanceNorm } from "../layers/norm.ts";

/**
 * MONAI `PatchDiscriminator`'s arguments (SPEC §3.1), camelCased, with the class's defaults. The reference
 * builds it in code; a config file may give the ones a file can set (the rest are "never").
 */
export const PATCH_DISCRIMINATOR_ARGS = {
  owner: "PatchDiscriminator",
  args: {
    /** Only 3 is supported. */
    spatialDims: { type: "positive integer", default: 3 },
    /** Strided layers after the initial conv. */
    numLayersD: { type: "positive integer", default: 3 },
    /** Channels of the first conv; doubled at every layer (GenerativeModels: `num_channels`). */
    channels: { type: "positive integer", gm: "num_channels" },
    /** Image channels in. */
    inChannels: { type: "positive integer", default: 1 },
    /** Output channels. */
    outChannels: { type: "positive integer", default: 1 },
    /** "INSTANCE" (the reference's) or "NONE"; batch norm (MONAI's default) is not supported. */
    norm: { type: "string", default: "BATCH" },
    /** Kernel size of every conv but the last. */
    kernelSize: { type: "positive integer", default: 4, config: "never" },
    /** LeakyReLU negative slope of the activation (MONAI default ("LEAKYRELU", {negative_slope: 0.2})). */
    negativeSlope: { type: "number", default: 0.2, config: "never" },
    /** Bias of the middle convs. */
    bias: { type: "boolean", default: false, config: "never" },
    /** Padding of every conv but the last. */
    padding: { type: "non-negative integer", default: 1, config: "never" },
    /** Only 0 is supported. */
    dropout: { type: "number", default: 0, config: "never" },
    /** Kernel size of the last conv (null = `kernelSize`). */
    lastConvKernelSize: { type: "integer | null", default: null, config: "never" },
    /**
     * Init (ours): "normal" (MONAI `initialise_weights`: conv weights N(0, 0.02), biases 0 — core) or "gm"
     * (GenerativeModels: weights N(0, 0.02), biases at PyTorch's default).
     */
    init: { oneOf: ["normal", "gm"], default: "normal", config: "never" },
  },
} as const satisfies Declaration;

/** Constructor options: MONAI kwargs camelCased (GenerativeModels' `numChannels` accepted). */
export type PatchDiscriminatorOptions = OptionsOf<typeof PATCH_DISCRIMINATOR_ARGS.args> & {
  /** Init generator (default: the global one). */
  rng?: HostRng;
};

/** MONAI `Convolution` with ADN (norm → dropout → act): child `conv`, params-free norm/act. */
export class DiscriminatorLayer extends Module {
  readonly conv: Conv3d;
  readonly norm: InstanceNorm | null;
  constructor(
    inCh: number,
    outCh: number,
    kernel: number,
    stride: number,
    padding: number,
    bias: boolean,
    norm: boolean,
    readonly negativeSlope: number | null,
    rng: HostRng,
  ) {
    super();
    this.conv = this.registerModule("conv", new Conv3d(inCh, outCh, kernel, { stride, padding, bias, rng }));
    this.norm = norm ? new InstanceNorm(outCh, 1e-5, false) : null;
  }
  /** [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      let h = this.conv.forward(x);
      if (this.norm) h = this.norm.forward(h);
      return this.negativeSlope === null ? h : leakyRelu(h, this.negativeSlope);
    });
  }
}

/** PatchDiscriminator: [B, Cin, X, Y, Z] → list of every layer's output; the last is [B, Cout, x, y, z] logits. */
export class PatchDiscriminator extends Module {
  readonly layers: DiscriminatorLayer[] = [];
  constructor(options: PatchDiscriminatorOptions = {}) {
    super();
    const a = resolveArgs(PATCH_DISCRIMINATOR_ARGS, options);
    if (a.spatialDims !== 3) throw new Error("PatchDiscriminator: only spatialDims 3 is supported");
    const { channels, inChannels, outChannels, numLayersD: numLayers, kernelSize: k, padding, bias } = a;
    const slope = a.negativeSlope;
    const lastK = a.lastConvKernelSize ?? k;
    const normName = a.norm.toUpperCase();
    if (normName !== "INSTANCE" && normName !== "NONE") {
      throw new Error(
        `PatchDiscriminator: norm '${a.norm}' is not supported (use "INSTANCE", as the reference)`,
      );
    }
    if (a.dropout !== 0) throw new Error("PatchDiscriminator: dropout > 0 is not supported");
    const rng = options.rng ?? globalRng();
    const add = (name: string, l: DiscriminatorLayer) => this.layers.push(this.registerModule(name, l));
    add("initial_conv", new DiscriminatorLayer(inChannels, channels, k, 2, padding, true, false, slope, rng));
    let inCh = channels, outCh = channels * 2;
    for (let l = 0; l < numLayers; l++) {
      const stride = l === numLayers - 1 ? 1 : 2;
      add(
        String(l),
        new DiscriminatorLayer(inCh, outCh, k, stride, padding, bias, normName === "INSTANCE", slope, rng),
      );
      inCh = outCh;
      outCh *= 2;
    }
    add(
      "final_conv",
      new DiscriminatorLayer(
        inCh,
        outChannels,
        lastK,
        1,
        Math.floor((lastK - 1) / 2),
        true,
        false,
        null,
        rng,
      ),
    );
    // MONAI initialise_weights: conv weights ~ N(0, 0.02); core also zeroes the biases.
    const zeroBias = a.init === "normal";
    for (const layer of this.layers) {
      const w = layer.conv.weight, b = layer.conv.bias;
      setTensorData(w, rng.normalArray(w.size, 0, 0.02));
      if (b && zeroBias) setTensorData(b, new Float32Array(b.size));
    }
  }

  /** [B, Cin, X, Y, Z] → every layer's output (initial_conv, 0…n−1, final_conv); the last is the logits. */
  forward(x: Tensor): Tensor[] {
    const outs: Tensor[] = [];
    let h = x;
    for (const layer of this.layers) {
      h = layer.forward(h);
      outs.push(h);
    }
    return outs;
  }
}
