/**
 * The demo's diffusion stage, step by step (config/config_demo.json): one training step as the demo runs it
 * (VAE encode of a 2×1×32³ batch without gradients, v-prediction loss through the UNet, backward, Adam, EMA
 * update) and one DDIM sampling step (UNet forward on a 1×4×8³ latent plus the fused scheduler step). Random
 * weights: the timing does not depend on them. Prints one JSON line per measurement (median and min ms per step,
 * with a full sync after each step as the training loop's Ctrl-C bound makes it, and the median host time spent
 * recording the step's ops before that sync) and appends them to
 * bench/results/demo_steps.jsonl. With LDM_PROFILE=1 the backend's per-primitive table follows each measurement.
 *
 *     deno run -A bench/run_demo_steps.ts [--backend wasm] [--steps 10] [--config config/config_demo.json]
 */
import { parseArgs } from "node:util";
import * as T from "../tensor/mod.ts";
import { Adam, AutoencoderKL, DiffusionTrainer, ExponentialMovingAverage } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { DiffusionModelUNet, LatentDiffusionInferer } from "../diffusion/mod.ts";
import { loadTrainConfig } from "../recipe/config.ts";
import { profileReset, profileTable } from "../tensor/wasm/profile.ts";
import { sampleLatentShape, schedulerFromConfig } from "../recipe/sampling.ts";
import { type BenchRecord, record } from "./measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string" },
    steps: { type: "string", default: "10" },
    config: { type: "string", default: "config/config_demo.json" },
    label: { type: "string", default: "" },
  },
});
const runs = Number(values.steps);
await T.init({ backend: values.backend ? T.parseBackendChoice(values.backend, "--backend") : undefined });
console.error(`demo steps: ${T.backendSummary()}`);
const cfg = await loadTrainConfig(values.config);
manualSeed(0);
const tc = cfg.diffusionTrain;
const autoencoder = new AutoencoderKL({ ...cfg.autoencoder });
autoencoder.eval();
autoencoder.requiresGrad(false);
const unet = new DiffusionModelUNet({ ...cfg.diffusion });
const emaUnet = new DiffusionModelUNet({ ...cfg.diffusion });
emaUnet.requiresGrad(false);
const ema = new ExponentialMovingAverage(unet.parameters(), emaUnet.parameters(), {
  decay: tc.emaDecay ?? 0.999,
});
ema.copyFromSource();
const optimizer = new Adam(unet.parameters(), { lr: tc.lr });
const inferer = new LatentDiffusionInferer(schedulerFromConfig(cfg), { scaleFactor: 1.3 });
const trainer = new DiffusionTrainer({
  unet,
  autoencoder,
  inferer,
  optimizer,
  numTrainTimesteps: cfg.noiseScheduler.numTrainTimesteps,
});
const images = T.rand([tc.batchSize, cfg.imageChannels, ...tc.patchSize], {
  seed: 0,
  stream: "bench/images",
});
const latentShape = [tc.batchSize, cfg.latentChannels, ...tc.patchSize.map((p) => p / 4)];
let counter = 0;

async function trainStep(): Promise<void> {
  const step = counter++;
  const eps = T.randn(latentShape, { seed: 0, step, stream: "diffusion/vae_eps" });
  const r = await trainer.step(images, { step, eps });
  ema.update();
  eps.dispose();
  r.loss.dispose();
}

const ddim = schedulerFromConfig(cfg, "ddim", { steps: 50 });
const sampleShape = sampleLatentShape(cfg);
let latent: T.Tensor = T.randn(sampleShape, { seed: 0, stream: "bench/noise" });
const sampler = emaUnet.asFunction();
let ddimIndex = 0;

function ddimStep(): void {
  const t = ddim.timesteps[ddimIndex++ % ddim.timesteps.length];
  const next = T.noGrad(() => {
    const out = sampler(latent, [t]);
    const r = ddim.step(out, t, latent, { generator: { seed: 0, step: ddimIndex } });
    out.dispose();
    r.predOriginalSample.dispose();
    return r.prevSample;
  });
  latent.dispose();
  latent = next;
}

/** Median ms per step (sync after each), after two warm-up steps; the profile covers the timed steps only. */
async function measure(name: string, shape: string, step: () => Promise<void> | void): Promise<BenchRecord> {
  for (let i = 0; i < 2; i++) {
    await step();
    await T.backend().sync();
  }
  profileReset();
  const times: number[] = [], recording: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await step();
    recording.push(performance.now() - t0);
    await T.backend().sync();
    times.push(performance.now() - t0);
  }
  recording.sort((a, b) => a - b);
  const table = profileTable(runs);
  if (table) console.error(`${name} (per step):\n${table}`);
  times.sort((a, b) => a - b);
  const r = record(name, shape, times[Math.floor(times.length / 2)], null, null, {
    minMs: Number(times[0].toFixed(3)),
    // Host time recording the step's ops (the device queue runs at the sync after it).
    recordMs: Number(recording[Math.floor(recording.length / 2)].toFixed(3)),
    steps: runs,
    label: values.label,
  });
  console.log(JSON.stringify(r));
  return r;
}

const out = [
  await measure("demo_diffusion_train_step", `${tc.batchSize}x1x${tc.patchSize.join("x")}`, trainStep),
  await measure("demo_ddim_step", sampleShape.join("x"), ddimStep),
];
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/demo_steps.jsonl", import.meta.url),
  out.map((r) => JSON.stringify({ ...r, date: new Date().toISOString() })).join("\n") + "\n",
  { append: true },
);
