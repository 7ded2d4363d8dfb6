/**
 * LatentDiffusionInferer (SPEC §8): the training pass (encode → scale → add_noise → UNet → MSE), the scale
 * factor 1/std(z), and the sampling loop (scheduler steps on the GPU, then decode z / scaleFactor).
 * Coded against small interfaces so the models (nn/models) plug in without this file knowing them.
 */
import {
  affine,
  backend,
  mean,
  noGrad,
  sameShape,
  scope,
  sqrt,
  square,
  sub,
  type Tensor,
  variance,
} from "../tensor/mod.ts";
import type { NoiseGenerator, Scheduler } from "./scheduler.ts";

/** The autoencoder's stage-2 interface (AutoencoderKL): sampled latent z = μ + eps·σ, and its decoder. */
export interface Stage2Autoencoder {
  /** [B, C, X, Y, Z] → [B, latentChannels, X/f, Y/f, Z/f]; `eps` is the injected sampling noise, if any. */
  encodeStage2Inputs(x: Tensor, eps?: Tensor): Tensor;
  /** Latent [B, latentChannels, …] → image [B, C, …]. */
  decodeStage2Outputs(z: Tensor): Tensor;
}

/** The decoding half alone, or a plain function z → image. */
export type Stage2Decoder = Pick<Stage2Autoencoder, "decodeStage2Outputs"> | ((z: Tensor) => Tensor);

/** The diffusion model: (noisy latent [B, C, …], timesteps: int32 tensor [B] or one number per element) → output. */
export type DiffusionModel = (x: Tensor, timesteps: Tensor | number[]) => Tensor;

/** Timesteps of a training pass: an int32 tensor [B] or host integers (one per batch element). */
export type TrainingTimesteps = Tensor | number[];

/** Options of the training pass. */
export interface TrainingPassOptions {
  /** Injected VAE sampling noise for `encodeStage2Inputs` (else the autoencoder draws its own). */
  eps?: Tensor;
  /** Overrides the inferer's scale factor. */
  scaleFactor?: number;
}

/** What the training pass produced. The caller disposes every tensor. */
export interface TrainingPass {
  /** encodeStage2Inputs(x) · scaleFactor (computed without gradients). */
  latent: Tensor;
  /** add_noise(latent, noise, timesteps). */
  noisyLatent: Tensor;
  /** unet(noisyLatent, timesteps), with gradients. */
  prediction: Tensor;
}

/** The training pass plus its loss. */
export interface TrainingLoss extends TrainingPass {
  /** Scalar MSE between the prediction and the target of the scheduler's prediction type. */
  loss: Tensor;
}

/** Options of `sample()`. */
export interface SampleOptions {
  /** Divides the final latent before decoding (default: the inferer's). */
  scaleFactor?: number;
  /** Called after each step is recorded, with (steps done, total). */
  progress?: (step: number, total: number) => void;
  /** Keep the latent after every k-th step (after steps k−1, 2k−1, …) in `intermediates`. */
  intermediateEvery?: number;
  /** Where step noise comes from: stream default "diffusion/sample", counter = the step index. */
  generator?: NoiseGenerator;
  /** Wait for the GPU every this many steps, bounding queued work (default 8; no data is read back). */
  syncEvery?: number;
}

/** What `sample()` returns. The caller disposes every tensor. */
export interface SampleResult {
  /** decode(latent / scaleFactor). */
  image: Tensor;
  /** The final latent, unscaled (as the loop leaves it). */
  latent: Tensor;
  /** Latents after every `intermediateEvery`-th step. */
  intermediates: Tensor[];
}

/** Latent diffusion: training pass, scale factor and sampling around a noise scheduler. */
export class LatentDiffusionInferer {
  /** Multiplies encoded latents (training) and divides the sampled latent before decoding. */
  scaleFactor: number;

  constructor(readonly scheduler: Scheduler, options: { scaleFactor?: number } = {}) {
    this.scaleFactor = options.scaleFactor ?? 1.0;
    if (!(this.scaleFactor > 0) || !Number.isFinite(this.scaleFactor)) {
      throw new Error(
        `LatentDiffusionInferer: scaleFactor must be a positive number, got ${this.scaleFactor}`,
      );
    }
  }

  /** encodeStage2Inputs(x, eps) · scaleFactor without gradients. [B, C, X, Y, Z] → latent. */
  encode(inputs: Tensor, autoencoder: Stage2Autoencoder, options: TrainingPassOptions = {}): Tensor {
    const scale = options.scaleFactor ?? this.scaleFactor;
    return noGrad(() =>
      scope(() => {
        const z = autoencoder.encodeStage2Inputs(inputs, options.eps);
        return scale === 1 ? z : affine(z, scale);
      })
    );
  }

  /**
   * The reference's `inferer(inputs, autoencoder, unet, noise, timesteps)`: latent = encode(x)·scale,
   * noisy = add_noise(latent, noise, t), prediction = unet(noisy, t). `noise` has the latent's shape.
   */
  predict(
    inputs: Tensor,
    autoencoder: Stage2Autoencoder,
    unet: DiffusionModel,
    noise: Tensor,
    timesteps: TrainingTimesteps,
    options: TrainingPassOptions = {},
  ): TrainingPass {
    const latent = this.encode(inputs, autoencoder, options);
    if (!sameShape(latent.shape, noise.shape)) {
      latent.dispose();
      throw new Error(
        `LatentDiffusionInferer: noise [${noise.shape}] must have the latent's shape [${latent.shape}]`,
      );
    }
    const noisyLatent = this.scheduler.addNoise(latent, noise, timesteps);
    const prediction = unet(noisyLatent, timesteps);
    return { latent, noisyLatent, prediction };
  }

  /**
   * `predict` plus the MSE loss (mean over all elements) against the target of the scheduler's prediction
   * type: noise (epsilon, the recipe), the latent (sample) or the velocity (v_prediction).
   */
  trainingLoss(
    inputs: Tensor,
    autoencoder: Stage2Autoencoder,
    unet: DiffusionModel,
    noise: Tensor,
    timesteps: TrainingTimesteps,
    options: TrainingPassOptions = {},
  ): TrainingLoss {
    const pass = this.predict(inputs, autoencoder, unet, noise, timesteps, options);
    const loss = scope(() => mean(square(sub(pass.prediction, this.target(pass.latent, noise, timesteps)))));
    return { ...pass, loss };
  }

  /** What the model should predict: the noise (epsilon), the latent (sample) or the velocity (v_prediction). */
  target(latent: Tensor, noise: Tensor, timesteps: TrainingTimesteps): Tensor {
    const type = this.scheduler.predictionType;
    return type === "epsilon"
      ? noise
      : type === "sample"
      ? latent
      : this.scheduler.getVelocity(latent, noise, timesteps);
  }

  /** 1 / std(z) over all elements (unbiased, like torch.std), read back as a number. */
  async scaleFactorFromLatents(z: Tensor): Promise<number> {
    if (z.size < 2) throw new Error(`scaleFactorFromLatents: needs at least 2 elements, got [${z.shape}]`);
    const std = noGrad(() => scope(() => sqrt(variance(z))));
    const value = await std.item();
    std.dispose();
    if (!(value > 0)) throw new Error(`scaleFactorFromLatents: std of the latents is ${value}; cannot scale`);
    return Math.fround(1 / value);
  }

  /**
   * Runs the scheduler's timesteps from `inputNoise` ([B, C, …] latent noise): unet(x, t) then
   * scheduler.step, all recorded on the GPU with no readback; then decodes latent / scaleFactor.
   */
  async sample(
    inputNoise: Tensor,
    unet: DiffusionModel,
    scheduler: Scheduler,
    decode: Stage2Decoder,
    options: SampleOptions = {},
  ): Promise<SampleResult> {
    const scale = options.scaleFactor ?? this.scaleFactor;
    const every = options.intermediateEvery ?? 0;
    const syncEvery = options.syncEvery ?? 8;
    if (!Number.isInteger(every) || every < 0) {
      throw new Error(`sample: intermediateEvery must be a non-negative integer, got ${every}`);
    }
    const timesteps = Array.from(scheduler.timesteps);
    const batch = inputNoise.shape[0] ?? 1;
    const stream = options.generator?.stream ?? "diffusion/sample";
    const seed = options.generator?.seed ?? 0;
    const intermediates: Tensor[] = [];
    let x = inputNoise;
    for (let i = 0; i < timesteps.length; i++) {
      const t = timesteps[i];
      const next = noGrad(() =>
        scope(() => {
          // The reference passes Tensor((t,)); one copy per batch element is the same and needs no broadcast.
          const modelOutput = unet(x, new Array<number>(batch).fill(t));
          return scheduler.step(modelOutput, t, x, { generator: { seed, stream, step: i } }).prevSample;
        })
      );
      if (x !== inputNoise) x.dispose();
      x = next;
      if (every > 0 && (i + 1) % every === 0) intermediates.push(x.detach());
      options.progress?.(i + 1, timesteps.length);
      if (syncEvery > 0 && (i + 1) % syncEvery === 0) await backend().sync();
    }
    const latent = x === inputNoise ? x.detach() : x;
    const image = noGrad(() =>
      scope(() => {
        const z = scale === 1 ? latent : affine(latent, 1 / scale);
        return typeof decode === "function" ? decode(z) : decode.decodeStage2Outputs(z);
      })
    );
    return { image, latent, intermediates };
  }
}
