/**
 * Training steps must not leak device memory: after the first step (optimizer state allocated) the
 * allocator's current bytes stay exactly flat.
 */
import assert from "node:assert/strict";
import { stats } from "../../../tensor/mod.ts";
import {
  Adam,
  AutoencoderKL,
  type AutoencoderStepResult,
  AutoencoderTrainer,
  HostRng,
  PatchDiscriminator,
  PerceptualLoss,
} from "../../../nn/mod.ts";
import { DiffusionTrainer } from "../../../nn/mod.ts";
import { DiffusionModelUNet } from "../../../diffusion/unet.ts";
import { DDPMScheduler } from "../../../diffusion/ddpm.ts";
import { LatentDiffusionInferer } from "../../../diffusion/inferer.ts";
import { randn } from "../../../tensor/mod.ts";
import { setup } from "../_helpers.ts";

await setup();

function disposeResult(r: AutoencoderStepResult): void {
  for (const t of Object.values(r)) if (t && typeof t === "object") t.dispose();
}

Deno.test("autoencoder and diffusion training steps keep device memory exactly flat across steps", async () => {
  const rng = new HostRng(4);
  const ae = new AutoencoderKL({
    channels: [4, 8],
    numResBlocks: 1,
    normNumGroups: 4,
    latentChannels: 2,
    attentionLevels: [false, true],
    withEncoderNonlocalAttn: true,
    withDecoderNonlocalAttn: false,
    rng,
  });
  const disc = new PatchDiscriminator({ channels: 4, numLayersD: 2, norm: "INSTANCE", rng });
  const optimizerG = new Adam(ae.parameters(), { lr: 1e-4 }),
    optimizerD = new Adam(disc.parameters(), { lr: 1e-4 });
  const trainer = new AutoencoderTrainer(
    { autoencoder: ae, discriminator: disc, optimizerG, optimizerD, perceptual: null, warn: () => {} },
  );
  const x = randn([1, 1, 16, 16, 16], { seed: 1, stream: "test/x" });
  const live: number[] = [], bytes: number[] = [];
  for (let epoch = 5; epoch < 9; epoch++) {
    disposeResult(await trainer.step(x, { epoch }));
    live.push(stats().liveBuffers);
    bytes.push(stats().current);
  }
  // Epoch 5 has no discriminator step (its optimizer state appears at epoch 6).
  const SMALL = 0;
  assert.ok(
    bytes[2] - bytes[1] <= SMALL && bytes[3] - bytes[2] <= SMALL,
    `bytes per step: ${bytes} (buffers ${live})`,
  );

  const unet = new DiffusionModelUNet({
    inChannels: 2,
    outChannels: 2,
    channels: [8, 8],
    attentionLevels: [false, true],
    numHeadChannels: [0, 4],
    numResBlocks: 1,
    normNumGroups: 4,
    rng,
  });
  const inferer = new LatentDiffusionInferer(
    new DDPMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 }),
  );
  const optimizer = new Adam(unet.parameters(), { lr: 1e-4 });
  const dt = new DiffusionTrainer({ unet, autoencoder: ae.eval(), inferer, optimizer });
  const bytes2: number[] = [];
  for (let step = 0; step < 3; step++) {
    (await dt.step(x, { step })).loss.dispose();
    bytes2.push(stats().current);
  }
  assert.ok(bytes2[2] - bytes2[1] <= SMALL, `bytes per diffusion step: ${bytes2}`);
  x.dispose();
  for (const o of [optimizerG, optimizerD, optimizer]) o.dispose();
  for (const m of [ae, disc, unet]) m.dispose();
});

Deno.test("autoencoder step with the perceptual loss on keeps device memory flat over 50 steps", async () => {
  const rng = new HostRng(7);
  const ae = new AutoencoderKL({
    channels: [4, 4],
    numResBlocks: 1,
    normNumGroups: 4,
    latentChannels: 2,
    attentionLevels: [false, false],
    withEncoderNonlocalAttn: false,
    withDecoderNonlocalAttn: false,
    rng,
  });
  const disc = new PatchDiscriminator({ channels: 4, numLayersD: 2, norm: "INSTANCE", rng });
  // Random LPIPS weights: only the memory behaviour of the perceptual term's forward and backward is tested.
  const perceptual = new PerceptualLoss({ fake3dRatio: 0.125, rng });
  perceptual.weightsLoaded = true;
  const optimizerG = new Adam(ae.parameters(), { lr: 1e-4 }),
    optimizerD = new Adam(disc.parameters(), { lr: 1e-4 });
  const trainer = new AutoencoderTrainer(
    { autoencoder: ae, discriminator: disc, optimizerG, optimizerD, perceptual, warn: () => {} },
  );
  // 32³: SqueezeNet's three stride-2 pools need slices of at least 32×32.
  const x = randn([1, 1, 32, 32, 32], { seed: 2, stream: "test/x" });
  const bytes: number[] = [];
  for (let step = 0; step < 50; step++) {
    const r = await trainer.step(x, { epoch: 10 }); // past the warm-up: every loss term is on
    assert.ok(r.perceptual, "the perceptual term ran");
    disposeResult(r);
    bytes.push(stats().current);
  }
  // Step 0 allocates both optimizers' state; from then on every step must return to the same bytes.
  const grown = bytes.slice(1).filter((b) => b !== bytes[1]);
  assert.deepEqual(grown, [], `bytes per step: ${bytes}`);
  x.dispose();
  for (const o of [optimizerG, optimizerD]) o.dispose();
  for (const m of [ae, disc, perceptual]) m.dispose();
});
