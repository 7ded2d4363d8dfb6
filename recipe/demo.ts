/**
 * The demo (`deno task demo`): the whole pipeline end to end on a built-in default, offline — synthetic brain phantoms
 * in the Task01 layout → autoencoder training → latent diffusion training → generation → a report:
 * reconstruction L1 / PSNR / SSIM on held-out phantoms, sample diversity (mean pairwise 3D MS-SSIM), and
 * Fréchet distances (fixed feature set, nn/metrics/frechet.ts) from the held-out phantoms to
 * (a) autoencoder reconstructions of them (the ceiling), (b) generated samples, (c) samples of an untrained
 * UNet (the floor). Everything lands in one folder, named at the end.
 */
import { join } from "pathe";
import { writeSyntheticDataset } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { loadTrainConfig, readConfigFile } from "./config.ts";
import { trainAutoencoder } from "./train_autoencoder.ts";
import { trainDiffusion } from "./train_diffusion.ts";
import {
  cpuModel,
  DEMO_LONG_BUDGET,
  type DemoReport,
  evaluateDemo,
  reportText,
  resolveDemoBudget,
  timingText,
  writeReportFiles,
} from "./demo_report.ts";

import { prepareDemoOutput } from "./demo_output.ts";

export type { DemoReport } from "./demo_report.ts";

/** The page `deno task serve --models DIR` serves, opening DIR's config and checkpoints. */
const PAGE_URL = "http://127.0.0.1:8000/?models=/models/";

/** Demo settings (defaults: finishes in a few minutes on a 2-core CPU with a software GPU). */
export interface DemoOptions {
  output?: string;
  configPath?: string;
  phantoms?: number;
  autoencoderEpochs?: number;
  diffusionEpochs?: number;
  /** Generated (and untrained-floor) samples; default 16, the verdict's minimum under --strict. */
  samples?: number;
  ddimSteps?: number;
  seed?: number;
  /** The larger budget (DEMO_LONG_BUDGET) for more time or a GPU. */
  long?: boolean;
  /** Refuse budgets below the one the verdict is documented for (the caller exits non-zero unless "ok"). */
  strict?: boolean;
  /** Use a non-empty output folder that is not a previous demo output (nothing in it is deleted). */
  force?: boolean;
  log?: (s: string) => void;
}

/** Runs the demo and returns its report (also written as report.json / report.md in the output folder). */
export async function runDemo(o: DemoOptions = {}): Promise<DemoReport> {
  const log = o.log ?? console.log;
  const seed = o.seed ?? 42;
  const configPath = o.configPath ?? new URL("../config/config_demo.json", import.meta.url).pathname;
  const config = await loadTrainConfig(configPath);
  // Checked before any work: nonsense budgets fail at once, naming the flag.
  const budget = resolveDemoBudget(
    o,
    {
      autoencoderEpochs: config.autoencoderTrain.maxEpochs,
      diffusionEpochs: config.diffusionTrain.maxEpochs,
    },
    DEMO_LONG_BUDGET,
  );
  // Checked before any work: never delete what the demo did not create.
  const output = await prepareDemoOutput(o.output ?? "runs/demo", { force: o.force });
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Number(((now - t) / 1000).toFixed(1));
    t = now;
  };
  log(`demo: ${T.backendSummary(await T.init())}; output folder ${output}`);
  const env = {
    dataBaseDir: join(output, "data"),
    modelDir: join(output, "models"),
    tfeventPath: join(output, "tfevents"),
    resumeCkpt: false,
  };
  // Phantoms of 60³ voxels at 4 mm resample to 48³ at the demo's 5 mm: room for the 48³ validation crop.
  const phantom = { shape: [60, 60, 60] as [number, number, number], spacing: 4 };
  await writeSyntheticDataset(env.dataBaseDir, { numTraining: o.phantoms ?? 40, ...phantom, seed });
  lap("phantoms");

  const ae = await trainAutoencoder({ config, env, maxEpochs: budget.autoencoderEpochs, seed, log });
  lap("autoencoder");
  const dm = await trainDiffusion({
    config,
    env,
    maxEpochs: budget.diffusionEpochs,
    seed,
    synthEvery: 1e9,
    log,
  });
  lap("diffusion");
  // The browser page (deno task serve --models …) opens models/ with its config beside the checkpoints.
  await Deno.writeTextFile(
    join(env.modelDir, "config.json"),
    JSON.stringify(await readConfigFile(configPath), null, 2),
  );

  const { report, volumes } = await evaluateDemo({
    config,
    env,
    output,
    diffusion: dm,
    samples: budget.samples,
    ddimSteps: o.ddimSteps ?? 50,
    seed,
    phantom,
    log,
    lap,
  });
  lap("metrics");
  const timing = { seconds, cpu: await cpuModel(), device: T.backend().description };
  await writeReportFiles(report, timing, volumes, { budget, autoencoderRun: ae, diffusionRun: dm });
  log(reportText(report));
  log(timingText(timing));
  log(`open the trained models in a browser: deno task serve --models ${env.modelDir}  (then ${PAGE_URL})`);
  return report;
}
