/**
 * `deno task demo`: the whole pipeline end to end on a built-in default, offline — synthetic brain phantoms
 * in the Task01 layout → autoencoder training → latent diffusion training → generation → a report:
 * reconstruction L1 / PSNR / SSIM on held-out phantoms, sample diversity (mean pairwise 3D MS-SSIM), and
 * Fréchet distances (fixed feature set, nn/metrics/frechet.ts) from the held-out phantoms to
 * (a) autoencoder reconstructions of them (the ceiling), (b) generated samples, (c) samples of an untrained
 * UNet (the floor). Everything lands in one folder, named at the end.
 */
import { join, resolve } from "node:path";
import { DataLoader, referenceTransforms, writeSyntheticDataset } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { AutoencoderKL } from "../nn/mod.ts";
import {
  type HostVolume,
  meanPairwiseMsSsim,
  psnr,
  ssim3d,
  volumeFrechetDistance,
} from "../nn/metrics/mod.ts";
import { loadTrainConfig, type TrainConfig } from "./config.ts";
import { datasetFiles } from "./run_context.ts";
import { AUTOENCODER_FILES, trainAutoencoder } from "./train_autoencoder.ts";
import { trainDiffusion } from "./train_diffusion.ts";
import { generate } from "./generate.ts";
import { loadModelWeights } from "./weights.ts";
import { volumeRowsPng } from "./png.ts";

/** Demo settings (defaults: finishes in a few minutes on a 2-core CPU with a software GPU). */
export interface DemoOptions {
  output?: string;
  configPath?: string;
  phantoms?: number;
  autoencoderEpochs?: number;
  diffusionEpochs?: number;
  samples?: number;
  ddimSteps?: number;
  seed?: number;
  log?: (s: string) => void;
}

/** The numbers the demo reports. */
export interface DemoReport {
  output: string;
  heldOut: number;
  reconstruction: { l1: number; psnr: number; ssim: number };
  diversity: { generatedMsSsim: number; heldOutMsSsim: number };
  frechet: { ceilingReconstructions: number; generated: number; floorUntrained: number; gapClosed: number };
  verdict: "ok" | "training failed";
  perceptual: "off";
  seconds: Record<string, number>;
}

/** Held-out phantoms through the diffusion-stage chain (centre crop + scaling), as host volumes. */
async function heldOutVolumes(cfg: TrainConfig, files: string[]): Promise<HostVolume[]> {
  const loader = new DataLoader({
    files,
    transforms: referenceTransforms({
      stage: "diffusion",
      train: false,
      channel: cfg.channel,
      spacing: cfg.spacing,
      patchSize: cfg.diffusionTrain.patchSize,
      autoencoderLevels: cfg.autoencoder.channels.length,
    }),
    batchSize: 1,
    shuffle: false,
  });
  const out: HostVolume[] = [];
  for await (const b of loader.batches()) {
    out.push({ data: b.data, shape: [b.shape[2], b.shape[3], b.shape[4]] });
  }
  return out;
}

/** Runs the demo and returns its report (also written as report.json / report.md in the output folder). */
export async function runDemo(o: DemoOptions = {}): Promise<DemoReport> {
  const log = o.log ?? console.log;
  const seed = o.seed ?? 42;
  const output = resolve(o.output ?? "runs/demo");
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Number(((now - t) / 1000).toFixed(1));
    t = now;
  };
  log(`demo: ${T.backendSummary(await T.init())}; output folder ${output}`);
  await Deno.remove(output, { recursive: true }).catch(() => {});
  const config = await loadTrainConfig(
    o.configPath ?? new URL("../config/config_demo.json", import.meta.url).pathname,
  );
  const env = {
    dataBaseDir: join(output, "data"),
    modelDir: join(output, "models"),
    tfeventPath: join(output, "tfevents"),
    resumeCkpt: false,
  };
  // Phantoms of 60³ voxels at 4 mm resample to 48³ at the demo's 5 mm: room for the 48³ validation crop.
  await writeSyntheticDataset(env.dataBaseDir, {
    numTraining: o.phantoms ?? 40,
    shape: [60, 60, 60],
    spacing: 4,
    seed,
  });
  lap("phantoms");

  const ae = await trainAutoencoder({ config, env, maxEpochs: o.autoencoderEpochs, seed, log });
  lap("autoencoder");
  const dm = await trainDiffusion({ config, env, maxEpochs: o.diffusionEpochs, seed, synthEvery: 1e9, log });
  lap("diffusion");

  const files = await datasetFiles(env.dataBaseDir, false, log);
  const real = await heldOutVolumes(config, files.val);
  const autoencoder = new AutoencoderKL({ ...config.autoencoder });
  await loadModelWeights(
    autoencoder,
    join(env.modelDir, AUTOENCODER_FILES.best),
    "autoencoderkl",
    "autoencoder",
  );
  const recon: HostVolume[] = [];
  for (const v of real) {
    const x = T.tensor(v.data, [1, 1, ...v.shape]);
    const r = T.noGrad(() => autoencoder.reconstruct(x));
    recon.push({ data: (await r.data()) as Float32Array, shape: v.shape });
    x.dispose();
    r.dispose();
  }
  autoencoder.dispose();
  lap("reconstructions");

  const n = o.samples ?? 8, steps = o.ddimSteps ?? 50;
  const common = { config, env, num: n, scheduler: "ddim" as const, steps, seed, keepVolumes: true, log };
  const gen = await generate({ ...common, output: join(output, "samples") });
  const floor = await generate({
    ...common,
    output: join(output, "samples_untrained"),
    untrainedUnet: true,
    scaleFactor: dm.scaleFactor,
    seed: seed + 1,
  });
  lap("generation");

  const asVol = (data: Float32Array): HostVolume => ({ data, shape: gen.shape });
  const generated = gen.volumes.map(asVol), untrained = floor.volumes.map(asVol);
  let l1 = 0, p = 0, s = 0;
  real.forEach((v, i) => {
    let d = 0;
    for (let k = 0; k < v.data.length; k++) d += Math.abs(v.data[k] - recon[i].data[k]);
    l1 += d / v.data.length;
    p += psnr(v, recon[i]);
    s += ssim3d(v, recon[i]);
  });
  const fdCeil = volumeFrechetDistance(real, recon);
  const fdGen = volumeFrechetDistance(real, generated);
  const fdFloor = volumeFrechetDistance(real, untrained);
  const gapClosed = (fdFloor - fdGen) / Math.max(fdFloor - fdCeil, 1e-12);
  const report: DemoReport = {
    output,
    heldOut: real.length,
    reconstruction: { l1: l1 / real.length, psnr: p / real.length, ssim: s / real.length },
    diversity: { generatedMsSsim: meanPairwiseMsSsim(generated), heldOutMsSsim: meanPairwiseMsSsim(real) },
    frechet: { ceilingReconstructions: fdCeil, generated: fdGen, floorUntrained: fdFloor, gapClosed },
    // "Clearly between": samples must close at least a quarter of the floor-to-ceiling gap.
    verdict: fdGen < fdFloor && gapClosed >= 0.25 ? "ok" : "training failed",
    perceptual: "off",
    seconds,
  };
  lap("metrics");
  await Deno.writeFile(
    join(output, "overview.png"),
    volumeRowsPng(
      [...real.slice(0, 3), ...generated.slice(0, 3), ...untrained.slice(0, 2)].map((v) => v.data),
      gen.shape,
    ),
  );
  await Deno.writeTextFile(
    join(output, "report.json"),
    JSON.stringify({ ...report, autoencoderRun: ae, diffusionRun: dm }, null, 2),
  );
  await Deno.writeTextFile(join(output, "report.md"), reportText(report));
  log(reportText(report));
  return report;
}

function reportText(r: DemoReport): string {
  const f = (x: number, d = 4) => x.toFixed(d);
  return [
    "## Demo report",
    `held-out phantoms: ${r.heldOut}; perceptual loss: OFF (no SqueezeNet/LPIPS weight files offline)`,
    `reconstruction (held-out): L1 ${f(r.reconstruction.l1)}  PSNR ${f(r.reconstruction.psnr, 2)} dB  SSIM ${
      f(r.reconstruction.ssim)
    }`,
    `diversity, mean pairwise MS-SSIM: generated ${f(r.diversity.generatedMsSsim)} (held-out phantoms ${
      f(r.diversity.heldOutMsSsim)
    })`,
    `Fréchet distance to held-out phantoms (16 fixed features): ceiling/reconstructions ${
      f(r.frechet.ceilingReconstructions)
    }, ` +
    `generated ${f(r.frechet.generated)}, floor/untrained UNet ${f(r.frechet.floorUntrained)}; ` +
    `generated samples close ${(100 * r.frechet.gapClosed).toFixed(0)}% of the floor-to-ceiling gap`,
    `verdict: ${
      r.verdict === "ok"
        ? "OK — generated samples land between floor and ceiling"
        : "TRAINING FAILED — generated samples are not clearly better than an untrained model"
    }`,
    `time (s): ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `outputs (NIfTI, PNG, TensorBoard, checkpoints): ${r.output}`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        output: { type: "string" },
        "autoencoder-epochs": { type: "string" },
        "diffusion-epochs": { type: "string" },
        samples: { type: "string" },
        strict: { type: "boolean" },
        backend: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(
        "usage: deno task demo [--output DIR] [--autoencoder-epochs N] [--diffusion-epochs N] [--samples N] [--strict]\n" +
          "       [--backend auto|webgpu|wasm]\n" +
          "  --strict  exit with code 2 when the report's verdict is 'training failed'",
      );
      Deno.exit(0);
    }
    if (values.backend !== undefined) {
      Deno.env.set("LDM_BACKEND", T.parseBackendChoice(values.backend, "--backend"));
    }
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const r = await runDemo({
      output: values.output,
      autoencoderEpochs: num(values["autoencoder-epochs"]),
      diffusionEpochs: num(values["diffusion-epochs"]),
      samples: num(values.samples),
    });
    console.log(`demo finished: ${r.verdict}; everything is in ${r.output}`);
    if (values.strict && r.verdict !== "ok") Deno.exit(2);
  } catch (e) {
    console.error((e as Error).message);
    if (Deno.env.get("LDM_DEBUG")) console.error((e as Error).stack);
    Deno.exit(1);
  }
}
