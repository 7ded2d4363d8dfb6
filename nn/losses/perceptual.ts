/**
 * Perceptual loss (SPEC §4): LPIPS v0.1 with a SqueezeNet-1.1 trunk, applied to 2-D slices of 3-D volumes
 * ("fake 3D"): for each spatial axis a random `fake3dRatio` share of the slices is compared and the three
 * axis means are summed. State-dict keys follow MONAI's `PerceptualLoss` (`perceptual_function.net.slice1.0.weight`,
 * `perceptual_function.lin0.model.1.weight`, …); torchvision / lpips weight files map onto them with
 * `squeezeNetKeysFromTorchvision` and `lpipsHeadKeys`.
 */
import {
  add,
  affine,
  concat,
  conv2d,
  div,
  indexSelect,
  mean,
  permutationHost,
  permute,
  relu,
  reshape,
  scope,
  slice,
  sqrt,
  square,
  sub,
  sum,
  type Tensor,
  tensor,
} from "../../tensor/mod.ts";
import { type HostRng, HostRng as Rng } from "../init.ts";
import { type LoadStateDictOptions, type LoadStateDictResult, Module } from "../module.ts";
import type { StateDict } from "../serialization/types.ts";
import { Dropout, ReLU } from "../layers/activation.ts";
import { Conv2d } from "../layers/conv.ts";
import { MaxPool2d } from "../layers/sampling.ts";
import { ModuleList, Sequential } from "../layers/sequential.ts";

/** torchvision `Fire`: squeeze 1×1 + ReLU, then concat(expand 1×1 + ReLU, expand 3×3 (p1) + ReLU). */
export class Fire extends Module {
  readonly squeeze: Conv2d;
  readonly expand1x1: Conv2d;
  readonly expand3x3: Conv2d;
  constructor(inCh: number, squeezeCh: number, e1: number, e3: number, rng: HostRng) {
    super();
    this.squeeze = this.registerModule("squeeze", new Conv2d(inCh, squeezeCh, 1, { rng }));
    this.expand1x1 = this.registerModule("expand1x1", new Conv2d(squeezeCh, e1, 1, { rng }));
    this.expand3x3 = this.registerModule("expand3x3", new Conv2d(squeezeCh, e3, 3, { padding: 1, rng }));
  }
  /** [N, Cin, H, W] → [N, e1 + e3, H, W]. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const s = relu(this.squeeze.forward(x));
      return concat([relu(this.expand1x1.forward(s)), relu(this.expand3x3.forward(s))], 1);
    });
  }
}

/** SqueezeNet 1.1 `features` split as LPIPS does into slice1…slice7 (children keep torchvision's indices). */
export class SqueezeNetFeatures extends Module {
  readonly slices: Sequential[];
  constructor(rng: HostRng) {
    super();
    const pool = () => new MaxPool2d(3, 2, 0, true);
    const layout: [string, Module & { forward(x: Tensor): Tensor }][][] = [
      [["0", new Conv2d(3, 64, 3, { stride: 2, rng })], ["1", new ReLU()]],
      [["2", pool()], ["3", new Fire(64, 16, 64, 64, rng)], ["4", new Fire(128, 16, 64, 64, rng)]],
      [["5", pool()], ["6", new Fire(128, 32, 128, 128, rng)], ["7", new Fire(256, 32, 128, 128, rng)]],
      [["8", pool()], ["9", new Fire(256, 48, 192, 192, rng)]],
      [["10", new Fire(384, 48, 192, 192, rng)]],
      [["11", new Fire(384, 64, 256, 256, rng)]],
      [["12", new Fire(512, 64, 256, 256, rng)]],
    ];
    this.slices = layout.map((l, i) => this.registerModule(`slice${i + 1}`, new Sequential(l)));
  }
  /** [N, 3, H, W] → the 7 taps (64, 128, 256, 384, 384, 512, 512 channels). */
  forward(x: Tensor): Tensor[] {
    const outs: Tensor[] = [];
    let h = x;
    for (const s of this.slices) {
      h = s.forward(h);
      outs.push(h);
    }
    return outs;
  }
}

/** The channel count of each SqueezeNet tap. */
export const SQUEEZE_TAP_CHANNELS: readonly number[] = [64, 128, 256, 384, 384, 512, 512];

/** LPIPS `NetLinLayer`: model = [Dropout, Conv2d(C → 1, 1×1, no bias)] (dropout inactive in eval). */
export class NetLinLayer extends Module {
  readonly model: Sequential;
  constructor(ch: number, rng: HostRng) {
    super();
    this.model = this.registerModule(
      "model",
      new Sequential([new Dropout(0.5), new Conv2d(ch, 1, 1, { bias: false, rng })]),
    );
  }
  /** [N, C, H, W] → [N, 1, H, W]. */
  forward(x: Tensor): Tensor {
    const conv = this.model.layers[1] as Conv2d;
    return conv2d(x, conv.weight, null);
  }
}

/** LPIPS ScalingLayer: (x − shift)/scale with per-RGB-channel buffers (a 1-channel input broadcasts to 3). */
export class ScalingLayer extends Module {
  readonly shift: Tensor;
  readonly scale: Tensor;
  constructor() {
    super();
    this.shift = this.registerBuffer("shift", tensor([-0.030, -0.088, -0.188], [1, 3, 1, 1]));
    this.scale = this.registerBuffer("scale", tensor([0.458, 0.448, 0.450], [1, 3, 1, 1]));
  }
  /** [N, 1 | 3, H, W] → [N, 3, H, W]. */
  forward(x: Tensor): Tensor {
    return scope(() => div(sub(x, this.shift), this.scale) as Tensor);
  }
}

/** Per-slice LPIPS and its parts. */
export interface LpipsOutput {
  /** [N, 1, 1, 1]: Σ of the layer terms. */
  value: Tensor;
  /** Seven [N, 1, 1, 1] layer terms. */
  layers: Tensor[];
}

/** LPIPS v0.1 (net "squeeze", lpips=True, eval mode): children scaling_layer, net, lin0…lin6, lins. */
export class LPIPS extends Module {
  readonly scalingLayer: ScalingLayer;
  readonly net: SqueezeNetFeatures;
  readonly lins: NetLinLayer[];
  constructor(rng: HostRng) {
    super();
    this.scalingLayer = this.registerModule("scaling_layer", new ScalingLayer());
    this.net = this.registerModule("net", new SqueezeNetFeatures(rng));
    this.lins = SQUEEZE_TAP_CHANNELS.map((c, i) => this.registerModule(`lin${i}`, new NetLinLayer(c, rng)));
    // The reference also lists the heads as `lins.<i>` (the same modules, so the state dict has both names).
    this.registerModule("lins", new ModuleList(this.lins));
    this.eval();
    this.requiresGrad(false);
  }

  /** SqueezeNet taps of the scaled input: [N, C, H, W] → 7 feature maps. */
  features(x: Tensor): Tensor[] {
    return scope(() => this.net.forward(this.scalingLayer.forward(x)));
  }

  /** LPIPS between in0 and in1, both [N, C, H, W] (C = 1 or 3; H, W ≥ 17, or the third pool has no window). */
  forward(in0: Tensor, in1: Tensor): LpipsOutput {
    return scope(() => {
      const n = in0.shape[0];
      // One trunk pass for both inputs (per-sample ops, so identical to two passes).
      const feats = this.features(concat([in0, in1], 0));
      const layers = feats.map((f, k) => {
        const a = normalizeChannels(slice(f, [0], [n]));
        const b = normalizeChannels(slice(f, [n], [2 * n]));
        const d = square(sub(a, b) as Tensor);
        return mean(this.lins[k].forward(d), [2, 3], true);
      });
      let value: Tensor = layers[0];
      for (const l of layers.slice(1)) value = add(value, l) as Tensor;
      return { value, layers };
    });
  }
}

/** f / (√Σ_c f² + 1e-10) along channels (lpips.normalize_tensor). */
export function normalizeChannels(f: Tensor): Tensor {
  return scope(() => {
    const norm = affine(sqrt(sum(square(f), 1, true)), 1, 1e-10);
    return div(f, norm) as Tensor;
  });
}

/** Options of `PerceptualLoss`. */
export interface PerceptualLossOptions {
  /** Only 3 (with isFake3d) is supported. */
  spatialDims?: number;
  /** Only "squeeze". */
  networkType?: string;
  isFake3d?: boolean;
  /** Share of slices per axis compared (reference 0.2; the count is ⌊n·ratio⌋). */
  fake3dRatio?: number;
  /** Seed of the slice choice (stream "perceptual/axis<a>", one step per call). */
  seed?: number;
  /** Init generator for the (to be loaded) weights. */
  rng?: HostRng;
}

/** Slice indices for axes 2, 3, 4 (each into the B·S_a batch of that axis). */
export type SliceIndices = [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];

/** Result of `PerceptualLoss.forward` with the per-axis terms. */
export interface PerceptualOutput {
  /** loss_axis2 + loss_axis4 + loss_axis3 (scalar [1]). */
  loss: Tensor;
  /** Mean LPIPS over the chosen slices of axes 2, 3, 4. */
  perAxis: Tensor[];
  /** The slice indices used per axis. */
  indices: Int32Array[];
}

/**
 * MONAI `PerceptualLoss(spatial_dims=3, network_type="squeeze", is_fake_3d=True)`: a frozen LPIPS on 2-D
 * slices. Weights must be loaded (`loadStateDict` with MONAI keys, or `loadTorchvisionWeights`); until then
 * `weightsLoaded` is false.
 */
export class PerceptualLoss extends Module {
  readonly perceptualFunction: LPIPS;
  readonly fake3dRatio: number;
  readonly seed: number;
  weightsLoaded = false;
  #calls = 0;
  constructor(options: PerceptualLossOptions = {}) {
    super();
    if ((options.spatialDims ?? 3) !== 3 || options.isFake3d === false) {
      throw new Error("PerceptualLoss: only spatialDims 3 with isFake3d (2.5-D slices) is supported");
    }
    if ((options.networkType ?? "squeeze") !== "squeeze") {
      throw new Error(`PerceptualLoss: network '${options.networkType}' is not supported (only "squeeze")`);
    }
    this.fake3dRatio = options.fake3dRatio ?? 0.5;
    this.seed = options.seed ?? 0;
    this.perceptualFunction = this.registerModule(
      "perceptual_function",
      new LPIPS(options.rng ?? new Rng(0)),
    );
    this.eval();
  }

  override loadStateDict(sd: StateDict, options?: LoadStateDictOptions): LoadStateDictResult {
    const r = super.loadStateDict(sd, options);
    this.weightsLoaded = true;
    return r;
  }

  /**
   * Loads torchvision SqueezeNet-1.1 weights (`features.N.*`) and LPIPS v0.1 heads (`linK.model.1.weight`),
   * either file may also carry the MONAI names already. Strict: every trunk and head weight must be present.
   */
  loadTorchvisionWeights(trunk: StateDict, heads: StateDict, file?: string): void {
    const sd: StateDict = new Map([
      ["perceptual_function.scaling_layer.shift", {
        dtype: "float32",
        shape: [1, 3, 1, 1],
        data: Float32Array.from([-0.030, -0.088, -0.188]),
      }],
      ["perceptual_function.scaling_layer.scale", {
        dtype: "float32",
        shape: [1, 3, 1, 1],
        data: Float32Array.from([0.458, 0.448, 0.450]),
      }],
    ]);
    for (const [k, v] of squeezeNetKeysFromTorchvision(trunk)) sd.set(k, v);
    for (const [k, v] of lpipsHeadKeys(heads)) sd.set(k, v);
    this.loadStateDict(sd, { strict: true, file });
  }

  /**
   * input, target: [B, C, X, Y, Z] → loss over 2-D slices along X, Y and Z. `sliceIndices` replaces the
   * random choice (e.g. indices recorded from the reference).
   */
  forward(input: Tensor, target: Tensor, sliceIndices?: SliceIndices): PerceptualOutput {
    if (input.shape.join() !== target.shape.join()) {
      throw new Error(`PerceptualLoss: input [${input.shape}] and target [${target.shape}] differ`);
    }
    if (input.rank !== 5) throw new Error(`PerceptualLoss: expects [B, C, X, Y, Z], got [${input.shape}]`);
    const call = this.#calls++;
    const indices: Int32Array[] = [];
    const out = scope(() => {
      const perAxis = [2, 3, 4].map((axis, k) => {
        const n = input.shape[0] * input.shape[axis];
        const idx = sliceIndices
          ? Int32Array.from(sliceIndices[k])
          : permutationHost(n, { seed: this.seed, stream: `perceptual/axis${axis}`, step: call })
            .slice(0, Math.floor(n * this.fake3dRatio));
        if (idx.length === 0) {
          throw new Error(
            `PerceptualLoss: ratio ${this.fake3dRatio} keeps no slice of ${n} along axis ${axis}`,
          );
        }
        indices.push(idx);
        const a = indexSelect(batchifyAxis(input, axis), 0, [...idx]);
        const b = indexSelect(batchifyAxis(target, axis), 0, [...idx]);
        return mean(this.perceptualFunction.forward(a, b).value);
      });
      // Reference behaviour: sagittal + axial + coronal, in that order.
      const loss = add(add(perAxis[0], perAxis[2]), perAxis[1]) as Tensor;
      return { loss, perAxis };
    });
    return { ...out, indices };
  }
}

/** [B, C, X, Y, Z] → [B·S_a, C, ·, ·]: slices along `axis` (2, 3, 4), slice index fastest within a sample. */
export function batchifyAxis(x: Tensor, axis: number): Tensor {
  const others = [2, 3, 4].filter((a) => a !== axis);
  return scope(() => {
    const p = permute(x, [0, axis, 1, ...others]);
    return reshape(p, [-1, x.shape[1], x.shape[others[0]], x.shape[others[1]]]);
  });
}

/** Maps torchvision `features.N.*` keys to `perceptual_function.net.sliceK.N.*` (others pass through). */
export function squeezeNetKeysFromTorchvision(sd: StateDict): StateDict {
  const sliceOf = (n: number) => (n <= 1 ? 1 : n <= 4 ? 2 : n <= 7 ? 3 : n <= 9 ? 4 : n - 5);
  const out: StateDict = new Map();
  for (const [k, v] of sd) {
    const m = /^(?:module\.)?features\.(\d+)\.(.+)$/.exec(k);
    if (m) out.set(`perceptual_function.net.slice${sliceOf(Number(m[1]))}.${m[1]}.${m[2]}`, v);
    else if (k.startsWith("perceptual_function.net.")) out.set(k, v);
    else if (k.startsWith("net.")) out.set(`perceptual_function.${k}`, v);
  }
  return out;
}

/** Maps LPIPS head keys `linK.model.1.weight` to both MONAI names (`lin{K}` and `lins.{K}`). */
export function lpipsHeadKeys(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) {
    const m = /^(?:perceptual_function\.)?lins?\.?(\d+)\.model\.1\.weight$/.exec(k);
    if (!m) continue;
    out.set(`perceptual_function.lin${m[1]}.model.1.weight`, v);
    out.set(`perceptual_function.lins.${m[1]}.model.1.weight`, v);
  }
  return out;
}
