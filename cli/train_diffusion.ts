/**
 * `train-diffusion`: stage 2 of the reference recipe (SPEC §8) — a DiffusionModelUNet trained on the frozen
 * autoencoder's latents (scale factor = 1/std of the first batch's latents, saved with the checkpoint),
 * MultiStepLR([100, 1000]) stepped at every epoch start, validation loss, periodic synthesis (PNG + TensorBoard),
 * atomic checkpoints with full resume.
 */
import { join } from "node:path";
import { DataLoader, referenceTransforms } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { Adam, AutoencoderKL, DiffusionTrainer, MultiStepLR } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { configHash, loadCheckpoint, readCheckpointInfo, saveCheckpoint } from "../nn/checkpoint.ts";
import { autoencoderLatentShape } from "../nn/train/diffusion_step.ts";
import { DiffusionModelUNet } from "../diffusion/unet.ts";
import { DDIMScheduler, DDPMScheduler, LatentDiffusionInferer, type Scheduler } from "../diffusion/mod.ts";
import type { TrainConfig } from "./config.ts";
import { batchTensor, LossBook, RunLog } from "./run_context.ts";
import {
  type LoopPosition,
  positionFrom,
  runTrainingLoop,
  setupRun,
  type TrainingRunOptions,
  type TrainingRunResult,
} from "./training_loop.ts";
import { AUTOENCODER_FILES } from "./train_autoencoder.ts";
import { loadModelWeights } from "./weights.ts";
import { meanScalar } from "../nn/dist/allreduce.ts";

/** Options of {@link trainDiffusion}. */
export interface TrainDiffusionOptions extends TrainingRunOptions {
  /** Autoencoder weights (default `model_dir/autoencoder.safetensors`, the best stage-1 checkpoint). */
  autoencoderWeights?: string;
  /** Synthesize a preview volume every this many epochs (reference 100). */
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

/** Run summary. */
export interface TrainDiffusionResult extends TrainingRunResult {
  /** 1/std of the first batch's latents, as used for training (and stored with the checkpoints). */
  scaleFactor: number;
}

/** The architecture hash stored in diffusion checkpoints. */
export function diffusionConfigHash(config: TrainConfig): string {
  return configHash({
    unet: config.diffusion,
    scheduler: config.noiseScheduler,
    latent: config.latentChannels,
  });
}

/**
 * The scheduler the config describes: DDPM (training, and the tutorial's inference, over all training steps unless
 * `steps` is given) or DDIM with `steps` (default 50; the bundle's recipe). x̂0 is not clipped unless `clipSample`
 * or the config's `clip_sample` says so (latents are not in [−1, 1]); `clipRange` replaces the [−1, 1] bounds.
 */
export function schedulerFromConfig(
  config: TrainConfig,
  kind: "ddpm" | "ddim" = "ddpm",
  o: { steps?: number; eta?: number; clipSample?: boolean; clipRange?: readonly [number, number] } = {},
): Scheduler {
  const ns = config.noiseScheduler;
  const common = {
    numTrainTimesteps: ns.numTrainTimesteps,
    schedule: ns.schedule,
    betaStart: ns.betaStart,
    betaEnd: ns.betaEnd,
    predictionType: ns.predictionType,
    clipSample: o.clipSample ?? ns.clipSample ?? false,
    clipSampleMin: o.clipRange?.[0],
    clipSampleMax: o.clipRange?.[1],
  };
  const scheduler = kind === "ddim"
    ? new DDIMScheduler({ ...common, eta: o.eta ?? 0 })
    : new DDPMScheduler({ ...common, varianceType: ns.varianceType });
  if (kind === "ddim" || o.steps) scheduler.setTimesteps(o.steps ?? 50);
  return scheduler;
}

/** Shape of one sample's latent noise: [1, latent channels, diffusion patch / 2^(autoencoder levels − 1)]. */
export function sampleLatentShape(config: TrainConfig): number[] {
  const f = 2 ** (config.autoencoder.channels.length - 1);
  return [1, config.latentChannels, ...config.diffusionTrain.patchSize.map((p) => p / f)];
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
  const optimizer = new Adam(unet.parameters(), { lr: tc.lr * worldSize });
  const lrSchedule = new MultiStepLR(optimizer, [100, 1000], 0.1);
  const scheduler = schedulerFromConfig(cfg);

  const hash = diffusionConfigHash(cfg);
  const paths = {
    last: join(env.modelDir, DIFFUSION_FILES.last),
    best: join(env.modelDir, DIFFUSION_FILES.best),
  };
  const parts = { models: { unet }, optimizers: { unet: optimizer } };
  let start: LoopPosition = { epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100.0 };
  let scaleFactor = NaN;
  if (env.resumeCkpt && (await readCheckpointInfo(paths.last))) {
    const info = await loadCheckpoint(paths.last, parts, { kind: "diffusion", configHash: hash });
    start = positionFrom(info, start.bestValLoss);
    scaleFactor = Number(info.extra?.scaleFactor);
    lrSchedule.loadStateDict({ lastEpoch: Number(info.extra?.lrLastEpoch ?? start.epoch) });
    log(`resumed from ${paths.last}: epoch ${start.epoch}, step ${start.step}, scale factor ${scaleFactor}`);
  }
  const latentOf = (images: T.Tensor) => autoencoderLatentShape(autoencoder, images.shape);
  if (!Number.isFinite(scaleFactor)) {
    // Reference behaviour: 1/std of the sampled latents of the first training batch (DDP: averaged over ranks).
    trainLoader.setEpoch(0);
    const first = await trainLoader.batches().next();
    if (first.done) throw new Error("diffusion: the training loader yielded no batch");
    const images = batchTensor(first.value);
    const eps = T.randn(latentOf(images), {
      seed,
      stream: "diffusion/scale_eps",
      sampleOffset: rank * images.shape[0],
    });
    const z = T.noGrad(() => autoencoder.encodeStage2Inputs(images, eps));
    const inferer0 = new LatentDiffusionInferer(scheduler);
    scaleFactor = await inferer0.scaleFactorFromLatents(z);
    if (o.comm) scaleFactor = await meanScalar(o.comm, scaleFactor);
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
  const synthEvery = o.synthEvery ?? 100;
  let result;
  try {
    result = await runTrainingLoop(start, {
      name: "diffusion",
      loader: trainLoader,
      maxEpochs,
      valInterval: tc.valInterval,
      logEvery: o.logEvery ?? 10,
      rank,
      log,
      // Reference behaviour: lr_scheduler.step() at the start of every epoch.
      beforeEpoch: () => lrSchedule.step(),
      trainStep: async (batch, _epoch, step) => {
        const images = batchTensor(batch);
        const key = { seed, step, sampleOffset: rank * batch.shape[0] };
        const eps = T.randn(latentOf(images), { ...key, stream: "diffusion/vae_eps" });
        const r = await trainer.step(images, { ...key, eps, gradHook: o.gradHook });
        images.dispose();
        eps.dispose();
        return { loss: r.loss };
      },
      onLosses: (rows, means) => {
        for (const row of rows) runLog.scalar("train_diffusion_loss_iter", row.values.loss, row.step);
        return { loss: means.loss, lr: optimizer.lr };
      },
      validate: async (epoch) => {
        let val = await validationLoss(valLoader, autoencoder, unet, inferer, seed, epoch, latentOf);
        if (o.comm) val = await meanScalar(o.comm, val);
        runLog.scalar("val_diffusion_loss", val, epoch + 1);
        return val;
      },
      afterEpoch: async (epoch) => {
        if (rank !== 0 || epoch % synthEvery !== 0) return;
        const png = await synthesizePreview(
          autoencoder,
          unet,
          cfg,
          scaleFactor,
          seed,
          epoch,
          o.synthDdimSteps,
          runLog,
        );
        await Deno.writeFile(join(env.modelDir, DIFFUSION_FILES.preview), png);
      },
      save: (which, p) =>
        rank === 0
          ? saveCheckpoint(paths[which], parts, {
            kind: "diffusion",
            configHash: hash,
            epoch: p.epoch,
            step: p.step,
            extra: {
              bestValLoss: p.bestValLoss,
              batchesIntoEpoch: p.batchesIntoEpoch,
              scaleFactor,
              lrLastEpoch: lrSchedule.lastEpoch,
              seed,
              config: cfg.diffusion,
            },
          })
          : Promise.resolve(),
    });
  } finally {
    runLog.close();
    // Release the device memory now: the demo generates in the same process.
    for (const m of [autoencoder, unet]) m.dispose();
    optimizer.dispose();
    scheduler.dispose();
  }
  const { position, interrupted, lastTrainLoss } = result;
  return {
    epochsDone: position.epoch,
    steps: position.step,
    bestValLoss: position.bestValLoss,
    scaleFactor,
    interrupted,
    lastTrainLoss,
  };
}

/** The training loss on the validation set (fresh noise and timesteps), mean over batches. */
async function validationLoss(
  loader: DataLoader,
  autoencoder: AutoencoderKL,
  unet: DiffusionModelUNet,
  inferer: LatentDiffusionInferer,
  seed: number,
  epoch: number,
  latentOf: (x: T.Tensor) => number[],
): Promise<number> {
  const book = new LossBook();
  let i = 0;
  for await (const batch of loader.batches()) {
    const images = batchTensor(batch);
    const key = { seed, step: epoch * 100003 + i };
    const loss = T.noGrad(() =>
      T.scope(() => {
        const noise = T.randn(latentOf(images), { ...key, stream: "diffusion/val_noise" });
        const t = T.randint(
          [images.shape[0]],
          { ...key, stream: "diffusion/val_timesteps" },
          0,
          inferer.scheduler.numTrainTimesteps,
        );
        const eps = T.randn(latentOf(images), { ...key, stream: "diffusion/val_vae_eps" });
        return inferer.trainingLoss(images, autoencoder, unet.asFunction(), noise, t, { eps }).loss;
      })
    );
    book.add(i++, { loss });
    images.dispose();
  }
  return (await book.read()).means.loss;
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
  const out = await inferer.sample(noise, unet.asFunction(), scheduler, autoencoder, {
    generator: { seed, stream: "diffusion/synth_step" },
  });
  const [, , X, Y, Z] = out.image.shape;
  const data = (await out.image.data()) as Float32Array;
  for (const t of [noise, out.image, out.latent, ...out.intermediates]) t.dispose();
  scheduler.dispose();
  return runLog.volume("val_diff_synimg", data, [X, Y, Z], epoch + 1);
}

if (import.meta.main) {
  const { runTrainingCommand } = await import("./command.ts");
  await runTrainingCommand(
    {
      name: "train_diffusion",
      description:
        "Trains the latent diffusion UNet (stage 2) on the frozen autoencoder, as the reference's train_diffusion.py.",
      flags: {
        "autoencoder-checkpoint": {
          type: "string",
          description:
            "autoencoder weights (default model_dir/autoencoder.safetensors; reference .pt accepted)",
          valueName: "file",
        },
        "synth-every": {
          type: "string",
          description: "epochs between preview syntheses (default 100)",
          default: "100",
        },
      },
    },
    Deno.args,
    async ({ args, config, env }, { maxEpochs, seed, dist }) => {
      const r = await trainDiffusion({
        config,
        env,
        downloadData: args.downloadData,
        maxEpochs,
        seed,
        autoencoderWeights: args.flags["autoencoder-checkpoint"] as string | undefined,
        synthEvery: Number(args.flags["synth-every"]),
        rank: dist.rank,
        worldSize: dist.worldSize,
        comm: dist.comm,
        gradHook: dist.gradHook,
        log: dist.log,
      });
      dist.log(
        `done: ${r.epochsDone} epochs, ${r.steps} steps, best val loss ${
          r.bestValLoss.toFixed(5)
        }, scale factor ${r.scaleFactor.toFixed(5)}`,
      );
    },
  );
}
