/** DDPMScheduler (Ho et al. 2020) as MONAI 1.4 implements it (SPEC §7.1). */
import type { Tensor } from "../tensor/mod.ts";
import {
  Scheduler,
  type SchedulerOptions,
  sqrtF32,
  type StepOptions,
  type StepPlan,
  type StepResult,
} from "./scheduler.ts";

/** Variance of the added noise: β̃_t (posterior, clamped ≥ 1e-20) or β_t. */
export const DDPM_VARIANCE_TYPES = ["fixed_small", "fixed_large"] as const;

/** A supported DDPM variance type ("learned" / "learned_range" are not supported). */
export type DdpmVarianceType = typeof DDPM_VARIANCE_TYPES[number];

/** DDPMScheduler constructor arguments. */
export interface DdpmOptions extends SchedulerOptions {
  /** Default "fixed_small". */
  varianceType?: DdpmVarianceType;
}

const f = Math.fround;

/**
 * The DDPM sampler. `step(ε̂, t, x_t)` → x_{t−1} = μ̃(x̂0, x_t) + σ_t·z in one kernel; z only for t > 0.
 * Samples are any float32 shape whose dim 0 is the batch.
 */
export class DDPMScheduler extends Scheduler {
  readonly varianceType: DdpmVarianceType;

  constructor(options: DdpmOptions = {}) {
    super("DDPMScheduler", options);
    const varianceType = options.varianceType ?? "fixed_small";
    if (!(DDPM_VARIANCE_TYPES as readonly string[]).includes(varianceType)) {
      throw new Error(
        `DDPMScheduler: unknown or unsupported varianceType '${varianceType}'; valid values: ${
          DDPM_VARIANCE_TYPES.join(", ")
        }`,
      );
    }
    this.varianceType = varianceType;
  }

  /** timesteps = (arange(N)·(T // N)) reversed. */
  setTimesteps(numInferenceSteps: number): void {
    this.timesteps = this.spacedTimesteps(numInferenceSteps, 0);
    this.numInferenceSteps = numInferenceSteps;
  }

  /** The "previous" timestep whose ᾱ the step uses. */
  previousTimestep(timestep: number): number {
    // Reference behaviour: MONAI 1.4 DDPM uses t − 1 even after set_timesteps(N < T).
    return timestep - 1;
  }

  /** The step's host coefficients (float32 arithmetic in the reference's order) and whether it adds noise. */
  stepCoefficients(timestep: number): StepPlan {
    this.checkTimestep("step", timestep);
    const prevT = this.previousTimestep(timestep);
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaProd = f(1 - alphaProd);
    const betaProdPrev = f(1 - alphaProdPrev);
    const beta = this.betas[timestep];
    const originalCoefficient = f(f(sqrtF32(alphaProdPrev) * beta) / betaProd);
    const sampleCoefficient = f(f(sqrtF32(this.alphas[timestep]) * betaProdPrev) / betaProd);
    let variance = this.varianceType === "fixed_small" ? f(f(betaProdPrev / betaProd) * beta) : beta;
    if (this.varianceType === "fixed_small") variance = Math.max(variance, f(1e-20));
    const noise = timestep > 0;
    return {
      coefficients: {
        ...this.predictionCoefficients(alphaProd, betaProd),
        lo: this.clipSampleMin,
        hi: this.clipSampleMax,
        p: originalCoefficient,
        q: sampleCoefficient,
        s: noise ? sqrtF32(variance) : 0,
      },
      noise,
    };
  }

  /**
   * x_{t−1} and x̂0 from the model output at `timestep` (one fused kernel). Noise: `options.noise` if given,
   * else drawn on the GPU from `options.generator`; none at t = 0.
   */
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const { coefficients, noise } = this.stepCoefficients(timestep);
    return this.launchStep("step", "ddpm", coefficients, noise, modelOutput, sample, options);
  }
}
