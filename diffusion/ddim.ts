/** DDIMScheduler (Song et al. 2021) as MONAI 1.4 implements it (SPEC §7.2). */
import type { Tensor } from "../tensor/mod.ts";
import {
  Scheduler,
  type SchedulerOptions,
  sqrtF32,
  type StepOptions,
  type StepPlan,
  type StepResult,
} from "./scheduler.ts";

/** DDIMScheduler constructor arguments. */
export interface DdimOptions extends SchedulerOptions {
  /** ᾱ of the step after the last: 1 (true, default) or ᾱ_0. */
  setAlphaToOne?: boolean;
  /** Added to every inference timestep (default 0). */
  stepsOffset?: number;
  /** Default η for `step()` (0 = deterministic DDIM; MONAI takes η per step, default 0). */
  eta?: number;
}

const f = Math.fround;

/**
 * The DDIM sampler. `step(ε̂, t, x_t)` → x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ (+ σ·z when η > 0),
 * σ = η·√((1−ᾱ_prev)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_prev)); one kernel per step.
 */
export class DDIMScheduler extends Scheduler {
  readonly setAlphaToOne: boolean;
  readonly stepsOffset: number;
  readonly eta: number;
  /** ᾱ used when the previous timestep is below 0. */
  readonly finalAlphaCumprod: number;

  constructor(options: DdimOptions = {}) {
    super("DDIMScheduler", options);
    this.setAlphaToOne = options.setAlphaToOne ?? true;
    this.stepsOffset = options.stepsOffset ?? 0;
    this.eta = options.eta ?? 0;
    if (!Number.isInteger(this.stepsOffset) || this.stepsOffset < 0) {
      throw new Error(`DDIMScheduler: stepsOffset must be a non-negative integer, got ${this.stepsOffset}`);
    }
    this.finalAlphaCumprod = this.setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.setTimesteps(this.numTrainTimesteps);
  }

  /** timesteps = (arange(N)·(T // N)) reversed + stepsOffset. */
  setTimesteps(numInferenceSteps: number): void {
    this.timesteps = this.spacedTimesteps(numInferenceSteps, this.stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  /** The previous timestep: t − T // N. */
  previousTimestep(timestep: number): number {
    return timestep - Math.floor(this.numTrainTimesteps / this.numInferenceSteps);
  }

  /** The step's host coefficients (float32 arithmetic in the reference's order) and whether it adds noise. */
  stepCoefficients(timestep: number, eta: number = this.eta): StepPlan {
    this.checkTimestep("step", timestep);
    if (!(eta >= 0)) throw new Error(`DDIMScheduler.step: eta must be ≥ 0, got ${eta}`);
    const prevT = this.previousTimestep(timestep);
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const betaProd = f(1 - alphaProd);
    const betaProdPrev = f(1 - alphaProdPrev);
    const variance = f(f(betaProdPrev / betaProd) * f(1 - f(alphaProd / alphaProdPrev)));
    const std = f(eta * sqrtF32(variance));
    const noise = eta > 0;
    return {
      coefficients: {
        ...this.predictionCoefficients(alphaProd, betaProd),
        lo: this.clipSampleMin,
        hi: this.clipSampleMax,
        p: sqrtF32(alphaProdPrev),
        // Reference behaviour: the direction term uses ε̂ computed before x̂0 was clipped.
        q: sqrtF32(f(betaProdPrev - f(std * std))),
        s: noise ? std : 0,
      },
      noise,
    };
  }

  /**
   * x_prev and x̂0 from the model output at `timestep` (one fused kernel). With η > 0 the noise is
   * `options.noise` if given, else drawn on the GPU from `options.generator`.
   */
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const { coefficients, noise } = this.stepCoefficients(timestep, options.eta ?? this.eta);
    return this.launchStep("step", "ddim", coefficients, noise, modelOutput, sample, options);
  }
}
