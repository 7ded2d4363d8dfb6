/**
 * EMA weights through the commands: saved as their own role in the diffusion checkpoint, sampled from when
 * present; a checkpoint without them samples from the raw weights and says so; resuming with a mismatched
 * ema_decay is refused. Also: the validation is reported per timestep bucket.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticDataset } from "../../data/mod.ts";
import { loadTrainConfig, type TrainConfig } from "../../recipe/config.ts";
import { trainAutoencoder } from "../../recipe/train_autoencoder.ts";
import { DIFFUSION_FILES, trainDiffusion } from "../../recipe/train_diffusion.ts";
import { EMA_ROLE } from "../../recipe/sampling.ts";
import { generate } from "../../recipe/generate.ts";
import { readSafetensors } from "../../nn/serialization/safetensors.ts";

const CONFIG = new URL("./tiny_config.json", import.meta.url).pathname;

Deno.test("EMA: checkpoint role, sampling from it, raw weights named when absent, resume mismatch refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ldm-ema-" });
  try {
    await writeSyntheticDataset(join(dir, "data"), {
      numTraining: 6,
      shape: [32, 32, 32],
      spacing: 4,
      seed: 3,
    });
    const base = await loadTrainConfig(CONFIG);
    const withEma: TrainConfig = { ...base, diffusionTrain: { ...base.diffusionTrain, emaDecay: 0.9 } };
    const env = (name: string, resumeCkpt = false) => ({
      dataBaseDir: join(dir, "data"),
      modelDir: join(dir, "models"),
      tfeventPath: join(dir, name),
      resumeCkpt,
    });
    await trainAutoencoder({ config: base, env: env("ae"), maxEpochs: 1, log: () => {} });
    const dm = await trainDiffusion({
      config: withEma,
      env: env("ema"),
      maxEpochs: 1,
      synthEvery: 1e9,
      log: () => {},
    });
    assert.equal(dm.ema, true);
    assert.ok(dm.validation && dm.validation.buckets.length === 4 && dm.validation.count > 0);
    const ckpt = join(dir, "models", DIFFUSION_FILES.best);
    const { metadata } = readSafetensors(await Deno.readFile(ckpt), ckpt);
    assert.deepEqual(JSON.parse(metadata.models), ["unet", EMA_ROLE]);
    const info = JSON.parse(metadata.info);
    assert.equal(info.extra.emaDecay, 0.9);
    assert.ok(info.extra.emaUpdates > 0);
    assert.equal(info.extra.latentRange.lo.length, base.latentChannels);

    const lines: string[] = [];
    const common = { config: base, env: env("gen"), num: 1, scheduler: "ddim" as const, steps: 2 };
    const g1 = await generate({ ...common, output: join(dir, "s1"), log: (s) => lines.push(s) });
    assert.equal(g1.weights, "ema");
    assert.ok(lines.some((l) => /sampling from the EMA weights/.test(l)), lines.join("\n"));
    const g2 = await generate({ ...common, output: join(dir, "s2"), useEma: false, log: () => {} });
    assert.equal(g2.weights, "raw");
    const g3 = await generate({
      ...common,
      output: join(dir, "s3"),
      clipSample: "latent-range",
      log: () => {},
    });
    assert.equal(g3.weights, "ema");

    // Resuming the EMA run without ema_decay is refused with a clear message.
    await assert.rejects(
      trainDiffusion({ config: base, env: env("resume", true), maxEpochs: 2, log: () => {} }),
      /written with EMA weights but diffusion_train.ema_decay is not set/,
    );

    // A run without EMA (the reference) writes no EMA role; generate samples from the raw weights and says so.
    await trainDiffusion({ config: base, env: env("raw"), maxEpochs: 1, synthEvery: 1e9, log: () => {} });
    lines.length = 0;
    const g4 = await generate({ ...common, output: join(dir, "s4"), log: (s) => lines.push(s) });
    assert.equal(g4.weights, "raw");
    assert.ok(
      lines.some((l) => /sampling from the raw weights: .* holds no EMA weights/.test(l)),
      lines.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
