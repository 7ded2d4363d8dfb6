/**
 * Training-step benchmarks: the tiny autoencoder step (AE + perceptual + discriminator, 1×1×32³) and the
 * tiny UNet step (1×3×8³ latent), with `--full` also the 32g configuration (autoencoder at 64³ batch 1, UNet
 * at a 16³ latent; `--only-full` skips the tiny ones; `--only <text>` keeps the steps whose name contains it).
 * Each step: one warm-up, then the median of `--steps` runs. Then, when python3 with torch is installed (and
 * not `--no-torch`), bench/torch_train_steps.py times the same steps, same configurations, in PyTorch CPU on
 * the same thread count, and `ratio_vs_torch <name>` lines give ours/torch (> 1: we are slower). Prints JSON
 * lines {name, shape, ms, …, peakBytes} and appends them to bench/results/train_steps.jsonl. Tiny model
 * settings come from the fixture configs when present.
 */
import { parseArgs } from "node:util";
import * as T from "../tensor/mod.ts";
import {
  Adam,
  AutoencoderKL,
  AutoencoderTrainer,
  camelizeKeys,
  PatchDiscriminator,
  PerceptualLoss,
} from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { DDPMScheduler, DiffusionModelUNet, LatentDiffusionInferer } from "../diffusion/mod.ts";
import { type BenchRecord, record } from "./measure.ts";
import { emitComparison, runTorchReference } from "./torch_runner.ts";
import { averageGradients } from "../nn/dist/gradient_hook.ts";
import { profileReset, profileTable } from "../tensor/wasm/profile.ts";
import { SingleProcess } from "../nn/dist/allreduce.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    full: { type: "boolean", default: false },
    "only-full": { type: "boolean", default: false },
    only: { type: "string", default: "" },
    steps: { type: "string", default: "5" },
    backend: { type: "string" },
    "no-torch": { type: "boolean", default: false },
  },
});
const runs = Number(values.steps);
if (!Number.isInteger(runs) || runs < 1) {
  throw new Error(`--steps: expected a positive integer, got ${values.steps}`);
}
await T.init({ backend: values.backend ? T.parseBackendChoice(values.backend, "--backend") : undefined });
console.error(`bench: ${T.backendSummary()}`);
manualSeed(0);
const out: BenchRecord[] = [];

/** Median ms of `step` (after one warm-up) and the peak device bytes of one step above the resting level. */
async function measure(step: () => Promise<void> | void): Promise<{ ms: number; peakBytes: number }> {
  await step();
  await T.backend().sync();
  const times: number[] = [];
  let peak = 0;
  profileReset();
  for (let i = 0; i < runs; i++) {
    T.backend().resetPeak();
    const base = T.stats().current;
    const t0 = performance.now();
    await step();
    await T.backend().sync();
    times.push(performance.now() - t0);
    peak = Math.max(peak, T.stats().peak - base);
  }
  const table = profileTable(runs);
  if (table) console.error(`per step (LDM_PROFILE):\n${table}`);
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], peakBytes: peak };
}

const emit = (r: BenchRecord) => {
  out.push(r);
  console.log(JSON.stringify(r));
};

/** One timed autoencoder step (generator + discriminator) on a random 1×1×size³ image. */
interface AutoencoderStepSpec {
  kind: "autoencoder";
  name: string;
  shape: string;
  autoencoder: Record<string, unknown>;
  discriminatorChannels: number;
  size: number;
  fake3dRatio: number;
}

/** One timed UNet step on a random latent of shape `latent`, noise from the DDPM `scheduler`. */
interface UnetStepSpec {
  kind: "unet";
  name: string;
  shape: string;
  unet: Record<string, unknown>;
  latent: number[];
  scheduler: { schedule: "scaled_linear_beta"; betaStart: number; betaEnd: number };
}

/** What both sides time: bench/torch_train_steps.py reads the same objects as JSON. */
type StepSpec = AutoencoderStepSpec | UnetStepSpec;

async function autoencoderStep(spec: AutoencoderStepSpec) {
  const { name, size } = spec;
  const autoencoder = new AutoencoderKL(spec.autoencoder);
  const discriminator = new PatchDiscriminator({
    channels: spec.discriminatorChannels,
    numLayersD: 3,
    norm: "INSTANCE",
  });
  const perceptual = new PerceptualLoss({ fake3dRatio: spec.fake3dRatio });
  // Timing only: the random SqueezeNet/LPIPS weights cost the same as the published ones.
  perceptual.weightsLoaded = true;
  const optimizerG = new Adam(autoencoder.parameters(), { lr: 1e-4 });
  const optimizerD = new Adam(discriminator.parameters(), { lr: 1e-4 });
  const trainer = new AutoencoderTrainer({ autoencoder, discriminator, perceptual, optimizerG, optimizerD });
  const x = T.rand([1, 1, size, size, size], { seed: 0, stream: "bench/x" });
  const m = await measure(async () => {
    const r = await trainer.step(x, { epoch: 10 }); // after the warm-up: generator + discriminator
    for (const v of Object.values(r)) if (v instanceof T.Tensor) v.dispose();
  });
  emit(
    record(name, spec.shape, m.ms, null, null, {
      peakBytes: m.peakBytes,
      params: autoencoder.numParameters(),
    }),
  );
  await gradientCopyOverhead(name, [...autoencoder.parameters(), ...discriminator.parameters()], m.ms);
  x.dispose();
  // The next step's models need the room: WASM memory never shrinks, and 32g's autoencoder peaks at 3.3 GB.
  for (const part of [autoencoder, discriminator, perceptual, optimizerG, optimizerD]) part.dispose();
}

async function unetStep(spec: UnetStepSpec) {
  const { name, latent } = spec;
  const unet = new DiffusionModelUNet(
    spec.unet as unknown as ConstructorParameters<typeof DiffusionModelUNet>[0],
  );
  const optimizer = new Adam(unet.parameters(), { lr: 1e-4 });
  const inferer = new LatentDiffusionInferer(new DDPMScheduler(spec.scheduler));
  const identity = {
    encodeStage2Inputs: (z: T.Tensor) => z.detach(),
    decodeStage2Outputs: (z: T.Tensor) => z.detach(),
  };
  const x = T.randn(latent, { seed: 0, stream: "bench/latent" });
  let step = 0;
  const m = await measure(() => {
    optimizer.zeroGrad();
    const noise = T.randn(latent, { seed: 0, stream: "bench/noise", step });
    const t = T.randint([latent[0]], { seed: 0, stream: "bench/t", step: step++ }, 0, 1000);
    const pass = inferer.trainingLoss(x, identity, unet.asFunction(), noise, t);
    pass.loss.backward();
    optimizer.step();
    for (const v of [pass.loss, pass.latent, pass.noisyLatent, pass.prediction, noise, t]) v.dispose();
  });
  emit(record(name, spec.shape, m.ms, null, null, { peakBytes: m.peakBytes, params: unet.numParameters() }));
  await gradientCopyOverhead(name, unet.parameters(), m.ms);
  x.dispose();
  unet.dispose();
  optimizer.dispose();
}

/**
 * Data-parallel overhead without the transport: the GPU→host→GPU copy of every gradient that
 * `averageGradients` makes per step (the all-reduce itself is in bench/run_allreduce.ts).
 */
async function gradientCopyOverhead(name: string, params: T.Tensor[], stepMs: number) {
  for (const p of params) p.grad = T.zeros(p.shape).keep() as typeof p.grad;
  const comm = new SingleProcess();
  const m = await measure(() => averageGradients(comm, params));
  const bytes = params.reduce((n, p) => n + 4 * p.size, 0);
  emit(
    record(`${name}_gradient_copy`, `${(bytes / 2 ** 20).toFixed(1)} MiB`, m.ms, null, 2 * bytes, {
      shareOfStep: Number((m.ms / stepMs).toFixed(3)),
    }),
  );
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}

async function fixtureConfig(
  name: string,
  pick: (c: Record<string, Record<string, unknown>>) => Record<string, unknown>,
): Promise<Record<string, unknown> | null> {
  const root = Deno.env.get("LDM_FIXTURES_DIR") ?? new URL("../tests/fixtures", import.meta.url).pathname;
  try {
    return camelizeKeys(
      pick(JSON.parse(await Deno.readTextFile(`${root}/${name}/meta.json`)).config),
    ) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const tinyAe = (await fixtureConfig("train_step_tiny", (c) => c.autoencoder)) ??
  {
    channels: [8, 16, 16],
    latentChannels: 3,
    numResBlocks: [1, 1, 1],
    normNumGroups: 4,
    attentionLevels: [false, false, false],
  };
const tinyUnet = (await fixtureConfig("diffusion_unet_tiny", (c) => c)) ??
  {
    inChannels: 3,
    outChannels: 3,
    channels: [16, 32, 32],
    attentionLevels: [false, false, true],
    numHeadChannels: [0, 0, 8],
    numResBlocks: [1, 1, 1],
    normNumGroups: 8,
  };
const scheduler = { schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 } as const;
const aeStep = (
  name: string,
  autoencoder: Record<string, unknown>,
  discriminatorChannels: number,
  size: number,
) =>
  ({
    kind: "autoencoder",
    name,
    shape: `1x1x${size}^3`,
    autoencoder,
    discriminatorChannels,
    size,
    fake3dRatio: 0.2,
  }) as const;
const unetSpec = (name: string, unet: Record<string, unknown>, latent: number[]) =>
  ({ kind: "unet", name, shape: latent.join("x"), unet, latent, scheduler }) as const;

const steps: StepSpec[] = [];
if (!values["only-full"]) {
  steps.push(aeStep("train_step_autoencoder_tiny", tinyAe, 8, 32));
  steps.push(unetSpec("train_step_unet_tiny", tinyUnet, [1, 3, 8, 8, 8]));
}
if (values.full || values["only-full"]) {
  const ae32g = {
    channels: [64, 128, 256],
    latentChannels: 8,
    numResBlocks: [2, 2, 2],
    normNumGroups: 32,
    normEps: 1e-6,
    attentionLevels: [false, false, false],
    withEncoderNonlocalAttn: false,
    withDecoderNonlocalAttn: false,
  };
  steps.push(aeStep("train_step_autoencoder_32g", ae32g, 32, 64));
  const unet32g = {
    inChannels: 8,
    outChannels: 8,
    channels: [256, 256, 512],
    attentionLevels: [false, true, true],
    numHeadChannels: [0, 64, 64],
    numResBlocks: [2, 2, 2],
  };
  steps.push(unetSpec("train_step_unet_32g", unet32g, [1, 8, 16, 16, 16]));
}
const chosen = steps.filter((s) => s.name.includes(values.only));
if (chosen.length === 0) {
  throw new Error(`--only ${values.only}: no step matches (steps: ${steps.map((s) => s.name).join(", ")})`);
}
for (const spec of chosen) {
  if (spec.kind === "autoencoder") await autoencoderStep(spec);
  else await unetStep(spec);
}

// PyTorch CPU on the same host and thread count, same steps: ratios from one run.
if (!values["no-torch"]) {
  const threads = T.backend().kind === "wasm" ? T.backend().threads : navigator.hardwareConcurrency;
  const torch = await runTorchReference(
    "torch_train_steps.py",
    threads,
    [],
    JSON.stringify({ runs, steps: chosen }),
  );
  if ("unavailable" in torch) console.error(`bench: no PyTorch step reference: ${torch.unavailable}`);
  else emitComparison([...out], torch, emit);
}
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/train_steps.jsonl", import.meta.url),
  out.map((r) => JSON.stringify(r)).join("\n") + "\n",
  { append: true },
);
