/**
 * `deno task demo`: the whole pipeline end to end on a built-in default, offline — synthetic brain phantoms
 * in the Task01 layout → autoencoder training → latent diffusion training → generation → a report:
 * reconstruction L1 / PSNR / SSIM on held-out phantoms, sample diversity (mean pairwise 3D MS-SSIM), and
 * Fréchet distances (fixed feature set, nn/metrics/frechet.ts) from the held-out phantoms to
 * (a) autoencoder reconstructions of them (the ceiling), (b) generated samples, (c) samples of an untrained
 * UNet (the floor). Everything lands in one folder, named at the end.
 */
import { join } from "node:path";
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
import { loadTrainConfig, readConfigFile, type TrainConfig } from "./config.ts";
import { datasetFiles } from "./run_context.ts";
import { AUTOENCODER_FILES, trainAutoencoder } from "./train_autoencoder.ts";
import { trainDiffusion } from "./train_diffusion.ts";
import { generate } from "./generate.ts";
import { loadModelWeights } from "./weights.ts";
import { volumeRowsPng } from "./png.ts";
import type { CommandSpec } from "./args.ts";
import { DEMO_MANIFEST, prepareDemoOutput } from "./demo_output.ts";

/** The page `deno task serve --models DIR` serves, opening DIR's config and checkpoints. */
const PAGE_URL = "http://127.0.0.1:8000/?models=/models/";

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
  /** Use a non-empty output folder that is not a previous demo output (nothing in it is deleted). */
  force?: boolean;
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
      maxResampledVoxels: cfg.maxResampledVoxels,
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
  // Checked before any work: never delete what the demo did not create.
  const output = await prepareDemoOutput(o.output ?? "runs/demo", { force: o.force });
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Number(((now - t) / 1000).toFixed(1));
    t = now;
  };
  await T.init();
  log(`demo: device ${T.backend().description}; output folder ${output}`);
  const configPath = o.configPath ?? new URL("../config/config_demo.json", import.meta.url).pathname;
  const config = await loadTrainConfig(configPath);
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
  // The browser page (deno task serve --models …) opens models/ with its config beside the checkpoints.
  await Deno.writeTextFile(
    join(env.modelDir, "config.json"),
    JSON.stringify(await readConfigFile(configPath), null, 2),
  );

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
  log(`open the trained models in a browser: deno task serve --models ${env.modelDir}  (then ${PAGE_URL})`);
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

/** The `demo` command line. */
export const DEMO_COMMAND = {
  name: "demo",
  description:
    "Runs the whole pipeline offline on synthetic phantoms (autoencoder, diffusion, generation) and writes a report.",
  common: ["help"],
  flags: {
    output: {
      type: "string",
      description:
        `output folder; it must be new, empty, or a previous demo output (marked by ${DEMO_MANIFEST}), ` +
        "of which only the demo's own files are replaced; the working directory is always refused",
      default: "runs/demo",
      valueName: "dir",
    },
    force: {
      type: "boolean",
      description:
        "use a non-empty --output folder that is not a previous demo output; nothing in it is deleted",
    },
    "autoencoder-epochs": {
      type: "string",
      description: "autoencoder epochs (when not given: the demo config's)",
      valueName: "n",
      kind: "positive-integer",
    },
    "diffusion-epochs": {
      type: "string",
      description: "diffusion epochs (when not given: the demo config's)",
      valueName: "n",
      kind: "positive-integer",
    },
    samples: {
      type: "string",
      description: "volumes to generate",
      default: "8",
      valueName: "n",
      kind: "positive-integer",
    },
    strict: {
      type: "boolean",
      description: "exit with code 2 when the report's verdict is 'training failed'",
    },
  },
} as const satisfies CommandSpec;

if (import.meta.main) {
  const { runCli } = await import("./command.ts");
  await runCli(DEMO_COMMAND, Deno.args, async ({ flags }) => {
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const r = await runDemo({
      output: flags.output,
      force: flags.force,
      autoencoderEpochs: num(flags["autoencoder-epochs"]),
      diffusionEpochs: num(flags["diffusion-epochs"]),
      samples: num(flags.samples),
    });
    console.log(`demo finished: ${r.verdict}; everything is in ${r.output}`);
    if (flags.strict && r.verdict !== "ok") Deno.exit(2);
  });
}
