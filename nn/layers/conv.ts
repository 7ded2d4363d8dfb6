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

/** 3-D convolution: [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']; weight [Cout, Cin, k, k, k]. */
export class Conv3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: ConvPadding;
  readonly dilation: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: ConvOptions = {},
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    const shape = [outChannels, inChannels, kernelSize, kernelSize, kernelSize];
    const useBias = options.bias ?? true;
    const init = defaultInit(shape, useBias ? outChannels : 0, options.rng);
    this.weight = this.registerParameter("weight", hostTensor(init.weight, shape));
    this.bias = init.bias ? this.registerParameter("bias", hostTensor(init.bias, [outChannels])) : null;
  }

  /** [B, Cin, X, Y, Z] → [B, Cout, X', Y', Z']. */
  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
    });
  }
}

/** 2-D convolution: [B, Cin, H, W] → [B, Cout, H', W']; weight [Cout, Cin, k, k]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: ConvPadding;
  readonly dilation: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: ConvOptions = {},
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    const shape = [outChannels, inChannels, kernelSize, kernelSize];
    const useBias = options.bias ?? true;
    const init = defaultInit(shape, useBias ? outChannels : 0, options.rng);
    this.weight = this.registerParameter("weight", hostTensor(init.weight, shape));
    this.bias = init.bias ? this.registerParameter("bias", hostTensor(init.bias, [outChannels])) : null;
  }

  /** [B, Cin, H, W] → [B, Cout, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
    });
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
export class ConvTranspose3d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: ConvTransposeOptions = {},
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.outputPadding = options.outputPadding ?? 0;
    const shape = [inChannels, outChannels, kernelSize, kernelSize, kernelSize];
    const useBias = options.bias ?? true;
    // PyTorch computes fan_in from weight dim 1 (= Cout here) for transposed convs too.
    const init = defaultInit(shape, useBias ? outChannels : 0, options.rng);
    this.weight = this.registerParameter("weight", hostTensor(init.weight, shape));
    this.bias = init.bias ? this.registerParameter("bias", hostTensor(init.bias, [outChannels])) : null;
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
