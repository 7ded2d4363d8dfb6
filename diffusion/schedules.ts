/**
 * Noise (beta) schedules, as MONAI defines them (SPEC §7). The reference builds them with float32 torch ops;
 * we compute each op in float64 and round to float32 after it (Math.fround). The cumulative product is
 * accumulated in float64 and stored as float32, as torch's CPU cumprod does (bit-exact given the
 * fixture's alphas); our linspace may differ from torch's by one ulp.
 */

/** Names of the supported schedules. */
export const NOISE_SCHEDULES = ["linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine"] as const;

/** A schedule name. */
export type NoiseScheduleName = typeof NOISE_SCHEDULES[number];

/** Per-schedule arguments (MONAI's `schedule_args`); each schedule reads only its own. */
export interface ScheduleArgs {
  /** β at t = 0 (linear_beta, scaled_linear_beta, sigmoid_beta); MONAI default 1e-4. */
  betaStart?: number;
  /** β at t = T−1; MONAI default 2e-2. */
  betaEnd?: number;
  /** sigmoid_beta: the sigmoid is sampled on [−sigRange, sigRange]; default 6. */
  sigRange?: number;
  /** cosine: the offset `s` of Nichol & Dhariwal; default 8e-3. */
  cosineOffset?: number;
}

/** β_t, α_t = 1 − β_t and ᾱ_t, each of length T, float32. */
export interface NoiseScheduleArrays {
  betas: Float32Array;
  alphas: Float32Array;
  alphasCumprod: Float32Array;
}

const f = Math.fround;

/**
 * torch.linspace(start, end, steps, float32): evaluated in float64, rounded to float32. Torch's vectorised
 * float32 kernel rounds differently in the last bit for some elements (≤ 1 ulp; checked against the fixtures).
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  if (steps === 1) return Float32Array.of(start);
  const a = f(start), b = f(end);
  return Float32Array.from({ length: steps }, (_, i) => a + ((b - a) * i) / (steps - 1));
}

function fromBetas(betas: Float32Array): NoiseScheduleArrays {
  const alphas = betas.map((b) => f(1 - b));
  const alphasCumprod = new Float32Array(alphas.length);
  let acc = 1;
  for (let i = 0; i < alphas.length; i++) {
    acc *= alphas[i];
    alphasCumprod[i] = acc;
  }
  return { betas, alphas, alphasCumprod };
}

function sigmoid(x: number): number {
  return f(1 / (1 + Math.exp(-x)));
}

/**
 * Builds schedule `name` for `numTrainTimesteps` steps. Throws, listing the valid names, on an unknown name.
 */
export function noiseSchedule(
  name: string,
  numTrainTimesteps: number,
  args: ScheduleArgs = {},
): NoiseScheduleArrays {
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 1) {
    throw new Error(`noise schedule: numTrainTimesteps must be a positive integer, got ${numTrainTimesteps}`);
  }
  const T = numTrainTimesteps;
  const betaStart = args.betaStart ?? 1e-4;
  const betaEnd = args.betaEnd ?? 2e-2;
  switch (name) {
    case "linear_beta":
      return fromBetas(linspaceF32(betaStart, betaEnd, T));
    case "scaled_linear_beta":
      return fromBetas(linspaceF32(Math.sqrt(betaStart), Math.sqrt(betaEnd), T).map((v) => f(v * v)));
    case "sigmoid_beta": {
      const range = args.sigRange ?? 6;
      const width = f(betaEnd - betaStart);
      return fromBetas(linspaceF32(-range, range, T).map((x) => f(f(sigmoid(x) * width) + f(betaStart))));
    }
    case "cosine": {
      const s = args.cosineOffset ?? 8e-3;
      const x = linspaceF32(0, T, T + 1);
      const acp = x.map((v) => {
        const angle = f(f(f(f(f(v / T) + f(s)) / f(1 + s)) * f(Math.PI)) * 0.5);
        const c = f(Math.cos(angle));
        return f(c * c);
      });
      const first = acp[0];
      const normalised = acp.map((v) => f(v / first));
      const alphas = new Float32Array(T);
      for (let i = 0; i < T; i++) {
        alphas[i] = Math.min(Math.max(f(normalised[i + 1] / normalised[i]), f(0.0001)), f(0.9999));
      }
      const betas = alphas.map((a) => f(1 - a));
      // Reference behaviour: cosine returns ᾱ from the closed form, not the cumprod of the clipped alphas.
      return { betas, alphas, alphasCumprod: normalised.slice(0, T) };
    }
    default:
      throw new Error(`unknown noise schedule '${name}'; valid schedules: ${NOISE_SCHEDULES.join(", ")}`);
  }
}
