/**
 * Convolution layers (PyTorch layouts) and MONAI's `Convolution(conv_only=True)` wrapper, whose child is
 * named `conv` — hence state-dict keys like `encoder.blocks.1.conv1.conv.weight`.
 */
import { conv2d, conv3d, convTranspose3d, type Tensor } from "../../tensor/mod.ts";
import { defaultInit, type HostRng } from "../init.ts";
import { hostTensor, Module } from "../module.ts";

/** Padding of a conv: one number for every axis, one per axis, or explicit before/after amounts per axis. */
export type ConvPadding = number | number[] | { before: number[]; after: number[] };

/** Options shared by the conv layers. */
export interface ConvOptions {
  stride?: number;
  padding?: ConvPadding;
  dilation?: number;
  /** Learnable bias (default true). */
  bias?: boolean;
  /** Init generator (default: the global one). */
  rng?: HostRng;
}

/** A conv layer's parameters: the weight and optional bias with PyTorch's default init (fan-in from dim 1). */
abstract class ConvParameters extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(shape: number[], outChannels: number, options: { bias?: boolean; rng?: HostRng }) {
    super();
    const init = defaultInit(shape, (options.bias ?? true) ? outChannels : 0, options.rng);
    this.weight = this.registerParameter("weight", hostTensor(init.weight, shape));
    this.bias = init.bias ? this.registerParameter("bias", hostTensor(init.bias, [outChannels])) : null;
  }
}

/** Conv3d / Conv2d: weight [Cout, Cin, k, …] over `spatialDims` axes; stride, padding and dilation as given. */
abstract class ConvNd extends ConvParameters {
  readonly stride: number;
  readonly padding: ConvPadding;
  readonly dilation: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    spatialDims: number,
    options: ConvOptions,
  ) {
    super([outChannels, inChannels, ...Array(spatialDims).fill(kernelSize)], outChannels, options);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
  }
  protected get convOptions(): { stride: number; padding: ConvPadding; dilation: number } {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation };
  }
}

/** 3-D convolution: [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']; weight [Cout, Cin, k, k, k]. */
export class Conv3d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: ConvOptions = {}) {
    super(inChannels, outChannels, kernelSize, 3, options);
  }
  /** [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']. */
  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, this.convOptions);
  }
}

/** 2-D convolution: [B, Cin, H, W] → [B, Cout, H', W']; weight [Cout, Cin, k, k]. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: ConvOptions = {}) {
    super(inChannels, outChannels, kernelSize, 2, options);
  }
  /** [B, Cin, H, W] → [B, Cout, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.convOptions);
  }
}

/** Options of `ConvTranspose3d`. */
export interface ConvTransposeOptions {
  stride?: number;
  padding?: number;
  outputPadding?: number;
  bias?: boolean;
  rng?: HostRng;
}

/** Transposed 3-D convolution; weight [Cin, Cout, k, k, k] (PyTorch layout). */
export class ConvTranspose3d extends ConvParameters {
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: ConvTransposeOptions = {},
  ) {
    // PyTorch computes fan_in from weight dim 1 (= Cout here) for transposed convs too.
    super([inChannels, outChannels, kernelSize, kernelSize, kernelSize], outChannels, options);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.outputPadding = options.outputPadding ?? 0;
  }

  /** [B, Cin, X, Y, Z] → [B, Cout, (X−1)·s − 2p + k + op, …]. */
  forward(x: Tensor): Tensor {
    return convTranspose3d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
    });
  }
}

/**
 * MONAI `Convolution(spatial_dims=3, conv_only=True)`: a module whose only child is the Conv3d `conv`.
 * Exists so state-dict keys read `<name>.conv.weight` as in the reference.
 */
export class Convolution extends Module {
  readonly conv: Conv3d;
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: ConvOptions = {}) {
    super();
    this.conv = this.registerModule("conv", new Conv3d(inChannels, outChannels, kernelSize, options));
  }
  /** [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']. */
  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}
