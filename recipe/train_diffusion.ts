/**
 * `train-diffusion`: stage 2 of the reference recipe (SPEC §8) — a DiffusionModelUNet trained on the frozen
 * autoencoder's latents (scale factor = 1/std of the first batch's latents, saved with the checkpoint),
 * MultiStepLR([100, 1000]) stepped at every epoch start, validation loss, periodic synthesis (PNG + TensorBoard),
 * atomic checkpoints with full resume. Beyond the reference (config keys, off by default): an EMA of the
 * weights (`ema_decay`; saved as model role "unet_ema", validated and sampled from) and a linear lr warm-up
 * (`warmup_steps`). The validation loss uses the same draws at every validation (diffusion/denoising_eval.ts)
 * and is also logged per timestep bucket; the per-channel range of the training latents is stored for
 * `generate --clip-sample latent-range`.
 */
import { join } from "pathe";
import { DataLoader, referenceTransforms } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { Adam, AutoencoderKL, DiffusionTrainer, ExponentialMovingAverage, MultiStepLR } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { configHash, loadCheckpoint, readCheckpointInfo } from "../nn/checkpoint.ts";
import { autoencoderLatentShape } from "../nn/train/diffusion_step.ts";
import { DiffusionModelUNet } from "../diffusion/unet.ts";
import {
  type DenoisingLoss,
  denoisingLoss,
  formatBuckets,
  LatentDiffusionInferer,
  type LatentRange,
  latentRange,
} from "../diffusion/mod.ts";
import type { TrainConfig } from "./config.ts";
import { batchTensor, RunLog } from "./run_context.ts";
import { Progress } from "./progress.ts";
import { describeResumedLr } from "./resume_overrides.ts";
import { volumeSlicesPng } from "./png.ts";
import {
  type LoopPosition,
  loopSummary,
  positionFrom,
  runTrainingLoop,
  saveLoopCheckpoint,
  setupRun,
  type TrainingRunOptions,
  type TrainingRunResult,
} from "./training_loop.ts";
import { AUTOENCODER_FILES } from "./train_autoencoder.ts";
import { loadModelWeights } from "./weights.ts";
import { EMA_ROLE, sampleLatentShape, schedulerFromConfig } from "./sampling.ts";

import { meanScalar } from "../nn/dist/allreduce.ts";

/** Options of {@link trainDiffusion}. */
export interface TrainDiffusionOptions extends TrainingRunOptions {
  /** Autoencoder weights (default `model_dir/autoencoder.safetensors`, the best stage-1 checkpoint). */
  autoencoderWeights?: string;
  /** Synthesize a preview volume after every this many completed epochs (reference 100); 0 = never. */
  synthEvery?: number;
  /** Steps of the preview synthesis: DDPM with all training steps (reference) or DDIM with this many. */
  synthDdimSteps?: number;
}

/** Checkpoint file names in `model_dir`. */
export const DIFFUSION_FILES = {
  last: "diffusion_unet_last.safetensors",
  best: "diffusion_unet.safetensors",
  preview: "diffusion_synthesis.png",
} as const;

/** Evaluations per validation batch, each with its own (fixed) draws: a steadier loss on a small set. */
const VALIDATION_REPEATS = 4;

/** Run summary. */
export interface TrainDiffusionResult extends TrainingRunResult {
  /** 1/std of the first batch's latents, as used for training (and stored with the checkpoints). */
  scaleFactor: number;
  /** The last validation (overall and per timestep bucket), of the EMA weights when EMA is on. */
  validation: DenoisingLoss | null;
  /** Whether an EMA of the weights was kept (and is what validation and sampling use). */
  ema: boolean;
}

/** The architecture hash stored in diffusion checkpoints. */
export function diffusionConfigHash(config: TrainConfig): string {
  return configHash({
    unet: config.diffusion,
    scheduler: config.noiseScheduler,
    latent: config.latentChannels,
  });
}

/** Runs the diffusion stage. */
export async function trainDiffusion(o: TrainDiffusionOptions): Promise<TrainDiffusionResult> {
  const { log, rank, worldSize, seed, files, cacheDir } = await setupRun(o);
  const cfg = o.config, tc = cfg.diffusionTrain, env = o.env;
  const maxEpochs = o.maxEpochs ?? tc.maxEpochs;
  const transforms = referenceTransforms({
    stage: "diffusion",
    train: true,
    channel: cfg.channel,
    spacing: cfg.spacing,
    maxResampledVoxels: cfg.maxResampledVoxels,
    patchSize: tc.patchSize,
    autoencoderLevels: cfg.autoencoder.channels.length,
  });
  const trainLoader = new DataLoader({
    files: files.train,
    transforms,
    batchSize: tc.batchSize,
    seed,
    rank,
    worldSize,
    cacheDir,
  });
  const valLoader = new DataLoader({
    files: files.val.length ? files.val : files.train,
    transforms,
    batchSize: tc.batchSize,
    seed,
    rank,
    worldSize,
    cacheDir,
  });

  manualSeed(seed);
  const autoencoder = new AutoencoderKL({ ...cfg.autoencoder });
  const aePath = o.autoencoderWeights ?? join(env.modelDir, AUTOENCODER_FILES.best);
  await loadModelWeights(autoencoder, aePath, "autoencoderkl", "autoencoder");
  autoencoder.eval();
  autoencoder.requiresGrad(false);
  const unet = new DiffusionModelUNet({ ...cfg.diffusion });
  // The EMA copy is built from the same initial weights (copied on the device) and follows every step.
  const emaUnet = tc.emaDecay !== undefined ? new DiffusionModelUNet({ ...cfg.diffusion }) : null;
  emaUnet?.requiresGrad(false);
  const ema = emaUnet
    ? new ExponentialMovingAverage(unet.parameters(), emaUnet.parameters(), { decay: tc.emaDecay! })
    : null;
  ema?.copyFromSource();
  /** What validation, previews and the "best" checkpoint judge: the EMA weights when kept. */
  const judged = emaUnet ?? unet;
  const optimizer = new Adam(unet.parameters(), { lr: tc.lr * worldSize });
  const lrSchedule = new MultiStepLR(optimizer, [100, 1000], 0.1);
  const scheduler = schedulerFromConfig(cfg);

  const hash = diffusionConfigHash(cfg);
  const paths = {
    last: join(env.modelDir, DIFFUSION_FILES.last),
    best: join(env.modelDir, DIFFUSION_FILES.best),
  };
  const parts = {
    models: { unet, ...(emaUnet ? { [EMA_ROLE]: emaUnet } : {}) },
    optimizers: { unet: optimizer },
  };
  let start: LoopPosition = { epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100.0 };
  let scaleFactor = NaN;
  let range: LatentRange | null = null;
  const resumeInfo = env.resumeCkpt ? await readCheckpointInfo(paths.last) : null;
  if (resumeInfo) {
    const had = resumeInfo.extra?.emaDecay !== undefined;
    if (had !== !!ema) {
      throw new Error(
        `${paths.last}: checkpoint was written ${
          had ? "with" : "without"
        } EMA weights but diffusion_train.ema_decay is ${ema ? "set" : "not set"}; make them agree to resume`,
      );
    }
    const info = await loadCheckpoint(paths.last, parts, { kind: "diffusion", configHash: hash });
    start = positionFrom(info, start.bestValLoss);
    scaleFactor = Number(info.extra?.scaleFactor);
    const checkpointLr = optimizer.lr;
    range = (info.extra?.latentRange as LatentRange | undefined) ?? null;
    if (ema) ema.updates = Number(info.extra?.emaUpdates ?? 0);
    lrSchedule.loadStateDict({ lastEpoch: Number(info.extra?.lrLastEpoch ?? start.epoch) });
    log(`resumed from ${paths.last}: epoch ${start.epoch}, step ${start.step}, scale factor ${scaleFactor}`);
    const lines = describeResumedLr({
      role: "unet",
      configKey: "diffusion_train.lr",
      configLr: tc.lr,
      worldSize,
      checkpointLr,
      usedLr: optimizer.lr,
      schedule: {
        name: "MultiStepLR([100, 1000], 0.1)",
        lastEpoch: lrSchedule.lastEpoch,
        factor: lrSchedule.gamma ** lrSchedule.milestones.filter((m) => m <= lrSchedule.lastEpoch).length,
      },
    });
    for (const line of lines) log(line);
  }
  const latentOf = (images: T.Tensor) => autoencoderLatentShape(autoencoder, images.shape);
  let firstImage: { data: Float32Array; shape: [number, number, number] } | null = null;
  if (!Number.isFinite(scaleFactor)) {
    // Reference behaviour: 1/std of the sampled latents of the first training batch (DDP: averaged over ranks).
    log("scale factor: loading and encoding the first training batch");
    trainLoader.setEpoch(0);
    const first = await trainLoader.batches().next();
    if (first.done) throw new Error("diffusion: the training loader yielded no batch");
    const images = batchTensor(first.value);
    const [, , X, Y, Z] = first.value.shape;
    firstImage = { data: first.value.data.slice(0, X * Y * Z), shape: [X, Y, Z] };
    const eps = T.randn(latentOf(images), {
      seed,
      stream: "diffusion/scale_eps",
      sampleOffset: rank * images.shape[0],
    });
    const z = T.noGrad(() => autoencoder.encodeStage2Inputs(images, eps));
    const inferer0 = new LatentDiffusionInferer(scheduler);
    scaleFactor = await inferer0.scaleFactorFromLatents(z);
    if (o.comm) scaleFactor = await meanScalar(o.comm, scaleFactor);
    const zHost = (await z.data()) as Float32Array;
    range = latentRange(zHost.map((v) => v * scaleFactor), z.shape);
    for (const t of [images, eps, z]) t.dispose();
    log(`scale factor: ${scaleFactor.toFixed(5)} (1/std of the first batch's latents)`);
  }
  const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor });
  const trainer = new DiffusionTrainer({
    unet,
    autoencoder,
    inferer,
    optimizer,
    numTrainTimesteps: cfg.noiseScheduler.numTrainTimesteps,
    seed,
    latentShape: (s) => autoencoderLatentShape(autoencoder, s),
  });
  const runLog = new RunLog(join(env.tfeventPath, "diffusion"), rank);
  // Reference behaviour: item 0 of the scale-factor batch is logged as train_img_0/1/2 at step 1.
  if (firstImage) runLog.slices("train_img", firstImage.data, firstImage.shape, 1);
  const synthEvery = o.synthEvery ?? 100;
  const warmupSteps = tc.warmupSteps ?? 0;
  let validation: DenoisingLoss | null = null;
  let result;
  try {
    result = await runTrainingLoop(start, {
      name: "diffusion",
      loader: trainLoader,
      maxEpochs,
      valInterval: tc.valInterval,
      logEvery: o.logEvery ?? 10,
      stop: o.stop,
      rank,
      log,
      // Reference behaviour: lr_scheduler.step() at the start of every epoch.
      beforeEpoch: () => lrSchedule.step(),
      trainStep: async (batch, _epoch, step) => {
        if (warmupSteps > 0) {
          optimizer.lr = lrSchedule.lrAt(lrSchedule.lastEpoch) * Math.min(1, (step + 1) / warmupSteps);
        }
        using images = batchTensor(batch);
        const key = { seed, step, sampleOffset: rank * batch.shape[0] };
        using eps = T.randn(latentOf(images), { ...key, stream: "diffusion/vae_eps" });
        const r = await trainer.step(images, { ...key, eps, gradHook: o.gradHook });
        ema?.update();
        return { loss: r.loss };
      },
      onLosses: (rows, means) => {
        for (const row of rows) runLog.scalar("train_diffusion_loss_iter", row.values.loss, row.step);
        return { loss: means.loss, lr: optimizer.lr };
      },
      validate: async (epoch) => {
        validation = await denoisingLoss(imageBatches(valLoader), autoencoder, judged.asFunction(), inferer, {
          seed,
          latentShape: (s) => autoencoderLatentShape(autoencoder, s),
          repeats: VALIDATION_REPEATS,
          sampleOffset: rank * tc.batchSize,
        });
        let val = validation.loss;
        if (o.comm) val = await meanScalar(o.comm, val);
        // Reference behaviour: per-epoch values are logged at the 0-based epoch.
        runLog.scalar("val_diffusion_loss", val, epoch);
        for (const b of validation.buckets) {
          if (b.count > 0) runLog.scalar(`val_diffusion_mse_t${b.from}_${b.to}`, b.mse, epoch);
        }
        log(`diffusion epoch ${epoch + 1}: validation MSE by timestep ${formatBuckets(validation.buckets)}`);
        return val;
      },
      afterEpoch: async (epoch) => {
        if (rank !== 0 || !previewDue(epoch, synthEvery)) return;
        const png = await synthesizePreview(
          autoencoder,
          judged,
          cfg,
          scaleFactor,
          seed,
          epoch,
          o.synthDdimSteps,
          runLog,
        );
        await Deno.writeFile(join(env.modelDir, DIFFUSION_FILES.preview), png);
      },
      save: saveLoopCheckpoint(rank, paths, parts, "diffusion", hash, () => ({
        scaleFactor,
        latentRange: range,
        ...(ema ? { emaDecay: ema.decay, emaUpdates: ema.updates } : {}),
        lrLastEpoch: lrSchedule.lastEpoch,
        seed,
        config: cfg.diffusion,
      })),
    });
  } finally {
    runLog.close();
    // Release the device memory now: the demo generates in the same process.
    for (const m of [autoencoder, unet, emaUnet]) m?.dispose();
    optimizer.dispose();
    scheduler.dispose();
  }
  return {
    ...loopSummary(result),
    scaleFactor,
    validation,
    ema: !!ema,
  };
}

/**
 * Whether the preview synthesis runs after `epoch` (0-based): after every `every` completed epochs; never when
 * `every` is 0 or not finite. The reference also samples at epoch 0 (`0 % 100 == 0`), a full 1000-step DDPM
 * run on an untrained UNet; we wait one interval, so a disabled or long interval never costs minutes at start.
 */
export function previewDue(epoch: number, every: number): boolean {
  return Number.isFinite(every) && every >= 1 && (epoch + 1) % every === 0;
}

/** The image tensors of a loader's batches (each disposed once the consumer moves on). */
async function* imageBatches(loader: DataLoader): AsyncGenerator<T.Tensor> {
  for await (const batch of loader.batches()) {
    const images = batchTensor(batch);
    try {
      yield images;
    } finally {
      images.dispose();
    }
  }
}

/** Samples one volume (DDPM over all training steps as the reference, or DDIM with `ddimSteps`) and logs it. */
export async function synthesizePreview(
  autoencoder: AutoencoderKL,
  unet: DiffusionModelUNet,
  cfg: TrainConfig,
  scaleFactor: number,
  seed: number,
  epoch: number,
  ddimSteps: number | undefined,
  runLog: RunLog,
): Promise<Uint8Array> {
  const scheduler = ddimSteps
    ? schedulerFromConfig(cfg, "ddim", { steps: ddimSteps })
    : schedulerFromConfig(cfg);
  const noise = T.randn(sampleLatentShape(cfg), { seed, stream: "diffusion/synth_noise", step: epoch });
  const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor });
  const progress = new Progress({
    total: scheduler.timesteps.length,
    label: `diffusion preview after epoch ${epoch + 1} (${ddimSteps ? "ddim" : "ddpm"})`,
  });
  const out = await inferer.sample(noise, unet.asFunction(), scheduler, autoencoder, {
    generator: { seed, stream: "diffusion/synth_step" },
    progress: (s) => progress.update(s),
  });
  progress.done();
  const [, , X, Y, Z] = out.image.shape;
  const data = (await out.image.data()) as Float32Array;
  for (const t of [noise, out.image, out.latent, ...out.intermediates]) t.dispose();
  scheduler.dispose();
  runLog.slices("val_diff_synimg", data, [X, Y, Z], epoch);
  return volumeSlicesPng(data, [X, Y, Z], { window: "minmax", upscale: 2 }).png;
}
