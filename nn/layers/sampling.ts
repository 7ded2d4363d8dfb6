/** Resampling layers: nearest-neighbour upsampling (3-D) and 2-D max pooling. */
import { maxPool2d, type Tensor, upsampleNearest3d } from "../../tensor/mod.ts";
import { Module } from "../module.ts";

/** Nearest-neighbour ×scale upsampling, `out[i] = in[floor(i/scale)]`: [B, C, X, Y, Z] → [B, C, sX, sY, sZ]. */
export class Upsample extends Module {
  constructor(readonly scaleFactor = 2) {
    super();
  }
  /** [B, C, X, Y, Z] → [B, C, sX, sY, sZ]. */
  forward(x: Tensor): Tensor {
    return upsampleNearest3d(x, this.scaleFactor);
  }
}

/** 2-D max pooling (PyTorch MaxPool2d). */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: number,
    readonly stride: number = kernelSize,
    readonly padding: number = 0,
    readonly ceilMode: boolean = false,
  ) {
    super();
  }
  /** [B, C, H, W] → [B, C, H', W']. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.stride, { padding: this.padding, ceilMode: this.ceilMode });
  }
}
