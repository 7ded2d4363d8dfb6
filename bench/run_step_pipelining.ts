/**
 * What bounding the host's run-ahead costs (the training loop waits for the previous step's device work after
 * queueing the next one, so Ctrl-C lands within a step). Times `--steps` tiny UNet training steps three ways in
 * one run: free-running (one sync at the end: the host may queue every step), one step of lookahead (what
 * `recipe/training_loop.ts` does), and a full sync after every step. Prints one JSON line per way.
 *
 *     deno run -A bench/run_step_pipelining.ts [--steps 20] [--rounds 3]
 */
import { parseArgs } from "node:util";
import * as T from "../tensor/mod.ts";
import { Adam } from "../nn/mod.ts";
import { manualSeed } from "../nn/init.ts";
import { DDPMScheduler, DiffusionModelUNet, LatentDiffusionInferer } from "../diffusion/mod.ts";
import { record } from "./measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string", default: "20" }, rounds: { type: "string", default: "3" } },
});
const steps = Number(values.steps), rounds = Number(values.rounds);
await T.init();
manualSeed(0);

const latent = [1, 3, 8, 8, 8];
const unet = new DiffusionModelUNet(
  {
    spatialDims: 3,
    inChannels: 3,
    outChannels: 3,
    numChannels: [16, 16, 32],
    attentionLevels: [false, false, true],
    numHeadChannels: [0, 0, 32],
    numResBlocks: 1,
    normNumGroups: 8,
  } as unknown as ConstructorParameters<typeof DiffusionModelUNet>[0],
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
let counter = 0;
function step(): void {
  optimizer.zeroGrad();
  const noise = T.randn(latent, { seed: 0, stream: "bench/noise", step: counter });
  const t = T.randint([1], { seed: 0, stream: "bench/t", step: counter++ }, 0, 1000);
  const pass = inferer.trainingLoss(x, identity, unet.asFunction(), noise, t);
  pass.loss.backward();
  optimizer.step();
  for (const v of [pass.loss, pass.latent, pass.noisyLatent, pass.prediction, noise, t]) v.dispose();
}

const ways: Record<string, () => Promise<void>> = {
  free_running: async () => {
    for (let i = 0; i < steps; i++) step();
    await T.backend().sync();
  },
  lookahead_1: async () => {
    let inFlight: Promise<void> | null = null;
    for (let i = 0; i < steps; i++) {
      step();
      const queued = T.backend().sync();
      if (inFlight) await inFlight;
      inFlight = queued;
    }
    await inFlight;
  },
  sync_every_step: async () => {
    for (let i = 0; i < steps; i++) {
      step();
      await T.backend().sync();
    }
  },
};

step(); // warm-up: pipelines compiled
await T.backend().sync();
const best: Record<string, number> = {};
const names = Object.keys(ways);
for (let r = 0; r < rounds; r++) {
  // The order rotates every round, so that a slow phase of a shared machine does not favour one way.
  for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
    const run = ways[name];
    const t0 = performance.now();
    await run();
    const ms = (performance.now() - t0) / steps;
    best[name] = Math.min(best[name] ?? Infinity, ms);
  }
}
for (const [name, ms] of Object.entries(best)) {
  console.log(JSON.stringify(
    record(`unet_step_${name}`, latent.join("x"), ms, null, null, {
      relativeToFreeRunning: Number((ms / best.free_running).toFixed(3)),
      steps,
    }),
  ));
}
