/**
 * Training-step benchmarks (issue targets in brackets are this 2-core machine's PyTorch CPU times):
 * the tiny autoencoder step (AE + perceptual + discriminator, 1×1×32³) and the tiny UNet step
 * (1×3×8³ latent), with `--full` also the 32g configuration (autoencoder at 64³ batch 1, UNet at a 16³
 * latent; `--only-full` skips the tiny ones). Prints JSON lines {name, shape, ms, …, peakBytes} and appends them to
 * bench/results/train_steps.jsonl. Model settings come from the fixture configs when present.
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
import { averageGradients } from "../nn/dist/gradient_hook.ts";
import { SingleProcess } from "../nn/dist/allreduce.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    full: { type: "boolean", default: false },
    "only-full": { type: "boolean", default: false },
    steps: { type: "string", default: "5" },
  },
});
const runs = Number(values.steps);
await T.init();
manualSeed(0);
const out: BenchRecord[] = [];

/** Median ms of `step` (after one warm-up) and the peak device bytes of one step above the resting level. */
async function measure(step: () => Promise<void> | void): Promise<{ ms: number; peakBytes: number }> {
  await step();
  await T.backend().sync();
  const times: number[] = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    T.backend().resetPeak();
    const base = T.stats().current;
    const t0 = performance.now();
    await step();
    await T.backend().sync();
    times.push(performance.now() - t0);
    peak = Math.max(peak, T.stats().peak - base);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], peakBytes: peak };
}

const emit = (r: BenchRecord) => {
  out.push(r);
  console.log(JSON.stringify(r));
};

async function autoencoderStep(
  name: string,
  aeConfig: Record<string, unknown>,
  discChannels: number,
  size: number,
) {
  const autoencoder = new AutoencoderKL(aeConfig);
  const discriminator = new PatchDiscriminator({ channels: discChannels, numLayersD: 3, norm: "INSTANCE" });
  const perceptual = new PerceptualLoss({ fake3dRatio: 0.2 });
  // Timing only: the random SqueezeNet/LPIPS weights cost the same as the published ones.
  perceptual.weightsLoaded = true;
  const trainer = new AutoencoderTrainer({
    autoencoder,
    discriminator,
    perceptual,
    optimizerG: new Adam(autoencoder.parameters(), { lr: 1e-4 }),
    optimizerD: new Adam(discriminator.parameters(), { lr: 1e-4 }),
  });
  const x = T.rand([1, 1, size, size, size], { seed: 0, stream: "bench/x" });
  const m = await measure(async () => {
    const r = await trainer.step(x, { epoch: 10 }); // after the warm-up: generator + discriminator
    for (const v of Object.values(r)) if (v instanceof T.Tensor) v.dispose();
  });
  emit(
    record(name, `1x1x${size}^3`, m.ms, null, null, {
      peakBytes: m.peakBytes,
      params: autoencoder.numParameters(),
    }),
  );
  await gradientCopyOverhead(name, [...autoencoder.parameters(), ...discriminator.parameters()], m.ms);
  x.dispose();
}

async function unetStep(name: string, unetConfig: Record<string, unknown>, latent: number[]) {
  const unet = new DiffusionModelUNet(
    unetConfig as unknown as ConstructorParameters<typeof DiffusionModelUNet>[0],
  );
  const optimizer = new Adam(unet.parameters(), { lr: 1e-4 });
  const inferer = new LatentDiffusionInferer(
    new DDPMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 }),
  );
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
  emit(record(name, latent.join("x"), m.ms, null, null, { peakBytes: m.peakBytes }));
  await gradientCopyOverhead(name, unet.parameters(), m.ms);
  x.dispose();
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

const only = values["only-full"];
const tinyAe = (await fixtureConfig("train_step_tiny", (c) => c.autoencoder)) ??
  {
    channels: [8, 16, 16],
    latentChannels: 3,
    numResBlocks: [1, 1, 1],
    normNumGroups: 4,
    attentionLevels: [false, false, false],
  };
if (!only) await autoencoderStep("train_step_autoencoder_tiny", tinyAe, 8, 32);
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
if (!only) await unetStep("train_step_unet_tiny", tinyUnet, [1, 3, 8, 8, 8]);
if (values.full || only) {
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
  await autoencoderStep("train_step_autoencoder_32g", ae32g, 32, 64);
  const unet32g = {
    inChannels: 8,
    outChannels: 8,
    channels: [256, 256, 512],
    attentionLevels: [false, true, true],
    numHeadChannels: [0, 64, 64],
    numResBlocks: [2, 2, 2],
  };
  await unetStep("train_step_unet_32g", unet32g, [1, 8, 16, 16, 16]);
}
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/train_steps.jsonl", import.meta.url),
  out.map((r) => JSON.stringify(r)).join("\n") + "\n",
  { append: true },
);
