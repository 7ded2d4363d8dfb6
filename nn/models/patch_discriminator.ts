/**
 * MONAI `PatchDiscriminator` (SPEC §3.1): a stack of strided 3-D convs; `forward` returns every child's
 * output (the last is the logits map). Keys: `initial_conv.conv.*`, `0.conv.weight`, …, `final_conv.conv.*`.
 */
import { leakyRelu, scope, type Tensor } from "../../tensor/mod.ts";
import { globalRng, type HostRng, setTensorData } from "../init.ts";
import { Module } from "../module.ts";
import { Conv3d } from "../layers/conv.ts";
import { InstanceNorm } from "../layers/norm.ts";

/** Constructor options: MONAI kwargs camelCased (`numChannels` = GenerativeModels' `channels`). */
export interface PatchDiscriminatorOptions {
  /** Only 3 is supported. */
  spatialDims?: number;
  /** Channels of the first conv; doubled at every layer. */
  channels?: number;
  numChannels?: number;
  inChannels?: number;
  outChannels?: number;
  numLayersD?: number;
  kernelSize?: number;
  /** LeakyReLU negative slope of the activation (MONAI default ("LEAKYRELU", {negative_slope: 0.2})). */
  negativeSlope?: number;
  /** "INSTANCE" (reference) or "NONE"; batch norm is not supported. */
  norm?: string | null;
  /** Bias of the middle convs (default false). */
  bias?: boolean;
  padding?: number;
  /** Only 0 is supported. */
  dropout?: number;
  lastConvKernelSize?: number | null;
  /**
   * Init: "normal" (MONAI `initialise_weights`: conv weights N(0, 0.02), biases 0 — core) or "gm"
   * (GenerativeModels: weights N(0, 0.02), biases at PyTorch's default). Default "normal".
   */
  init?: "normal" | "gm";
  rng?: HostRng;
}

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
    if ((options.spatialDims ?? 3) !== 3) {
      throw new Error("PatchDiscriminator: only spatialDims 3 is supported");
    }
    const channels = options.channels ?? options.numChannels;
    if (!channels) throw new Error("PatchDiscriminator: `channels` is required");
    const inChannels = options.inChannels ?? 1;
    const outChannels = options.outChannels ?? 1;
    const numLayers = options.numLayersD ?? 3;
    const k = options.kernelSize ?? 4;
    const slope = options.negativeSlope ?? 0.2;
    const padding = options.padding ?? 1;
    const bias = options.bias ?? false;
    const lastK = options.lastConvKernelSize ?? k;
    const normName = (options.norm ?? "BATCH") === null
      ? "NONE"
      : String(options.norm ?? "BATCH").toUpperCase();
    if (normName !== "INSTANCE" && normName !== "NONE") {
      throw new Error(
        `PatchDiscriminator: norm '${options.norm}' is not supported (use "INSTANCE", as the reference)`,
      );
    }
    if ((options.dropout ?? 0) !== 0) throw new Error("PatchDiscriminator: dropout > 0 is not supported");
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
    const zeroBias = (options.init ?? "normal") === "normal";
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
