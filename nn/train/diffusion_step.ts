/**
 * One latent-diffusion training step (SPEC §8): noise and timesteps drawn (or injected), the inferer's
 * training loss (encode without gradients → add_noise → UNet → MSE), backward, an optional gradient hook,
 * the optimizer step. fp32 throughout (the reference's AMP/GradScaler is not reproduced).
 * Coded against small structural interfaces so `nn/` does not import `diffusion/`.
 */
import { randint, randn, type Tensor } from "../../tensor/mod.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { GradHook } from "./autoencoder_step.ts";

/** The autoencoder side: sampled latents for the diffusion stage. */
export interface LatentEncoder {
  encodeStage2Inputs(x: Tensor, eps?: Tensor): Tensor;
  decodeStage2Outputs(z: Tensor): Tensor;
}

/** The UNet as a module: its parameters (for the optimizer) and forward(x, timesteps). */
export interface TrainableDiffusionModel {
  forward(x: Tensor, timesteps: Tensor | number[]): Tensor;
  parameters(): Tensor[];
}

/** What the step needs from `LatentDiffusionInferer`. */
export interface TrainingLossInferer {
  trainingLoss(
    inputs: Tensor,
    autoencoder: LatentEncoder,
    unet: (x: Tensor, t: Tensor | number[]) => Tensor,
    noise: Tensor,
    timesteps: Tensor | number[],
    options?: { eps?: Tensor; scaleFactor?: number },
  ): { latent: Tensor; noisyLatent: Tensor; prediction: Tensor; loss: Tensor };
}

/** Parts of the diffusion trainer. */
export interface DiffusionTrainerParts {
  unet: TrainableDiffusionModel;
  autoencoder: LatentEncoder;
  inferer: TrainingLossInferer;
  optimizer: Optimizer;
  /** Latent shape per image shape (default: AutoencoderKL's, channels ×latent, space ÷ 2^(levels−1)). */
  latentShape?: (imageShape: readonly number[]) => number[];
  /** Timesteps are drawn uniformly from [0, numTrainTimesteps). Default 1000. */
  numTrainTimesteps?: number;
  /** Seed of the noise / timestep draws (streams "diffusion/noise", "diffusion/timesteps"). Default 0. */
  seed?: number;
}

/** Per-step options. */
export interface DiffusionStepOptions {
  /** Global step counter (keys the random draws). */
  step: number;
  /** Global index of this batch's first sample (multi-process runs draw what one process would). */
  sampleOffset?: number;
  /** Injected latent noise / timesteps / VAE eps (else drawn). */
  noise?: Tensor;
  timesteps?: Tensor | number[];
  eps?: Tensor;
  gradHook?: GradHook;
}

/** Device scalar loss of the step (caller disposes). */
export interface DiffusionStepResult {
  loss: Tensor;
}

/** Latent shape of AutoencoderKL-like models: [B, latentChannels, X/f, Y/f, Z/f], f = 2^(levels−1). */
export function autoencoderLatentShape(ae: unknown, imageShape: readonly number[]): number[] {
  const cfg = (ae as { config?: { channels?: number[]; latentChannels?: number } }).config;
  if (!cfg?.channels || !cfg.latentChannels) {
    throw new Error("DiffusionTrainer: cannot infer the latent shape; pass `latentShape`");
  }
  const f = 2 ** (cfg.channels.length - 1);
  const spatial = imageShape.slice(2);
  if (spatial.some((d) => d % f !== 0)) {
    // E.g. a volume smaller than the patch: the crop keeps its size, which the autoencoder cannot halve evenly.
    throw new Error(
      `latent shape: image batch [${imageShape}] has spatial sizes not divisible by the autoencoder's ` +
        `downsampling factor ${f} (${cfg.channels.length} levels); check that the volumes are at least the patch size`,
    );
  }
  return [imageShape[0], cfg.latentChannels, ...spatial.map((d) => d / f)];
}

/** Runs the reference's diffusion training step. */
export class DiffusionTrainer {
  readonly numTrainTimesteps: number;
  readonly seed: number;
  constructor(readonly parts: DiffusionTrainerParts) {
    this.numTrainTimesteps = parts.numTrainTimesteps ?? 1000;
    this.seed = parts.seed ?? 0;
  }

  /** One step on `images` [B, C, X, Y, Z]. */
  async step(images: Tensor, options: DiffusionStepOptions): Promise<DiffusionStepResult> {
    const { unet, autoencoder, inferer, optimizer } = this.parts;
    const key = { seed: this.seed, step: options.step, sampleOffset: options.sampleOffset ?? 0 };
    const latentShape = this.parts.latentShape?.(images.shape) ??
      autoencoderLatentShape(autoencoder, images.shape);
    // Drawn here unless given; what we draw is released on return.
    using ownNoise = options.noise ? null : randn(latentShape, { ...key, stream: "diffusion/noise" });
    using ownTimesteps = options.timesteps ? null : randint(
      [images.shape[0]],
      { ...key, stream: "diffusion/timesteps" },
      0,
      this.numTrainTimesteps,
    );
    const noise = options.noise ?? ownNoise!, timesteps = options.timesteps ?? ownTimesteps!;
    optimizer.zeroGrad();
    const pass = inferer.trainingLoss(images, autoencoder, (x, t) => unet.forward(x, t), noise, timesteps, {
      eps: options.eps,
    });
    pass.loss.backward();
    for (const t of [pass.latent, pass.noisyLatent, pass.prediction]) t.dispose();
    if (options.gradHook) await options.gradHook(optimizer.params, "unet");
    optimizer.step();
    const loss = pass.loss.detach();
    pass.loss.dispose();
    return { loss };
  }
}
