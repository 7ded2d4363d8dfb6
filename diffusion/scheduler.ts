/**
 * What DDPM and DDIM share: the schedule arrays, the inference timesteps, add_noise / get_velocity (one
 * kernel each, coefficients gathered on the device) and the fused step launcher.
 */
import { backend, cast, empty, randn, sameShape, type Shape, type Tensor, tensor } from "../tensor/mod.ts";
import type { SchedulerStepCoefficients, SchedulerStepSpec } from "../tensor/mod.ts";

export type { SchedulerStepCoefficients };
import { noiseSchedule, type NoiseScheduleName } from "./schedules.ts";

/** What the model predicts. */
export const PREDICTION_TYPES = ["epsilon", "sample", "v_prediction"] as const;

/** A prediction type: the noise ε, the clean sample x0, or the velocity v = √ᾱ·ε − √(1−ᾱ)·x0. */
export type PredictionType = typeof PREDICTION_TYPES[number];

/** Constructor arguments common to both schedulers (MONAI's names, camelCased). */
export interface SchedulerOptions {
  /** Training diffusion steps T (default 1000). */
  numTrainTimesteps?: number;
  /** Beta schedule (MONAI default "linear_beta"). */
  schedule?: NoiseScheduleName;
  /** β_0 (default 1e-4). */
  betaStart?: number;
  /** β_{T−1} (default 2e-2). */
  betaEnd?: number;
  /** sigmoid_beta range (default 6). */
  sigRange?: number;
  /** cosine offset s (default 8e-3). */
  cosineOffset?: number;
  /** What the model predicts (default "epsilon"). */
  predictionType?: PredictionType;
  /**
   * Clamp x̂0 to [clipSampleMin, clipSampleMax]. Default false: MONAI defaults to true, which suits pixel
   * space but confines latents (which are not in [−1, 1]); pass true for the reference behaviour.
   */
  clipSample?: boolean;
  /** Lower clip bound (default −1). */
  clipSampleMin?: number;
  /** Upper clip bound (default 1). */
  clipSampleMax?: number;
}

/** Where a step's noise comes from when none is injected: a counter-based GPU draw. */
export interface NoiseGenerator {
  seed: number;
  /** Stream name (default "diffusion/step-noise"). */
  stream?: string;
  /** Counter that must differ between steps (default: the scheduler's own draw counter). */
  step?: number;
}

/** Options of `step()`. */
export interface StepOptions {
  /** DDIM η (overrides the constructor's); ignored by DDPM. */
  eta?: number;
  /** Injected standard-normal noise, same shape as the sample (used instead of drawing). */
  noise?: Tensor;
  /** Draw the noise from this generator (default seed 0, stream "diffusion/step-noise", internal counter). */
  generator?: NoiseGenerator;
}

/** The result of one step. Both tensors are new; the caller disposes them. */
export interface StepResult {
  /** x_{t−1}. */
  prevSample: Tensor;
  /** x̂0, after clipping when clipSample is on. */
  predOriginalSample: Tensor;
}

/** A step's host-side plan: the fused kernel's coefficients and whether the step adds noise. */
export interface StepPlan {
  coefficients: SchedulerStepCoefficients;
  noise: boolean;
}

/** Timesteps given to add_noise: host integers (one per batch element, or one for all) or an int32 tensor. */
export type TimestepsInput = number | readonly number[] | Int32Array | Tensor;

const f = Math.fround;

/** Float32 square root, as `x ** 0.5` on a float32 tensor. */
export function sqrtF32(x: number): number {
  return f(Math.sqrt(x));
}

/** Base class: schedule, timesteps, add_noise / get_velocity, and the fused step launcher. */
export abstract class Scheduler {
  readonly numTrainTimesteps: number;
  readonly schedule: NoiseScheduleName;
  readonly predictionType: PredictionType;
  readonly clipSample: boolean;
  readonly clipSampleMin: number;
  readonly clipSampleMax: number;
  /** β_t, float32, length T. */
  readonly betas: Float32Array;
  /** α_t = 1 − β_t. */
  readonly alphas: Float32Array;
  /** ᾱ_t. */
  readonly alphasCumprod: Float32Array;
  /** The timesteps `step()` is called with, in order (T−1 … 0 until `setTimesteps`). */
  timesteps: Int32Array;
  /** N given to the last `setTimesteps` (T before any call). */
  numInferenceSteps: number;
  #table: Tensor | null = null;
  #draws = 0;

  constructor(readonly name: string, o: SchedulerOptions) {
    this.numTrainTimesteps = o.numTrainTimesteps ?? 1000;
    this.schedule = o.schedule ?? "linear_beta";
    const predictionType = o.predictionType ?? "epsilon";
    if (!(PREDICTION_TYPES as readonly string[]).includes(predictionType)) {
      throw new Error(
        `${name}: unknown predictionType '${predictionType}'; valid values: ${PREDICTION_TYPES.join(", ")}`,
      );
    }
    this.predictionType = predictionType;
    this.clipSample = o.clipSample ?? false;
    this.clipSampleMin = o.clipSampleMin ?? -1;
    this.clipSampleMax = o.clipSampleMax ?? 1;
    let arrays;
    try {
      arrays = noiseSchedule(this.schedule, this.numTrainTimesteps, o);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    this.betas = arrays.betas;
    this.alphas = arrays.alphas;
    this.alphasCumprod = arrays.alphasCumprod;
    this.numInferenceSteps = this.numTrainTimesteps;
    this.timesteps = Int32Array.from(
      { length: this.numTrainTimesteps },
      (_, i) => this.numTrainTimesteps - 1 - i,
    );
  }

  /** Validates N for `setTimesteps` and returns the reference spacing (arange(N)·(T // N)) reversed. */
  protected spacedTimesteps(numInferenceSteps: number, offset: number): Int32Array {
    const T = this.numTrainTimesteps;
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > T) {
      throw new Error(
        `${this.name}.setTimesteps: numInferenceSteps must be an integer in [1, ${T}] (numTrainTimesteps), ` +
          `got ${numInferenceSteps}`,
      );
    }
    const ratio = Math.floor(T / numInferenceSteps);
    return Int32Array.from(
      { length: numInferenceSteps },
      (_, i) => (numInferenceSteps - 1 - i) * ratio + offset,
    );
  }

  /** Checks a host timestep: an integer in [0, T). */
  protected checkTimestep(op: string, t: number): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new Error(
        `${this.name}.${op}: timestep ${t} is out of range; valid timesteps are the integers 0..${
          this.numTrainTimesteps - 1
        }`,
      );
    }
  }

  /** x̂0 = (a·x + b·m)/c and ε̂ = (d·x + e·m)/f for the prediction type, with ᾱ_t and 1 − ᾱ_t. */
  protected predictionCoefficients(
    alphaProd: number,
    betaProd: number,
  ): Pick<SchedulerStepCoefficients, "a" | "b" | "c" | "d" | "e" | "f"> {
    const sa = sqrtF32(alphaProd), sb = sqrtF32(betaProd);
    switch (this.predictionType) {
      case "epsilon": // x̂0 = (x − √β̄·ε̂)/√ᾱ; ε̂ = m
        return { a: 1, b: -sb, c: sa, d: 0, e: 1, f: 1 };
      case "sample": // x̂0 = m; ε̂ = (x − √ᾱ·x̂0)/√β̄
        return { a: 0, b: 1, c: 1, d: 1, e: -sa, f: sb };
      case "v_prediction": // x̂0 = √ᾱ·x − √β̄·v; ε̂ = √ᾱ·v + √β̄·x
        return { a: sa, b: -sb, c: 1, d: sb, e: sa, f: 1 };
    }
  }

  /** Runs the fused step kernel; draws N(0, 1) noise on the GPU when `s` needs it and none was injected. */
  protected launchStep(
    op: string,
    form: SchedulerStepSpec["form"],
    k: SchedulerStepCoefficients,
    useNoise: boolean,
    modelOutput: Tensor,
    sample: Tensor,
    o: StepOptions,
  ): StepResult {
    if (!sameShape(modelOutput.shape, sample.shape)) {
      throw new Error(
        `${this.name}.${op}: modelOutput [${modelOutput.shape}] and sample [${sample.shape}] must have the same shape`,
      );
    }
    for (const [what, t] of [["modelOutput", modelOutput], ["sample", sample]] as const) {
      if (t.dtype !== "float32") {
        throw new Error(`${this.name}.${op}: ${what} must be float32, got ${t.dtype}`);
      }
    }
    let noise: Tensor | null = null;
    let drawn = false;
    if (useNoise) {
      if (o.noise) {
        if (!sameShape(o.noise.shape, sample.shape) || o.noise.dtype !== "float32") {
          throw new Error(
            `${this.name}.${op}: noise must be float32 [${sample.shape}], got ${o.noise.dtype} [${o.noise.shape}]`,
          );
        }
        noise = o.noise;
      } else {
        const g = o.generator ?? { seed: 0 };
        noise = randn(sample.shape as Shape, {
          seed: g.seed,
          stream: g.stream ?? "diffusion/step-noise",
          step: g.step ?? this.#draws,
        });
        this.#draws++;
        drawn = true;
      }
    }
    const prevSample = empty(sample.shape, "float32");
    const predOriginalSample = empty(sample.shape, "float32");
    backend().schedulerStep({
      spec: { form, clip: this.clipSample, noise: noise !== null },
      sample: sample.buffer(`${this.name}.${op}`),
      modelOutput: modelOutput.buffer(`${this.name}.${op}`),
      noise: noise?.buffer(`${this.name}.${op}`) ?? null,
      prev: prevSample.buffer(),
      pred: predOriginalSample.buffer(),
      n: sample.size,
      coefficients: k,
    });
    if (drawn) noise!.dispose();
    return { prevSample, predOriginalSample };
  }

  /** √ᾱ_t then √(1−ᾱ_t) for every t, float32, on the device (built once). */
  #coefficientTable(): Tensor {
    if (!this.#table || this.#table.disposed) {
      const T = this.numTrainTimesteps;
      const host = new Float32Array(2 * T);
      for (let t = 0; t < T; t++) {
        host[t] = sqrtF32(this.alphasCumprod[t]);
        host[T + t] = sqrtF32(f(1 - this.alphasCumprod[t]));
      }
      this.#table = tensor(host, [2 * T]).keep();
    }
    return this.#table;
  }

  #mix(
    op: "addNoise" | "velocity",
    name: string,
    original: Tensor,
    noise: Tensor,
    timesteps: TimestepsInput,
  ): Tensor {
    if (!sameShape(original.shape, noise.shape)) {
      throw new Error(
        `${this.name}.${name}: original [${original.shape}] and noise [${noise.shape}] differ in shape`,
      );
    }
    if (original.dtype !== "float32" || noise.dtype !== "float32") {
      throw new Error(
        `${this.name}.${name}: needs float32 tensors, got ${original.dtype} and ${noise.dtype}`,
      );
    }
    const batch = original.rank > 0 ? original.shape[0] : 1;
    let ts: Tensor;
    let owned = false;
    if (typeof timesteps === "number" || Array.isArray(timesteps) || timesteps instanceof Int32Array) {
      const host = typeof timesteps === "number" ? [timesteps] : Array.from(timesteps as ArrayLike<number>);
      host.forEach((t) => this.checkTimestep(name, t));
      ts = tensor(Int32Array.from(host), [host.length], "int32");
      owned = true;
    } else {
      const t = timesteps as Tensor;
      if (t.dtype === "int32") ts = t;
      else {
        // Float timesteps (the reference's sampling loop builds float ones) are truncated to integers.
        ts = cast(t, "int32");
        owned = true;
      }
    }
    const count = ts.size;
    if (count !== batch && count !== 1) {
      if (owned) ts.dispose();
      throw new Error(
        `${this.name}.${name}: ${count} timesteps for a batch of ${batch}; give one per batch element or one for all`,
      );
    }
    const out = empty(original.shape, "float32");
    backend().noiseMix({
      op,
      original: original.buffer(`${this.name}.${name}`),
      noise: noise.buffer(`${this.name}.${name}`),
      timesteps: ts.buffer(`${this.name}.${name}`),
      table: this.#coefficientTable().buffer(),
      out: out.buffer(),
      n: original.size,
      perSample: original.size / batch,
      timestepCount: count,
      numTrainTimesteps: this.numTrainTimesteps,
    });
    if (owned) ts.dispose();
    return out;
  }

  /**
   * √ᾱ_t·original + √(1−ᾱ_t)·noise with one t per batch element (dim 0), in one kernel. Tensor timesteps
   * stay on the device (no readback); out-of-range device timesteps give NaN, host ones throw.
   */
  addNoise(original: Tensor, noise: Tensor, timesteps: TimestepsInput): Tensor {
    return this.#mix("addNoise", "addNoise", original, noise, timesteps);
  }

  /** The v-prediction target √ᾱ_t·noise − √(1−ᾱ_t)·sample, one t per batch element, in one kernel. */
  getVelocity(sample: Tensor, noise: Tensor, timesteps: TimestepsInput): Tensor {
    return this.#mix("velocity", "getVelocity", sample, noise, timesteps);
  }

  /** Frees the device-side coefficient table (the scheduler stays usable; it is rebuilt on demand). */
  dispose(): void {
    this.#table?.dispose();
    this.#table = null;
  }

  /** Sets N inference steps with the reference spacing. */
  abstract setTimesteps(numInferenceSteps: number): void;

  /** The timestep whose ᾱ a step from `timestep` moves to (below 0: the final ᾱ). */
  abstract previousTimestep(timestep: number): number;

  /** The host-side coefficients of a step from `timestep` (validates it). */
  abstract stepCoefficients(timestep: number, eta?: number): StepPlan;

  /** One reverse step from `sample` at `timestep` with the model's output; one fused kernel. */
  abstract step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): StepResult;
}
