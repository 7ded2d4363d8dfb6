/**
 * Latent diffusion: noise schedules, the DDPM and DDIM samplers (one fused GPU kernel per step) and the
 * latent diffusion inferer (training pass, scale factor, sampling loop). See SPEC §7, §8, §10.
 */
export { linspaceF32, NOISE_SCHEDULES, noiseSchedule } from "./schedules.ts";
export type { NoiseScheduleArrays, NoiseScheduleName, ScheduleArgs } from "./schedules.ts";
export { PREDICTION_TYPES, Scheduler } from "./scheduler.ts";
export type {
  NoiseGenerator,
  PredictionType,
  SchedulerOptions,
  SchedulerStepCoefficients,
  StepOptions,
  StepPlan,
  StepResult,
  TimestepsInput,
} from "./scheduler.ts";
export { DDPM_VARIANCE_TYPES, DDPMScheduler } from "./ddpm.ts";
export type { DdpmOptions, DdpmVarianceType } from "./ddpm.ts";
export { DDIMScheduler } from "./ddim.ts";
export type { DdimOptions } from "./ddim.ts";
export { LatentDiffusionInferer } from "./inferer.ts";
export type {
  DiffusionModel,
  SampleOptions,
  SampleResult,
  Stage2Autoencoder,
  Stage2Decoder,
  TrainingLoss,
  TrainingPass,
  TrainingPassOptions,
  TrainingTimesteps,
} from "./inferer.ts";
export { DiffusionModelUNet, timestepEmbedding } from "./unet.ts";
export type { DiffusionModelUNetOptions } from "./unet.ts";
export { denoisingLoss } from "./denoising_eval.ts";
export type { DenoisingLoss, DenoisingLossOptions } from "./denoising_eval.ts";
export { bucketMse, formatBuckets, timestepBucketEdges } from "./timestep_buckets.ts";
export type { TimestepBucket } from "./timestep_buckets.ts";
export { latentRange, percentileOfSorted, rangeEnvelope } from "./latent_range.ts";
export type { LatentRange } from "./latent_range.ts";
