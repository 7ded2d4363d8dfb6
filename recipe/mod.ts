/**
 * The training recipe of the reference example, as a library: the two stages (autoencoder, latent diffusion),
 * generation, the demo, and what they are built from — config loading, checkpoint file names, the scheduler
 * factory, the training loop, stop control and the run log (TensorBoard events, PNG previews, progress).
 * The commands in `cli/` parse flags and call these. Loads in a page; the training functions read and write
 * files, so they run under Deno.
 *
 * ```ts
 * import { loadTrainConfig, trainAutoencoder } from "./recipe/mod.ts";
 *
 * const config = await loadTrainConfig("config/config_train_32g.json");
 * const env = { dataBaseDir: "data", modelDir: "models", tfeventPath: "runs", resumeCkpt: false };
 * const run = await trainAutoencoder({ config, env, maxEpochs: 1 });
 * console.log(run.bestValLoss);
 * ```
 *
 * @module
 */
export {
  AUTOENCODER_FILES,
  autoencoderConfigHash,
  trainAutoencoder,
  type TrainAutoencoderOptions,
  type TrainAutoencoderResult,
} from "./train_autoencoder.ts";
export {
  DIFFUSION_FILES,
  diffusionConfigHash,
  previewDue,
  synthesizePreview,
  trainDiffusion,
  type TrainDiffusionOptions,
  type TrainDiffusionResult,
} from "./train_diffusion.ts";
export { generate, type GenerateOptions, type GenerateResult } from "./generate.ts";
export { type DemoOptions, type DemoReport, runDemo } from "./demo.ts";
export {
  centredRasAffine,
  EMA_ROLE,
  loadSamplingModels,
  type SampledVolume,
  sampleLatentShape,
  sampleVolume,
  type SampleVolumeOptions,
  type SamplingModels,
  schedulerFromConfig,
  type WeightsBytes,
} from "./sampling.ts";
export {
  type AutoencoderConfig,
  ConfigError,
  type DiffusionUNetConfig,
  type DiscriminatorConfig,
  type EnvironmentConfig,
  loadEnvironment,
  loadTrainConfig,
  parseConfigText,
  parseEnvironment,
  parseTrainConfig,
  readConfigFile,
  type TrainConfig,
} from "./config.ts";
export { type LoadedWeights, loadModelWeights, loadModelWeightsFromBytes } from "./weights.ts";
export {
  type LoopHooks,
  type LoopPosition,
  type LoopResult,
  runTrainingLoop,
  setupRun,
  type TrainingRunOptions,
  type TrainingRunResult,
} from "./training_loop.ts";
export { batchTensor, datasetFiles, LossBook, NonFiniteLossError, RunLog } from "./run_context.ts";
export { INTERRUPTED_EXIT_CODE, listenForInterrupts, StopControl } from "./stop.ts";
export { Progress, RunEta } from "./progress.ts";
export { TfEventWriter, type TfEventWriterOptions } from "./tfevents.ts";
export { encodePng, type GreyImage, volumeRowsPng, volumeSlices, volumeSlicesPng } from "./png.ts";
