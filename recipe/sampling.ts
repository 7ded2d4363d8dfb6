/**
 * Sampling shared by `generate` and the browser page (web/): the models a config describes, their weights
 * from file contents, the scheduler, and one volume sampled and decoded. Bytes in, arrays out: nothing here
 * touches the file system, so the page and the CLI run the same code and give the same volumes and messages.
 */
import * as T from "../tensor/mod.ts";
import { AutoencoderKL } from "../nn/models/autoencoder_kl.ts";
import { manualSeed } from "../nn/init.ts";
import { isCheckpointMetadata, parseCheckpointMetadata } from "../nn/checkpoint.ts";
import { parseStateDict } from "../nn/serialization/mod.ts";
import { detectKeyNaming } from "../nn/serialization/key_names.ts";
import { isSafetensors, readSafetensors } from "../nn/serialization/safetensors.ts";
import { DiffusionModelUNet } from "../diffusion/unet.ts";
import {
  DDIMScheduler,
  DDPMScheduler,
  LatentDiffusionInferer,
  type LatentRange,
  type Scheduler,
} from "../diffusion/mod.ts";
import type { TrainConfig } from "./config.ts";
import { loadModelWeightsFromBytes } from "./weights.ts";

/** The checkpoint role of the UNet's EMA weights (beside "unet"). */
export const EMA_ROLE = "unet_ema";

/**
 * The scheduler the config describes: DDPM (training, and the tutorial's inference, over all training steps unless
 * `steps` is given) or DDIM with `steps` (default 50; the bundle's recipe). `clipSample` overrides the config;
 * neither set: no clipping (latents are not confined to [−1, 1]). `clipRange` replaces [−1, 1] when clipping.
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

/** RAS affine with `spacing` on the diagonal and the volume's centre at the world origin. */
export function centredRasAffine(shape: readonly number[], spacing: readonly number[]): number[][] {
  return [
    [spacing[0], 0, 0, (-(shape[0] - 1) / 2) * spacing[0]],
    [0, spacing[1], 0, (-(shape[1] - 1) / 2) * spacing[1]],
    [0, 0, spacing[2], (-(shape[2] - 1) / 2) * spacing[2]],
    [0, 0, 0, 1],
  ];
}

/** What our diffusion checkpoints store for sampling (null / false for any other weights file). */
export interface StoredSamplingInfo {
  scaleFactor: number | null;
  latentRange: LatentRange | null;
  hasEma: boolean;
}

/** The sampling facts stored in one of our diffusion checkpoints. */
export function storedSamplingInfo(bytes: Uint8Array, source: string): StoredSamplingInfo {
  const none = { scaleFactor: null, latentRange: null, hasEma: false };
  if (!isSafetensors(bytes)) return none;
  const { metadata } = readSafetensors(bytes, source);
  if (!isCheckpointMetadata(metadata)) return none;
  const parsed = parseCheckpointMetadata(source, metadata);
  const extra = parsed.info.extra ?? {};
  const v = Number(extra.scaleFactor);
  return {
    scaleFactor: Number.isFinite(v) ? v : null,
    latentRange: (extra.latentRange as LatentRange | undefined) ?? null,
    hasEma: parsed.models.includes(EMA_ROLE),
  };
}

/** A weights file's contents and the name its errors use (a path or a URL). */
export interface WeightsBytes {
  bytes: Uint8Array;
  source: string;
}

/** The two models of a sampling run, with weights, what the UNet's file stores, and which UNet weights were used. */
export interface SamplingModels {
  autoencoder: AutoencoderKL;
  unet: DiffusionModelUNet;
  stored: StoredSamplingInfo;
  /** The EMA average, the raw training weights, or an untrained UNet. */
  weights: "ema" | "raw" | "untrained";
  dispose(): void;
}

/** Reads one weights file when called (so a bad autoencoder is reported before the UNet file is read). */
export type WeightsReader = () => Promise<WeightsBytes>;

/**
 * Builds the autoencoder and UNet `config` describes and loads their weights (`unet` absent: untrained UNet).
 * `includeFc` as `generate --include-fc`; default: the config's, else false for GenerativeModels-named `.pt` keys.
 */
export async function loadSamplingModels(
  config: TrainConfig,
  weights: { autoencoder: WeightsReader; unet?: WeightsReader },
  o: { includeFc?: boolean; seed?: number; useEma?: boolean; log?: (s: string) => void } = {},
): Promise<SamplingModels> {
  manualSeed(o.seed ?? 42);
  const autoencoder = new AutoencoderKL({ ...config.autoencoder });
  let unet: DiffusionModelUNet | null = null;
  try {
    const ae = await weights.autoencoder();
    loadModelWeightsFromBytes(autoencoder, ae.bytes, ae.source, "autoencoderkl", "autoencoder");
    autoencoder.eval();
    const w = weights.unet ? await weights.unet() : undefined;
    let includeFc = o.includeFc ?? config.diffusion.includeFc;
    if (includeFc === undefined && w && !isSafetensors(w.bytes)) {
      const keys = parseStateDict(w.bytes, w.source, { checkFinite: false }).stateDict.keys();
      // Reference behaviour: GenerativeModels' UNet attention has no output projection in use.
      includeFc = detectKeyNaming(keys, "diffusion_unet") !== "gm";
    }
    unet = new DiffusionModelUNet({ ...config.diffusion, includeFc: includeFc ?? true });
    const stored = w
      ? storedSamplingInfo(w.bytes, w.source)
      : { scaleFactor: null, latentRange: null, hasEma: false };
    let used: SamplingModels["weights"] = "untrained";
    if (w) {
      used = stored.hasEma && o.useEma !== false ? "ema" : "raw";
      loadModelWeightsFromBytes(
        unet,
        w.bytes,
        w.source,
        "diffusion_unet",
        used === "ema" ? EMA_ROLE : "unet",
        {
          projection: includeFc === false ? "drop" : "identity",
        },
      );
      o.log?.(
        used === "ema"
          ? `sampling from the EMA weights in ${w.source}`
          : stored.hasEma
          ? `sampling from the raw weights in ${w.source} (EMA weights present but not asked for)`
          : `sampling from the raw weights: ${w.source} holds no EMA weights`,
      );
    }
    const models = {
      autoencoder,
      unet,
      stored,
      weights: used,
      dispose() {
        autoencoder.dispose();
        models.unet.dispose();
      },
    };
    return models;
  } catch (e) {
    autoencoder.dispose();
    unet?.dispose();
    throw e;
  }
}

/** Options of {@link sampleVolume}. */
export interface SampleVolumeOptions {
  scheduler: Scheduler;
  scaleFactor: number;
  seed: number;
  /** Global index of this sample: its noise is drawn at this sample offset. */
  index: number;
  /** Called after each step with (steps done, total). */
  progress?: (step: number, total: number) => void;
  /** Wait for the device every this many steps (the page uses 1 so its progress is the device's). */
  syncEvery?: number;
}

/** A decoded sample: voxels C-order over (x, y, z), z fastest (as `Volume` holds them). */
export interface SampledVolume {
  data: Float32Array;
  shape: [number, number, number];
}

/** Samples one volume: seeded latent noise, the scheduler's loop with the UNet, decode. */
export async function sampleVolume(
  config: TrainConfig,
  models: SamplingModels,
  o: SampleVolumeOptions,
): Promise<SampledVolume> {
  const inferer = new LatentDiffusionInferer(o.scheduler, { scaleFactor: o.scaleFactor });
  const noise = T.randn(sampleLatentShape(config), {
    seed: o.seed,
    stream: "generate/noise",
    sampleOffset: o.index,
  });
  const out = await inferer.sample(noise, models.unet.asFunction(), o.scheduler, models.autoencoder, {
    generator: { seed: o.seed, stream: `generate/step/${o.index}` },
    progress: o.progress,
    syncEvery: o.syncEvery,
  });
  try {
    const [, , X, Y, Z] = out.image.shape;
    return { data: (await out.image.data()) as Float32Array, shape: [X, Y, Z] };
  } finally {
    for (const t of [noise, out.image, out.latent, ...out.intermediates]) t.dispose();
  }
}
