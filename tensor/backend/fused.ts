/**
 * Fused update primitives: optimizer step, diffusion-scheduler step and noise mixing. They stay primitives
 * (not a generic expression) because each fixes an operation order (PyTorch's float32 rounding) that tests
 * compare bit-for-bit-ish against the reference.
 */

/** Which optimizer update rule. */
export type OptimizerKind = "adam" | "sgd";

/** Hyper-parameters of one update; bias corrections are computed on the host in double, as PyTorch does. */
export interface OptimizerStepArgs {
  lr: number;
  weightDecay: number;
  /** Adam: betas, eps, AdamW-style decoupled decay, bias corrections of this step. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  decoupled?: boolean;
  /** lr / (1 − β1^t). */
  stepSize?: number;
  /** √(1 − β2^t). */
  biasCorrection2Sqrt?: number;
  /** SGD: momentum, dampening, nesterov, and whether the momentum buffer is being created (first step). */
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  firstStep?: boolean;
}

/** What a scheduler step is specialised on. */
export interface SchedulerStepSpec {
  /** "ddpm": prev = P·x̂0 + Q·x (+ S·z); "ddim": prev = P·x̂0 + Q·ε̂ (+ S·z). */
  form: "ddpm" | "ddim";
  /** Clamp x̂0 to [lo, hi]. */
  clip: boolean;
  /** Add S·z from the noise input. */
  noise: boolean;
}

/**
 * Host-side coefficients of one step, for sample x and model output m:
 * x̂0 = (a·x + b·m) / c, then clipped to [lo, hi]; ε̂ = (d·x + e·m) / f (ddim form only);
 * prev = p·x̂0 + q·(x or ε̂) + s·z.
 */
export interface SchedulerStepCoefficients {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
  lo: number;
  hi: number;
  p: number;
  q: number;
  s: number;
}

/** add_noise: √ᾱ_t·x0 + √(1−ᾱ_t)·ε; velocity: √ᾱ_t·ε − √(1−ᾱ_t)·x0. */
export type NoiseMixOp = "addNoise" | "velocity";
