/**
 * `deno task demo`: the whole pipeline end to end on a built-in default, offline — synthetic brain phantoms
 * in the Task01 layout → autoencoder training → latent diffusion training → generation → a report:
 * reconstruction L1 / PSNR / SSIM on held-out phantoms, sample diversity (mean pairwise 3D MS-SSIM), and
 * Fréchet distances (fixed feature set, nn/metrics/frechet.ts) from the held-out phantoms to
 * (a) autoencoder reconstructions of them (the ceiling), (b) generated samples, (c) samples of an untrained
 * UNet (the floor). Everything lands in one folder, named at the end.
 */
import { join, resolve } from "node:path";
import { writeSyntheticDataset } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { loadTrainConfig } from "./config.ts";
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

export type { DemoReport } from "./demo_report.ts";

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
  log?: (s: string) => void;
}

/** Runs the demo and returns its report (also written as report.json / report.md in the output folder). */
export async function runDemo(o: DemoOptions = {}): Promise<DemoReport> {
  const log = o.log ?? console.log;
  const seed = o.seed ?? 42;
  const output = resolve(o.output ?? "runs/demo");
  const config = await loadTrainConfig(
    o.configPath ?? new URL("../config/config_demo.json", import.meta.url).pathname,
  );
  // Checked before any work: nonsense budgets fail at once, naming the flag.
  const budget = resolveDemoBudget(
    o,
    {
      autoencoderEpochs: config.autoencoderTrain.maxEpochs,
      diffusionEpochs: config.diffusionTrain.maxEpochs,
    },
    DEMO_LONG_BUDGET,
  );
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Number(((now - t) / 1000).toFixed(1));
    t = now;
  };
  await T.init();
  log(`demo: device ${T.backend().description}; output folder ${output}`);
  await Deno.remove(output, { recursive: true }).catch(() => {});
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
  return report;
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
        long: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(
        "usage: deno task demo [--output DIR] [--autoencoder-epochs N] [--diffusion-epochs N] [--samples N] [--long] [--strict]\n" +
          `  --long    the larger budget (${DEMO_LONG_BUDGET.autoencoderEpochs} autoencoder / ${DEMO_LONG_BUDGET.diffusionEpochs} diffusion epochs) for more time or a GPU\n` +
          "  --strict  exit with code 2 unless the report's verdict is 'ok' (refuses budgets below the documented one)",
      );
      Deno.exit(0);
    }
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const r = await runDemo({
      output: values.output,
      autoencoderEpochs: num(values["autoencoder-epochs"]),
      diffusionEpochs: num(values["diffusion-epochs"]),
      samples: num(values.samples),
      long: values.long,
      strict: values.strict,
    });
    console.log(`demo finished: ${r.verdict}; everything is in ${r.output}`);
    if (values.strict && r.verdict !== "ok") Deno.exit(2);
  } catch (e) {
    console.error((e as Error).message);
    if (Deno.env.get("LDM_DEBUG")) console.error((e as Error).stack);
    Deno.exit(1);
  }
}
