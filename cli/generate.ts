/**
 * `generate`: samples new volumes from trained models (ours or the reference's), decodes them, and writes
 * each as `.nii.gz` with the training spacing and an RAS affine centred on the volume, plus a PNG of its three
 * mid-slices. DDPM over all training steps (the tutorial's inference.py) or DDIM with `--steps`
 * (the published bundle's recipe: DDIM 50, no clipping).
 */
import { join } from "node:path";
import * as T from "../tensor/mod.ts";
import { AutoencoderKL } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { DiffusionModelUNet } from "../diffusion/unet.ts";
import { LatentDiffusionInferer } from "../diffusion/mod.ts";
import { writeNifti } from "../data/mod.ts";
import { loadStateDictFile } from "../nn/serialization/mod.ts";
import { detectKeyNaming } from "../nn/serialization/key_names.ts";
import { CHECKPOINT_FORMAT } from "../nn/checkpoint.ts";
import { isSafetensors, readSafetensors } from "../nn/serialization/safetensors.ts";
import type { EnvironmentConfig, TrainConfig } from "./config.ts";
import { ensureWritableDir } from "./run_context.ts";
import { AUTOENCODER_FILES } from "./train_autoencoder.ts";
import { DIFFUSION_FILES, sampleLatentShape, schedulerFromConfig } from "./train_diffusion.ts";
import { loadModelWeights } from "./weights.ts";
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
  clipSample?: boolean;
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

async function storedScaleFactor(path: string): Promise<number | null> {
  const bytes = await Deno.readFile(path).catch(() => null);
  if (!bytes || !isSafetensors(bytes)) return null;
  const { metadata } = readSafetensors(bytes, path);
  if (metadata.format !== CHECKPOINT_FORMAT) return null;
  const v = Number(JSON.parse(metadata.info)?.extra?.scaleFactor);
  return Number.isFinite(v) ? v : null;
}

/** Samples `num` volumes; see the module doc. */
export async function generate(o: GenerateOptions): Promise<GenerateResult> {
  const log = o.log ?? console.log;
  const cfg = o.config;
  const num = o.num ?? 1, seed = o.seed ?? 42;
  const output = o.output ?? join(o.env.modelDir, "samples");
  await ensureWritableDir(output, "output folder");
  log(T.backendSummary(await T.init()));
  manualSeed(seed);
  const autoencoder = new AutoencoderKL({ ...cfg.autoencoder });
  await loadModelWeights(
    autoencoder,
    o.autoencoderCheckpoint ?? join(o.env.modelDir, AUTOENCODER_FILES.best),
    "autoencoderkl",
    "autoencoder",
  );
  autoencoder.eval();
  const unetPath = o.diffusionCheckpoint ?? join(o.env.modelDir, DIFFUSION_FILES.best);
  let includeFc = o.includeFc ?? cfg.diffusion.includeFc;
  if (includeFc === undefined && !o.untrainedUnet && !unetPath.endsWith(".safetensors")) {
    const naming = detectKeyNaming(
      (await loadStateDictFile(unetPath, { checkFinite: false })).keys(),
      "diffusion_unet",
    );
    // Reference behaviour: GenerativeModels' UNet attention has no output projection in use.
    includeFc = naming !== "gm";
  }
  const unet = new DiffusionModelUNet({ ...cfg.diffusion, includeFc: includeFc ?? true });
  if (!o.untrainedUnet) {
    await loadModelWeights(unet, unetPath, "diffusion_unet", "unet", {
      projection: includeFc === false ? "drop" : "identity",
    });
  }
  let scaleFactor = o.scaleFactor ?? (o.untrainedUnet ? null : await storedScaleFactor(unetPath));
  if (scaleFactor === null) {
    scaleFactor = 1.0;
    log(
      "scale factor: none stored with the diffusion weights and none given (--scale-factor); using 1.0 as the reference's inference.py does",
    );
  }
  const kind = o.scheduler ?? "ddpm";
  const scheduler = schedulerFromConfig(cfg, kind, { steps: o.steps, eta: o.eta, clipSample: o.clipSample });
  const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor });
  const latent = sampleLatentShape(cfg);
  const files: string[] = [], volumes: Float32Array[] = [];
  let shape: [number, number, number] = [0, 0, 0];
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
  for (let i = 0; i < num; i++) {
    const noise = T.randn(latent, { seed, stream: "generate/noise", sampleOffset: i });
    const progress = new Progress({
      total: scheduler.timesteps.length,
      label: `sample ${i + 1}/${num} (${kind})`,
    });
    const out = await inferer.sample(noise, unet.asFunction(), scheduler, autoencoder, {
      generator: { seed, stream: `generate/step/${i}` },
      progress: (s) => progress.update(s),
    });
    progress.done();
    const [, , X, Y, Z] = out.image.shape;
    shape = [X, Y, Z];
    const data = (await out.image.data()) as Float32Array;
    for (const t of [noise, out.image, out.latent, ...out.intermediates]) t.dispose();
    const base = join(output, `synimg_${stamp}_${String(i).padStart(3, "0")}`);
    await writeNifti(`${base}.nii.gz`, {
      data,
      shape: [1, X, Y, Z],
      affine: centredRasAffine(shape, cfg.spacing),
      spacing: [...cfg.spacing],
    });
    await Deno.writeFile(`${base}.png`, volumeRowsPng([data], shape));
    files.push(`${base}.nii.gz`, `${base}.png`);
    if (o.keepVolumes) volumes.push(data);
    log(`wrote ${base}.nii.gz and .png`);
  }
  scheduler.dispose();
  autoencoder.dispose();
  unet.dispose();
  return { files, volumes, shape, scaleFactor };
}

if (import.meta.main) {
  const { runCommand } = await import("./command.ts");
  await runCommand(
    {
      name: "generate",
      description: "Generates brain volumes with the trained autoencoder and diffusion UNet (NIfTI + PNG).",
      common: ["config", "environment", "help", "backend"],
      flags: {
        num: { type: "string", description: "number of volumes", default: "1", valueName: "n" },
        scheduler: {
          type: "string",
          description: "ddpm (reference inference.py) or ddim (bundle recipe)",
          default: "ddpm",
        },
        steps: {
          type: "string",
          description: "inference steps (default: all training steps for ddpm, 50 for ddim)",
          valueName: "n",
        },
        eta: { type: "string", description: "DDIM eta (default 0)", default: "0" },
        seed: { type: "string", description: "random seed", default: "42" },
        output: {
          type: "string",
          description: "output folder (default model_dir/samples)",
          valueName: "dir",
        },
        "autoencoder-checkpoint": {
          type: "string",
          description: "autoencoder weights (ours, or the reference's .pt/safetensors)",
          valueName: "file",
        },
        "diffusion-checkpoint": {
          type: "string",
          description: "UNet weights (ours, or the reference's .pt/safetensors)",
          valueName: "file",
        },
        "scale-factor": {
          type: "string",
          description: "latent scale factor (default: stored with our checkpoint, else 1.0)",
          valueName: "x",
        },
        "clip-sample": {
          type: "string",
          description: "clip the predicted x0 to [-1, 1]: true|false (default: config)",
          valueName: "bool",
        },
        "include-fc": {
          type: "string",
          description: "UNet attention output projection: true|false (default: by key naming)",
          valueName: "bool",
        },
      },
    },
    Deno.args,
    async ({ args, config, env }) => {
      const f = args.flags;
      const bool = (name: string, v: unknown) => {
        if (v === undefined) return undefined;
        if (v !== "true" && v !== "false") throw new Error(`--${name} expects true or false, got "${v}"`);
        return v === "true";
      };
      const scheduler = f.scheduler as string;
      if (scheduler !== "ddpm" && scheduler !== "ddim") {
        throw new Error(`--scheduler must be ddpm or ddim, got "${scheduler}"`);
      }
      const num = Number(f.num);
      if (!Number.isInteger(num) || num < 1) {
        throw new Error(`--num must be a positive integer, got "${f.num}"`);
      }
      await generate({
        config,
        env,
        num,
        scheduler,
        steps: f.steps ? Number(f.steps) : undefined,
        eta: Number(f.eta),
        seed: Number(f.seed),
        output: f.output as string | undefined,
        autoencoderCheckpoint: f["autoencoder-checkpoint"] as string | undefined,
        diffusionCheckpoint: f["diffusion-checkpoint"] as string | undefined,
        scaleFactor: f["scale-factor"] ? Number(f["scale-factor"]) : undefined,
        clipSample: bool("clip-sample", f["clip-sample"]),
        includeFc: bool("include-fc", f["include-fc"]),
      });
    },
  );
}
