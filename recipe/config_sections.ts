/**
 * The recipe's config sections besides the models (whose arguments the models declare): the top level,
 * `autoencoder_train`, `diffusion_train`, `NoiseScheduler` and the environment file, each declared once
 * (name, type, default, the reference's other spellings); their types and validation derive from it.
 *
 * @module
 */
import { DEFAULT_MAX_RESAMPLED_VOXELS } from "../data/transforms/spacing.ts";
import type { ConfigOf, Declaration, RuleProblem } from "../nn/args/declare.ts";

/** The top level: data settings and the shared sizes the sections refer to. */
export const TOP_ARGS = {
  owner: "config",
  args: {
    /** MRI channel to keep (0 = FLAIR). */
    channel: { type: "non-negative integer", config: "required" },
    /** Resampling voxel size in mm [X, Y, Z]. */
    spacing: { type: "positive number", list: 3, config: "required" },
    /** Cap on a resampled volume in voxels (ours; raised to the crop size when smaller). */
    maxResampledVoxels: { type: "positive integer", default: DEFAULT_MAX_RESAMPLED_VOXELS },
    /** Spatial dimensions. */
    spatialDims: { type: "positive integer", config: "required" },
    /** Image channels. */
    imageChannels: { type: "positive integer", config: "required" },
    /** Latent channels. */
    latentChannels: { type: "positive integer", config: "required" },
  },
} as const satisfies Declaration;

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export const AUTOENCODER_TRAIN_ARGS = {
  owner: "autoencoder_train",
  args: {
    /** Batch size per GPU. */
    batchSize: { type: "positive integer", config: "required" },
    /** Random crop size [X, Y, Z]; divisible by the autoencoder's downsampling factor. */
    patchSize: { type: "positive integer", list: 3, config: "required" },
    /** Adam learning rate per GPU (multiplied by the number of GPUs). */
    lr: { type: "positive number", config: "required" },
    /** Perceptual loss weight. */
    perceptualWeight: { type: "number", config: "required" },
    /** KL loss weight. */
    klWeight: { type: "number", config: "required" },
    /** Reconstruction loss: "l1" (L1Loss) or "l2" (MSELoss). */
    reconLoss: { oneOf: ["l1", "l2"], config: "required" },
    /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
    maxEpochs: { type: "non-negative integer", gm: "n_epochs", config: "required" },
    /** Validate when `epoch % valInterval == 0`. */
    valInterval: { type: "positive integer", config: "required" },
    // Reference behaviour: adv_weight = 0.01 and a 5-epoch warm-up are hard-coded in train_autoencoder.py.
    /** Adversarial loss weight. */
    advWeight: { type: "number", default: 0.01 },
    /** Adversarial terms start when `epoch > warmUpEpochs`. */
    warmUpEpochs: { type: "non-negative integer", default: 5 },
  },
} as const satisfies Declaration;

/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export const DIFFUSION_TRAIN_ARGS = {
  owner: "diffusion_train",
  args: {
    /** Batch size per GPU. */
    batchSize: { type: "positive integer", config: "required" },
    /** Centre crop size [X, Y, Z]; divisible by (autoencoder × UNet) downsampling. */
    patchSize: { type: "positive integer", list: 3, config: "required" },
    /** Adam learning rate per GPU (multiplied by the number of GPUs). */
    lr: { type: "positive number", config: "required" },
    /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
    maxEpochs: { type: "non-negative integer", gm: "n_epochs", config: "required" },
    /** Validate when `epoch % valInterval == 0`. */
    valInterval: { type: "positive integer", config: "required" },
    /** Decay of an exponential moving average of the UNet's weights, used for sampling (absent = off, the reference). */
    emaDecay: { type: "number in [0, 1)", config: "ifGiven" },
    /** Linear learning-rate warm-up over this many optimizer steps (absent = none, the reference). */
    warmupSteps: { type: "non-negative integer", config: "ifGiven" },
  },
} as const satisfies Declaration;

/** The betas must rise. */
function betasRise(a: { betaStart: number; betaEnd: number }): RuleProblem[] {
  return a.betaStart >= a.betaEnd
    ? [{ arg: "betaStart", message: `must be below beta_end (${a.betaStart} ≥ ${a.betaEnd})` }]
    : [];
}

/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1); unset arguments take the class defaults. */
export const NOISE_SCHEDULER_ARGS = {
  owner: "NoiseScheduler",
  args: {
    /** Training timesteps. */
    numTrainTimesteps: { type: "positive integer", config: "required" },
    /** First beta. */
    betaStart: { type: "positive number", config: "required" },
    /** Last beta. */
    betaEnd: { type: "positive number", config: "required" },
    /** Beta schedule. */
    schedule: {
      oneOf: ["linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine"],
      default: "scaled_linear_beta",
    },
    /** Variance type. */
    varianceType: { oneOf: ["fixed_small", "fixed_large"], default: "fixed_small" },
    /** Clamp x̂0 to [-1, 1] when sampling; absent = not set in the file (sampling then does not clip latents). */
    clipSample: { type: "boolean", config: "ifGiven" },
    /** What the network predicts. */
    predictionType: { oneOf: ["epsilon", "sample", "v_prediction"], default: "epsilon" },
  },
  rules: [betasRise],
} as const satisfies Declaration;

/** The environment file (`environment.json`). */
export const ENVIRONMENT_ARGS = {
  owner: "environment",
  args: {
    /** Where `Task01_BrainTumour/` lives or is downloaded to. */
    dataBaseDir: { type: "string", config: "required" },
    /** Checkpoint directory. */
    modelDir: { type: "string", config: "required" },
    /** TensorBoard event directory. */
    tfeventPath: { type: "string", config: "required" },
    /** Continue from the checkpoints in `modelDir`. */
    resumeCkpt: { type: "boolean", config: "required" },
    /** Where `generate` writes its volumes (the reference's inference.py reads `output_dir` from here). */
    outputDir: { type: "string", config: "ifGiven" },
  },
} as const satisfies Declaration;

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export type AutoencoderTrainConfig = ConfigOf<typeof AUTOENCODER_TRAIN_ARGS.args>;
/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export type DiffusionTrainConfig = ConfigOf<typeof DIFFUSION_TRAIN_ARGS.args>;
/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1). */
export type NoiseSchedulerConfig = ConfigOf<typeof NOISE_SCHEDULER_ARGS.args>;
/** A validated environment file (`environment.json`). */
export type EnvironmentConfig = ConfigOf<typeof ENVIRONMENT_ARGS.args>;
