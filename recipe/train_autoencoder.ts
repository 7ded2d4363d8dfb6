/**
 * `train-autoencoder`: stage 1 of the reference recipe (SPEC §5) — AutoencoderKL with L1 + KL + perceptual +
 * adversarial losses on random patches, validation every `val_interval` epochs keeping the best model,
 * atomic checkpoints with full resume (weights, optimizers, epoch, step), progress, TensorBoard, PNG previews.
 */
import { join } from "pathe";
import { DataLoader, referenceTransforms } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { Adam, AutoencoderKL, AutoencoderTrainer, PatchDiscriminator, PerceptualLoss } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { configHash, loadCheckpoint, readCheckpointInfo } from "../nn/checkpoint.ts";
import { loadStateDictFile } from "../nn/serialization/mod.ts";
import { autoencoderLatentShape } from "../nn/train/diffusion_step.ts";
import type { TrainConfig } from "./config.ts";
import { volumeRowsPng } from "./png.ts";
import { Progress } from "./progress.ts";
import { describeResumedLr } from "./resume_overrides.ts";
import { batchTensor, LossBook, RunLog } from "./run_context.ts";
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

/** Options of {@link trainAutoencoder}. */
export interface TrainAutoencoderOptions extends TrainingRunOptions {
  /** SqueezeNet-1.1 (torchvision) and LPIPS v0.1 head files; without them the perceptual term is off. */
  perceptualWeights?: { trunk: string; heads: string };
}

/** Checkpoint file names in `model_dir`. */
export const AUTOENCODER_FILES = {
  last: "autoencoder_last.safetensors",
  best: "autoencoder.safetensors",
  preview: "autoencoder_val.png",
} as const;

/** What a finished (or interrupted) run reports. */
export type TrainAutoencoderResult = TrainingRunResult;

/** The architecture hash stored in autoencoder checkpoints. */
export function autoencoderConfigHash(config: TrainConfig): string {
  return configHash({ autoencoder: config.autoencoder, discriminator: config.discriminator });
}

/** Runs the autoencoder stage. */
export async function trainAutoencoder(o: TrainAutoencoderOptions): Promise<TrainAutoencoderResult> {
  const { log, rank, worldSize, seed, files, cacheDir } = await setupRun(o);
  const cfg = o.config, tc = cfg.autoencoderTrain, env = o.env;
  const maxEpochs = o.maxEpochs ?? tc.maxEpochs;
  const levels = cfg.autoencoder.channels.length;
  const chain = (train: boolean) =>
    referenceTransforms({
      stage: "autoencoder",
      train,
      channel: cfg.channel,
      spacing: cfg.spacing,
      maxResampledVoxels: cfg.maxResampledVoxels,
      patchSize: tc.patchSize,
      autoencoderLevels: levels,
      cropSeed: seed,
    });
  const trainTransforms = chain(true);
  const trainLoader = new DataLoader({
    files: files.train,
    transforms: trainTransforms,
    batchSize: tc.batchSize,
    seed,
    rank,
    worldSize,
    cacheDir,
  });
  const valLoader = new DataLoader({
    files: files.val.length ? files.val : files.train,
    transforms: chain(false),
    batchSize: tc.batchSize,
    shuffle: false,
    rank,
    worldSize,
    cacheDir,
  });

  manualSeed(seed);
  const autoencoder = new AutoencoderKL({ ...cfg.autoencoder });
  const discriminator = new PatchDiscriminator({ ...cfg.discriminator });
  // Reference behaviour: the learning rate is multiplied by the number of GPUs (linear scaling).
  const optimizerG = new Adam(autoencoder.parameters(), { lr: tc.lr * worldSize });
  const optimizerD = new Adam(discriminator.parameters(), { lr: tc.lr * worldSize });
  let perceptual: PerceptualLoss | null = null;
  if (o.perceptualWeights) {
    perceptual = new PerceptualLoss({ fake3dRatio: 0.2, seed });
    perceptual.loadTorchvisionWeights(
      await loadStateDictFile(o.perceptualWeights.trunk),
      await loadStateDictFile(o.perceptualWeights.heads),
      o.perceptualWeights.trunk,
    );
  }
  const trainer = new AutoencoderTrainer(
    { autoencoder, discriminator, optimizerG, optimizerD, perceptual, warn: (m) => rank === 0 && log(m) },
    {
      klWeight: tc.klWeight,
      perceptualWeight: tc.perceptualWeight,
      advWeight: tc.advWeight,
      reconLoss: tc.reconLoss,
      autoencoderWarmUpNEpochs: tc.warmUpEpochs,
    },
  );

  const hash = autoencoderConfigHash(cfg);
  const paths = {
    last: join(env.modelDir, AUTOENCODER_FILES.last),
    best: join(env.modelDir, AUTOENCODER_FILES.best),
  };
  const parts = {
    models: { autoencoder, discriminator },
    optimizers: { generator: optimizerG, discriminator: optimizerD },
  };
  let start: LoopPosition = { epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100.0 };
  if (env.resumeCkpt && (await readCheckpointInfo(paths.last))) {
    const info = await loadCheckpoint(paths.last, parts, { kind: "autoencoder", configHash: hash });
    start = positionFrom(info, start.bestValLoss);
    log(`resumed from ${paths.last}: epoch ${start.epoch}, step ${start.step} (weights and optimizer state)`);
    for (const [role, opt] of [["generator", optimizerG], ["discriminator", optimizerD]] as const) {
      const lines = describeResumedLr({
        role,
        configKey: "autoencoder_train.lr",
        configLr: tc.lr,
        worldSize,
        checkpointLr: opt.lr,
        usedLr: opt.lr,
      });
      for (const line of lines) log(line);
    }
  }
  const runLog = new RunLog(join(env.tfeventPath, "autoencoder"), rank);
  const cropRng = (trainTransforms[3] as unknown as { rng?: { reseed(s: number): void } }).rng;
  let result;
  try {
    result = await runTrainingLoop(start, {
      name: "autoencoder",
      loader: trainLoader,
      maxEpochs,
      valInterval: tc.valInterval,
      logEvery: o.logEvery ?? 10,
      stop: o.stop,
      rank,
      log,
      // Crops come from a stream restarted every epoch, so a run resumed at an epoch boundary sees the same patches.
      beforeEpoch: (epoch) => cropRng?.reseed((seed * 1000003 + epoch) >>> 0),
      trainStep: async (batch, epoch, step) => {
        using images = batchTensor(batch);
        using eps = T.randn(autoencoderLatentShape(autoencoder, images.shape), {
          seed,
          stream: "vae/eps",
          step,
          sampleOffset: rank * batch.shape[0],
        });
        const r = await trainer.step(images, { epoch, eps, gradHook: o.gradHook });
        for (const t of [r.generatorTotal, r.discriminatorTotal]) t?.dispose();
        return {
          recon: r.recon,
          kl: r.kl,
          perceptual: r.perceptual,
          adv_g: r.generatorAdv,
          fake: r.discFake,
          real: r.discReal,
        };
      },
      onLosses: (rows, means) => {
        for (const row of rows) {
          const v = row.values;
          runLog.scalar("train_recon_loss_iter", v.recon, row.step);
          runLog.scalar("train_kl_loss_iter", v.kl, row.step);
          if ("perceptual" in v) runLog.scalar("train_perceptual_loss_iter", v.perceptual, row.step);
          if ("adv_g" in v) {
            runLog.scalar("train_adv_loss_iter", v.adv_g, row.step);
            runLog.scalar("train_fake_loss_iter", v.fake, row.step);
            runLog.scalar("train_real_loss_iter", v.real, row.step);
          }
        }
        return {
          recon: means.recon,
          kl: means.kl,
          ...(means.adv_g !== undefined ? { adv: means.adv_g } : {}),
        };
      },
      validate: async (epoch) => {
        const { val, png } = await validate(
          autoencoder,
          valLoader,
          trainer,
          perceptual,
          tc.perceptualWeight,
          seed,
          epoch,
          runLog,
        );
        if (rank === 0 && png) await Deno.writeFile(join(env.modelDir, AUTOENCODER_FILES.preview), png);
        // Reference behaviour: per-epoch values are logged at the 0-based epoch.
        runLog.scalar("val_recon_loss", val, epoch);
        return val;
      },
      save: saveLoopCheckpoint(
        rank,
        paths,
        parts,
        "autoencoder",
        hash,
        () => ({ seed, config: cfg.autoencoder }),
      ),
    });
  } finally {
    runLog.close();
    // Release the device memory now: the demo runs the next stage in the same process.
    for (const m of [autoencoder, discriminator, perceptual]) m?.dispose();
    for (const opt of [optimizerG, optimizerD]) opt.dispose();
  }
  return loopSummary(result);
}

/** Validation metric as the reference: L1 + perceptual_weight·perceptual on sampled reconstructions, batch mean. */
async function validate(
  autoencoder: AutoencoderKL,
  loader: DataLoader,
  trainer: AutoencoderTrainer,
  perceptual: PerceptualLoss | null,
  perceptualWeight: number,
  seed: number,
  epoch: number,
  runLog: RunLog,
): Promise<{ val: number; png: Uint8Array | null }> {
  const book = new LossBook();
  let last: { input: Float32Array; recon: T.Tensor; shape: [number, number, number] } | null = null;
  let i = 0;
  const progress = runLog.rank === 0
    ? new Progress({ total: loader.length, label: `autoencoder validation (epoch ${epoch + 1})` })
    : null;
  autoencoder.eval();
  for await (const batch of loader.batches()) {
    const images = batchTensor(batch);
    const eps = T.randn(autoencoderLatentShape(autoencoder, images.shape), {
      seed,
      stream: "vae/val_eps",
      step: epoch,
    });
    const { loss, recon } = T.noGrad(() =>
      T.scope(() => {
        const out = autoencoder.forward(images, eps);
        let l = trainer.reconLoss === "l1"
          ? T.mean(T.abs(T.sub(out.reconstruction, images)))
          : T.mean(T.square(T.sub(out.reconstruction, images)));
        if (perceptual) {
          l = T.add(l, T.affine(perceptual.forward(out.reconstruction, images).loss, perceptualWeight));
        }
        return { loss: l, recon: T.slice(out.reconstruction, [0, 0], [1, 1]) };
      })
    );
    book.add(i++, { loss });
    last?.recon.dispose();
    const [, , X, Y, Z] = batch.shape;
    last = { input: batch.data.slice(0, X * Y * Z), recon, shape: [X, Y, Z] };
    images.dispose();
    eps.dispose();
    progress?.update(i);
  }
  progress?.done();
  autoencoder.train();
  const { means } = await book.read();
  let png: Uint8Array | null = null;
  if (last) {
    const r = (await last.recon.data()) as Float32Array;
    last.recon.dispose();
    runLog.slices("val_img", last.input, last.shape, epoch);
    runLog.slices("val_recon", r, last.shape, epoch);
    // The preview file shows the input (top row) above its reconstruction (bottom row).
    png = volumeRowsPng([last.input, r], last.shape);
  }
  return { val: means.loss, png };
}
