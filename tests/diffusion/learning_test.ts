/**
 * A learning test: the demo's diffusion recipe (config/config_demo.json: scheduler, prediction type, lr,
 * warm-up, EMA, UNet) trained briefly on a trivially learnable latent distribution — every latent is one of
 * three fixed blobs plus a little noise — must (a) lower the denoising MSE (fixed draws) overall and in every
 * timestep bucket from t = 100 on and (b) sample latents whose per-channel mean and std match the data's within a stated tolerance.
 * The same check is shown to fail for an untrained UNet and for sampling with the reference's x̂0 clip to
 * [−1, 1] (the blobs reach beyond it), so it guards the recipe, not just the arithmetic.
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { loadTrainConfig } from "../../recipe/config.ts";
import { schedulerFromConfig } from "../../recipe/sampling.ts";
import { Adam, DiffusionTrainer, ExponentialMovingAverage } from "../../nn/mod.ts";
import { manualSeed } from "../../nn/init.ts";
import {
  denoisingLoss,
  DiffusionModelUNet,
  formatBuckets,
  LatentDiffusionInferer,
} from "../../diffusion/mod.ts";

await T.init();

const C = 2, S = 4, VOXELS = S * S * S;
const BLOBS = 3, DATA_NOISE = 0.05, BATCH = 6, STEPS = 360, SAMPLES = 96;
/**
 * Tolerances on the sampled latents' per-channel statistics, relative to the data's per-channel std. Measured
 * after 360 steps: trained (mean, std) off by (0.16, 0.21) on WebGPU and (0.31, 0.13) on WASM (same maths,
 * another float summation order, which a few hundred Adam steps amplify); an untrained UNet's mean by 0.94;
 * the [−1, 1] clip fails on the std (0.43–0.50). At 240 steps WASM's mean sat at 0.32, then 0.43 once its
 * SiLU used a polynomial exp: too near the tolerance to guard the recipe, so the test trains longer.
 */
const MEAN_TOL = 0.4, STD_TOL = 0.25;

/** Three fixed blobs [C, S, S, S]: a wide bump of amplitude ±3 per channel on a per-channel offset of ±1. */
function blobs(): Float32Array[] {
  return Array.from({ length: BLOBS }, (_, k) => {
    const out = new Float32Array(C * VOXELS);
    const centre = [(k + 0.5) * S / BLOBS, S - 1 - k, (2 * k) % S];
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < VOXELS; i++) {
        const x = Math.floor(i / (S * S)), y = Math.floor(i / S) % S, z = i % S;
        const d2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2;
        out[c * VOXELS + i] = (c === 0 ? 1 : -1) + (k % 2 === c ? 3 : -3) * Math.exp(-d2 / 4);
      }
    }
    return out;
  });
}

const BLOB_DATA = blobs();

/** A batch of data latents: blob (first + i) mod 3 per sample plus keyed noise. */
function dataBatch(n: number, first: number, step: number, stream: string): T.Tensor {
  const host = new Float32Array(n * C * VOXELS);
  for (let i = 0; i < n; i++) host.set(BLOB_DATA[(first + i) % BLOBS], i * C * VOXELS);
  return T.scope(() => {
    const noise = T.randn([n, C, S, S, S], { seed: 11, stream, step });
    return T.add(T.tensor(host, [n, C, S, S, S]), T.affine(noise, DATA_NOISE));
  });
}

/** Per-channel mean and std of latents [N, C, …] on the host. */
function channelStats(data: Float32Array, n: number): { mean: number[]; std: number[] } {
  const mean: number[] = [], std: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      for (let v = 0; v < VOXELS; v++) {
        const x = data[(i * C + c) * VOXELS + v];
        s += x;
        s2 += x * x;
      }
    }
    const m = s / (n * VOXELS);
    mean.push(m);
    std.push(Math.sqrt(s2 / (n * VOXELS) - m * m));
  }
  return { mean, std };
}

/** Whether sampled statistics are within tolerance of the data's, and the worst deviations. */
function statsMatch(got: { mean: number[]; std: number[] }, want: { mean: number[]; std: number[] }) {
  let meanDev = 0, stdDev = 0;
  for (let c = 0; c < C; c++) {
    meanDev = Math.max(meanDev, Math.abs(got.mean[c] - want.mean[c]) / want.std[c]);
    stdDev = Math.max(stdDev, Math.abs(got.std[c] - want.std[c]) / want.std[c]);
  }
  return { ok: meanDev <= MEAN_TOL && stdDev <= STD_TOL, meanDev, stdDev };
}

const identity = {
  encodeStage2Inputs: (x: T.Tensor) => T.affine(x, 1),
  decodeStage2Outputs: (z: T.Tensor) => T.affine(z, 1),
};

Deno.test("learning: the demo recipe learns three blobs (per-t MSE down, sample statistics match); clip or no training fail", async () => {
  const cfg = await loadTrainConfig(new URL("../../config/config_demo.json", import.meta.url).pathname);
  const tc = cfg.diffusionTrain;
  manualSeed(5);
  const unetConfig = { ...cfg.diffusion, inChannels: C, outChannels: C };
  const unet = new DiffusionModelUNet(unetConfig);
  const untrained = new DiffusionModelUNet(unetConfig);
  const emaUnet = tc.emaDecay !== undefined ? new DiffusionModelUNet(unetConfig) : null;
  const ema = emaUnet
    ? new ExponentialMovingAverage(unet.parameters(), emaUnet.parameters(), { decay: tc.emaDecay! })
    : null;
  ema?.copyFromSource();
  untrained.loadStateDict(await unet.stateDict());
  const sampler = emaUnet ?? unet;
  const scheduler = schedulerFromConfig(cfg);
  const inferer = new LatentDiffusionInferer(scheduler);
  const optimizer = new Adam(unet.parameters(), { lr: tc.lr });
  const trainer = new DiffusionTrainer({
    unet,
    autoencoder: identity,
    inferer,
    optimizer,
    numTrainTimesteps: scheduler.numTrainTimesteps,
    seed: 3,
    latentShape: (s) => [...s],
  });
  const heldOut = [0, 1].map((i) => dataBatch(BATCH, i, i, "test/heldout"));
  const evaluate = (model: DiffusionModelUNet) =>
    denoisingLoss(heldOut, identity, model.asFunction(), inferer, {
      seed: 9,
      latentShape: (s) => [...s],
      repeats: 4,
    });
  const before = await evaluate(unet);
  const warmup = tc.warmupSteps ?? 0;
  for (let step = 0; step < STEPS; step++) {
    if (warmup > 0) optimizer.lr = tc.lr * Math.min(1, (step + 1) / warmup);
    const x = dataBatch(BATCH, step, step, "test/train");
    const r = await trainer.step(x, { step });
    ema?.update();
    r.loss.dispose();
    x.dispose();
    if (step % 20 === 19) await T.backend().sync();
  }
  const after = await evaluate(sampler);
  const want = channelStats((await T.concat(heldOut, 0).data()) as Float32Array, 2 * BATCH);
  const sample = async (model: DiffusionModelUNet, clipSample: boolean) => {
    const s = schedulerFromConfig(cfg, "ddim", { steps: 25, clipSample });
    const noise = T.randn([SAMPLES, C, S, S, S], { seed: 21, stream: "test/sample_noise" });
    const out = await inferer.sample(noise, model.asFunction(), s, identity, { generator: { seed: 21 } });
    const stats = channelStats((await out.latent.data()) as Float32Array, SAMPLES);
    for (const t of [noise, out.image, out.latent]) t.dispose();
    s.dispose();
    return statsMatch(stats, want);
  };
  const trained = await sample(sampler, false);
  // The check can fail: an untrained UNet, and the reference's clip to [−1, 1] (the blobs reach ±4).
  const none = await sample(untrained, false);
  const clipped = await sample(sampler, true);
  const dev = (r: { meanDev: number; stdDev: number }) => `${r.meanDev.toFixed(3)}, ${r.stdDev.toFixed(3)}`;
  console.log(
    `learning: MSE by timestep ${formatBuckets(before.buckets)} → ${formatBuckets(after.buckets)}; ` +
      `sample stats deviation (mean, std)/data std: trained ${dev(trained)}; untrained ${dev(none)}; ` +
      `clipped ${dev(clipped)}`,
  );
  // Every bucket from t = 100 on must drop by a third. Below t = 100 the added noise is under ~0.4 of the data's
  // scale and resolving it needs per-voxel precision a few hundred steps do not give (MONAI's reference run was
  // still near chance there after 2,500 steps), so that bucket is reported, not asserted.
  before.buckets.forEach((b, i) => {
    const a = after.buckets[i];
    assert.ok(b.count > 0 && a.count === b.count);
    if (b.from < 100) return;
    assert.ok(
      a.mse < (2 / 3) * b.mse,
      `t∈[${b.from},${b.to}): MSE ${b.mse.toFixed(4)} → ${a.mse.toFixed(4)}`,
    );
  });
  assert.ok(after.loss < 0.5 * before.loss, `MSE ${before.loss} → ${after.loss}`);
  assert.ok(
    trained.ok,
    `trained: mean off by ${trained.meanDev.toFixed(3)}·std, std off by ${trained.stdDev.toFixed(3)}`,
  );
  assert.ok(!none.ok, `untrained passed: ${JSON.stringify(none)}`);
  assert.ok(!clipped.ok, `clip_sample passed: ${JSON.stringify(clipped)}`);
  for (const t of heldOut) t.dispose();
  for (const m of [unet, untrained, emaUnet]) m?.dispose();
  optimizer.dispose();
  scheduler.dispose();
});
