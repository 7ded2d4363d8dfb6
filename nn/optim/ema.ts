/**
 * Exponential moving average of weights (standard for diffusion models: samples from the average are
 * smoother and better early in training). shadow ← d·shadow + (1 − d)·param, one fused kernel per parameter
 * with no readback: it reuses the SGD update p ← p − lr·(g + wd·p) with p = shadow, g = param, wd = −1 and
 * lr = −(1 − d), which is shadow + (1 − d)·(param − shadow).
 */
import { backend, type Tensor, zeros } from "../../tensor/mod.ts";

/** Options of {@link ExponentialMovingAverage}. */
export interface EmaOptions {
  /** Decay d in [0, 1) (e.g. 0.999). */
  decay: number;
  /**
   * Use min(d, (1 + n)/(10 + n)) at the n-th update (TensorFlow's num_updates form; default true), so a short
   * run is not dominated by the random initial weights.
   */
  warmup?: boolean;
  /** Updates already done (resuming). */
  updates?: number;
}

/** Keeps `shadow[i]` as the moving average of `source[i]` (same shapes, float32). */
export class ExponentialMovingAverage {
  readonly decay: number;
  readonly warmup: boolean;
  /** Updates done so far (saved with checkpoints). */
  updates: number;

  constructor(readonly source: readonly Tensor[], readonly shadow: readonly Tensor[], o: EmaOptions) {
    if (!(o.decay >= 0 && o.decay < 1)) throw new Error(`EMA: decay must be in [0, 1), got ${o.decay}`);
    if (source.length !== shadow.length) {
      throw new Error(`EMA: ${source.length} source tensors but ${shadow.length} shadow tensors`);
    }
    source.forEach((p, i) => {
      const s = shadow[i];
      if (p.shape.join() !== s.shape.join() || p.dtype !== "float32" || s.dtype !== "float32") {
        throw new Error(
          `EMA: tensor ${i} is ${p.dtype} [${p.shape}] but its shadow is ${s.dtype} [${s.shape}]`,
        );
      }
    });
    this.decay = o.decay;
    this.warmup = o.warmup ?? true;
    this.updates = o.updates ?? 0;
  }

  /** The decay the next update uses. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.updates) / (10 + this.updates)) : this.decay;
  }

  /** shadow ← d·shadow + (1 − d)·source for every tensor (recorded on the device; nothing is read back). */
  update(): void {
    this.mix(-(1 - this.currentDecay()), -1);
    this.updates++;
  }

  /** shadow ← source exactly (no readback): shadow − 1·(0 + 1·shadow) = 0, then 0 + 1·source. */
  copyFromSource(): void {
    for (const s of this.shadow) {
      const z = zeros(s.shape);
      this.kernel(s, z, 1, 1);
      z.dispose();
    }
    this.mix(-1, 0);
  }

  private mix(lr: number, weightDecay: number): void {
    this.source.forEach((p, i) => this.kernel(this.shadow[i], p, lr, weightDecay));
  }

  /** target ← target − lr·(g + wd·target): the SGD kernel without momentum. */
  private kernel(target: Tensor, g: Tensor, lr: number, weightDecay: number): void {
    backend().optimizerStep({
      kind: "sgd",
      param: target.buffer("EMA"),
      grad: g.buffer("EMA"),
      state: [],
      n: target.size,
      args: { lr, weightDecay, momentum: 0, dampening: 0, nesterov: false, firstStep: false },
    });
  }
}
