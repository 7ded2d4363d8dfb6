/**
 * The recipe's config sections besides the models (whose arguments the models declare): the top level,
 * `autoencoder_train`, `diffusion_train`, `NoiseScheduler` and the environment file, each declared once
 * (name, type, default, the reference's other spellings); their types and validation derive from it.
 *
 * @module
 */
import { DEFAULT_MAX_RESAMPLED_VOXELS } from "../data/transforms/spacing.ts";
import {
  boolean,
  finiteNumber,
  nonNegativeInteger,
  oneOf,
  positiveInteger,
  positiveNumber,
  string,
  tripleOf,
} from "../nn/args/checkers.ts";
import { arg, type ConfigOf, declareArgs } from "../nn/args/declare.ts";

const required = { config: "required" } as const;

/** The top level: data settings and the shared sizes the sections refer to. */
export const TOP_ARGS = declareArgs("config", {
  /** MRI channel to keep (0 = FLAIR). */
  channel: arg(nonNegativeInteger, required),
  /** Resampling voxel size in mm [X, Y, Z]. */
  spacing: arg(tripleOf(positiveNumber), required),
  /** Cap on a resampled volume in voxels (ours; raised to the crop size when smaller). */
  maxResampledVoxels: arg(positiveInteger, { default: DEFAULT_MAX_RESAMPLED_VOXELS }),
  /** Spatial dimensions. */
  spatialDims: arg(positiveInteger, required),
  /** Image channels. */
  imageChannels: arg(positiveInteger, required),
  /** Latent channels. */
  latentChannels: arg(positiveInteger, required),
});

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export const AUTOENCODER_TRAIN_ARGS = declareArgs("autoencoder_train", {
  /** Batch size per GPU. */
  batchSize: arg(positiveInteger, required),
  /** Random crop size [X, Y, Z]; divisible by the autoencoder's downsampling factor. */
  patchSize: arg(tripleOf(positiveInteger), required),
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: arg(positiveNumber, required),
  /** Perceptual loss weight. */
  perceptualWeight: arg(finiteNumber, required),
  /** KL loss weight. */
  klWeight: arg(finiteNumber, required),
  /** Reconstruction loss: "l1" (L1Loss) or "l2" (MSELoss). */
  reconLoss: arg(oneOf("l1", "l2"), required),
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: arg(nonNegativeInteger, { gm: "n_epochs", config: "required" }),
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: arg(positiveInteger, required),
  // Reference behaviour: adv_weight = 0.01 and a 5-epoch warm-up are hard-coded in train_autoencoder.py.
  /** Adversarial loss weight. */
  advWeight: arg(finiteNumber, { default: 0.01 }),
  /** Adversarial terms start when `epoch > warmUpEpochs`. */
  warmUpEpochs: arg(nonNegativeInteger, { default: 5 }),
});

/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export const DIFFUSION_TRAIN_ARGS = declareArgs("diffusion_train", {
  /** Batch size per GPU. */
  batchSize: arg(positiveInteger, required),
  /** Centre crop size [X, Y, Z]; divisible by (autoencoder × UNet) downsampling. */
  patchSize: arg(tripleOf(positiveInteger), required),
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: arg(positiveNumber, required),
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: arg(nonNegativeInteger, { gm: "n_epochs", config: "required" }),
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: arg(positiveInteger, required),
});

/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1); unset arguments take the class defaults. */
export const NOISE_SCHEDULER_ARGS = declareArgs("NoiseScheduler", {
  /** Training timesteps. */
  numTrainTimesteps: arg(positiveInteger, required),
  /** First beta. */
  betaStart: arg(positiveNumber, required),
  /** Last beta. */
  betaEnd: arg(positiveNumber, required),
  /** Beta schedule. */
  schedule: arg(oneOf("linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine"), {
    default: "scaled_linear_beta",
  }),
  /** Variance type. */
  varianceType: arg(oneOf("fixed_small", "fixed_large"), { default: "fixed_small" }),
  /** Clamp x̂0 to [-1, 1]. */
  clipSample: arg(boolean, { default: true }),
  /** What the network predicts. */
  predictionType: arg(oneOf("epsilon", "sample", "v_prediction"), { default: "epsilon" }),
}, [
  ({ betaStart, betaEnd }) =>
    betaStart >= betaEnd
      ? [{ arg: "betaStart", message: `must be below beta_end (${betaStart} ≥ ${betaEnd})` }]
      : [],
]);

/** The environment file (`environment.json`). */
export const ENVIRONMENT_ARGS = declareArgs("environment", {
  /** Where `Task01_BrainTumour/` lives or is downloaded to. */
  dataBaseDir: arg(string, required),
  /** Checkpoint directory. */
  modelDir: arg(string, required),
  /** TensorBoard event directory. */
  tfeventPath: arg(string, required),
  /** Continue from the checkpoints in `modelDir`. */
  resumeCkpt: arg(boolean, required),
  /** Where `generate` writes its volumes (the reference's inference.py reads `output_dir` from here). */
  outputDir: arg(string, { config: "ifGiven" }),
});

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export type AutoencoderTrainConfig = ConfigOf<typeof AUTOENCODER_TRAIN_ARGS.args>;
/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export type DiffusionTrainConfig = ConfigOf<typeof DIFFUSION_TRAIN_ARGS.args>;
/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1). */
export type NoiseSchedulerConfig = ConfigOf<typeof NOISE_SCHEDULER_ARGS.args>;
/** A validated environment file (`environment.json`). */
export type EnvironmentConfig = ConfigOf<typeof ENVIRONMENT_ARGS.args>;
