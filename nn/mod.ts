/**
 * Neural-network building blocks on the tensor library: `Module` (PyTorch-named parameters and state
 * dicts), layers, optimizers, losses, the reference models (AutoencoderKL, PatchDiscriminator, LPIPS
 * perceptual loss) and the training steps. The diffusion UNet lives in `diffusion/unet.ts`.
 */
export { Module, StateDictError } from "./module.ts";
export type { Layer, LoadStateDictOptions, LoadStateDictResult } from "./module.ts";
export { defaultInit, fanIn, globalRng, HostRng, manualSeed, setTensorData } from "./init.ts";
export { camelizeKeys, perLevel, snakeToCamel } from "./config.ts";

export { Linear } from "./layers/linear.ts";
export type { LinearOptions } from "./layers/linear.ts";
export { Conv2d, Conv3d, Convolution, ConvTranspose3d } from "./layers/conv.ts";
export type { ConvOptions, ConvPadding, ConvTransposeOptions } from "./layers/conv.ts";
export { GroupNorm, InstanceNorm } from "./layers/norm.ts";
export { Dropout, Identity, LeakyReLU, ReLU, SiLU } from "./layers/activation.ts";
export { MaxPool2d, Upsample } from "./layers/sampling.ts";
export { ModuleList, Sequential } from "./layers/sequential.ts";
export { SABlock, SpatialAttentionBlock } from "./layers/attention.ts";
export type { AttentionOptions } from "./layers/attention.ts";

export { Optimizer } from "./optim/optimizer.ts";
export type { OptimizerState, ParamState } from "./optim/optimizer.ts";
export { Adam, AdamW } from "./optim/adam.ts";
export type { AdamOptions } from "./optim/adam.ts";
export { SGD } from "./optim/sgd.ts";
export type { SgdOptions } from "./optim/sgd.ts";
export { MultiStepLR } from "./optim/lr_scheduler.ts";
export { ExponentialMovingAverage } from "./optim/ema.ts";
export type { EmaOptions } from "./optim/ema.ts";

export { klLoss, klLossFromLogVar, l1Loss, mseLoss } from "./losses/basic.ts";
export { PatchAdversarialLoss } from "./losses/adversarial.ts";
export type { AdversarialCriterion, PatchAdversarialLossOptions } from "./losses/adversarial.ts";
export {
  batchifyAxis,
  LPIPS,
  lpipsHeadKeys,
  normalizeChannels,
  PerceptualLoss,
  SqueezeNetFeatures,
  squeezeNetKeysFromTorchvision,
} from "./losses/perceptual.ts";
export type {
  LpipsOutput,
  PerceptualLossOptions,
  PerceptualOutput,
  SliceIndices,
} from "./losses/perceptual.ts";

export {
  AEKLDownsample,
  AEKLResBlock,
  AEKLUpsample,
  AutoencoderKL,
  Decoder,
  Encoder,
} from "./models/autoencoder_kl.ts";
export type {
  AutoencoderKLOptions,
  AutoencoderOutput,
  EncodeOutput,
  EpsSource,
} from "./models/autoencoder_kl.ts";
export { DiscriminatorLayer, PatchDiscriminator } from "./models/patch_discriminator.ts";
export type { PatchDiscriminatorOptions } from "./models/patch_discriminator.ts";

export { AutoencoderTrainer } from "./train/autoencoder_step.ts";
export type {
  AutoencoderStepConfig,
  AutoencoderStepOptions,
  AutoencoderStepResult,
  AutoencoderTrainerParts,
  GradHook,
} from "./train/autoencoder_step.ts";
export { autoencoderLatentShape, DiffusionTrainer } from "./train/diffusion_step.ts";
export type {
  DiffusionStepOptions,
  DiffusionStepResult,
  DiffusionTrainerParts,
  LatentEncoder,
  TrainableDiffusionModel,
  TrainingLossInferer,
} from "./train/diffusion_step.ts";
