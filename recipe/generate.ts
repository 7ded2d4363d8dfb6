/**
 * `generate`: samples new volumes from trained models (ours or the reference's), decodes them, and writes
 * each as `.nii.gz` with the training spacing and an RAS affine centred on the volume, plus a PNG of its three
 * mid-slices. DDPM over all training steps (the tutorial's inference.py) or DDIM with `--steps`
 * (the published bundle's recipe: DDIM 50, no clipping).
 */
import { join } from "pathe";
import * as T from "../tensor/mod.ts";
import { writeNifti } from "../data/mod.ts";
import { rangeEnvelope } from "../diffusion/mod.ts";
import type { EnvironmentConfig, TrainConfig } from "./config.ts";
import { ensureWritableDir } from "./run_context.ts";
import { AUTOENCODER_FILES } from "./train_autoencoder.ts";
import { DIFFUSION_FILES } from "./train_diffusion.ts";
import {
  centredRasAffine,
  loadSamplingModels,
  sampleVolume,
  schedulerFromConfig,
  type WeightsBytes,
} from "./sampling.ts";
import { volumeRowsPng } from "./png.ts";
import { Progress } from "./progress.ts";

/** Options of {@link generate}. */
export interface GenerateOptions {
  config: TrainConfig;
  env: EnvironmentConfig;
  num?: number;
  scheduler?: "ddpm" | "ddim";
  /** Inference steps (DDIM; for DDPM, a subset via set_timesteps). Default: all training steps for DDPM, 50 for DDIM. */
  steps?: number;
  eta?: number;
  seed?: number;
  output?: string;
  autoencoderCheckpoint?: string;
  diffusionCheckpoint?: string;
  /** Overrides the scale factor stored with the diffusion checkpoint. */
  scaleFactor?: number;
  /**
   * Clip x̂0: false (default unless the config's clip_sample says otherwise), true ([−1, 1], the reference's
   * setting for its own weights) or "latent-range" (the range of the training latents stored with our checkpoint:
   * the envelope of its per-channel 0.5–99.5 percentiles, since the fused step clamps with one pair of bounds).
   */
  clipSample?: boolean | "latent-range";
  /** Sample from the EMA weights when the checkpoint holds them (default true). */
  useEma?: boolean;
  /** UNet attention output projection; default: false for GenerativeModels-named weights, else true. */
  includeFc?: boolean;
  /** An untrained UNet (the "floor" of the demo's report) instead of loading weights. */
  untrainedUnet?: boolean;
  /** Also return the volumes (the demo computes metrics on them). */
  keepVolumes?: boolean;
  log?: (s: string) => void;
}

/** What was written. */
export interface GenerateResult {
  files: string[];
  volumes: Float32Array[];
  shape: [number, number, number];
  scaleFactor: number;
  /** Which weights sampled: the EMA average, the raw training weights, or an untrained UNet. */
  weights: "ema" | "raw" | "untrained";
}

/** Reads a weights file for {@link loadSamplingModels}, with the CLI's message when it cannot. */
async function readWeights(path: string): Promise<WeightsBytes> {
  try {
    return { bytes: await Deno.readFile(path), source: path };
  } catch (e) {
    throw new Error(`${path}: cannot read weights (${(e as Error).message})`);
  }
}

/** Samples `num` volumes; see the module doc. */
export async function generate(o: GenerateOptions): Promise<GenerateResult> {
  const log = o.log ?? console.log;
  const cfg = o.config;
  const num = o.num ?? 1, seed = o.seed ?? 42;
  // Reference behaviour: inference.py writes to the environment's output_dir.
  const output = o.output ?? o.env.outputDir ?? join(o.env.modelDir, "samples");
  await ensureWritableDir(output, "output folder");
  log(T.backendSummary(await T.init()));
  const models = await loadSamplingModels(cfg, {
    autoencoder: () => readWeights(o.autoencoderCheckpoint ?? join(o.env.modelDir, AUTOENCODER_FILES.best)),
    unet: o.untrainedUnet
      ? undefined
      : () => readWeights(o.diffusionCheckpoint ?? join(o.env.modelDir, DIFFUSION_FILES.best)),
  }, { includeFc: o.includeFc, seed, useEma: o.useEma, log });
  let clipRange: [number, number] | undefined;
  if (o.clipSample === "latent-range") {
    if (!models.stored.latentRange) {
      models.dispose();
      throw new Error(
        `--clip-sample latent-range: the diffusion weights record no latent range (only checkpoints written by train-diffusion do)`,
      );
    }
    clipRange = rangeEnvelope(models.stored.latentRange);
    log(`clipping x̂0 to the training latents' range [${clipRange.map((v) => v.toFixed(3)).join(", ")}]`);
  }
  let scaleFactor = o.scaleFactor ?? models.stored.scaleFactor;
  if (scaleFactor === null) {
    scaleFactor = 1.0;
    log(
      "scale factor: none stored with the diffusion weights and none given (--scale-factor); using 1.0 as the reference's inference.py does",
    );
  }
  const kind = o.scheduler ?? "ddpm";
  const scheduler = schedulerFromConfig(cfg, kind, {
    steps: o.steps,
    eta: o.eta,
    clipSample: o.clipSample === undefined ? undefined : o.clipSample !== false,
    clipRange,
  });
  const files: string[] = [], volumes: Float32Array[] = [];
  let shape: [number, number, number] = [0, 0, 0];
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
  for (let i = 0; i < num; i++) {
    const progress = new Progress({
      total: scheduler.timesteps.length,
      label: `sample ${i + 1}/${num} (${kind})`,
    });
    const sample = await sampleVolume(cfg, models, {
      scheduler,
      scaleFactor,
      seed,
      index: i,
      progress: (s) => progress.update(s),
    });
    progress.done();
    shape = sample.shape;
    const data = sample.data;
    const base = join(output, `synimg_${stamp}_${String(i).padStart(3, "0")}`);
    await writeNifti(`${base}.nii.gz`, {
      data,
      shape: [1, ...shape],
      affine: centredRasAffine(shape, cfg.spacing),
      spacing: [...cfg.spacing],
    });
    await Deno.writeFile(`${base}.png`, volumeRowsPng([data], shape));
    files.push(`${base}.nii.gz`, `${base}.png`);
    if (o.keepVolumes) volumes.push(data);
    log(`wrote ${base}.nii.gz and .png`);
  }
  scheduler.dispose();
  const weights = models.weights;
  models.dispose();
  return { files, volumes, shape, scaleFactor, weights };
}
