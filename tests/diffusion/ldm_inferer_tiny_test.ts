// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/**
 * ldm_inferer_tiny with the real tiny models: the training pass (encode → scale → add_noise → UNet → MSE,
 * UNet gradients) and the 5-step DDIM sample decoded to an image. Skips, naming the reason, while the model
 * files (nn/models/autoencoder_kl.ts, diffusion/unet.ts) are absent.
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { LatentDiffusionInferer } from "../../diffusion/mod.ts";
import { schedulerFromEntry } from "./_helpers.ts";
import { loadCase, relError } from "../fixtures.ts";
import { assertGradient, gradientScale } from "../nn/_helpers.ts";

/** Deep-model outputs and gradients (fixtures README). */
const MODEL_TOL = 5e-4;

const MODEL_FILES = { autoencoder: "nn/models/autoencoder_kl.ts", unet: "diffusion/unet.ts" };

async function importModels(): Promise<{ modules: Record<string, any> } | { reason: string }> {
  const modules: Record<string, any> = {};
  for (const [role, file] of Object.entries(MODEL_FILES)) {
    const url = new URL(`../../${file}`, import.meta.url);
    try {
      Deno.statSync(url);
    } catch {
      return { reason: `${file} (${role}) not present yet` };
    }
    modules[role] = await import(url.href);
  }
  return { modules };
}

const ldm = loadCase("ldm_inferer_tiny");
const found = ldm ? await importModels() : { reason: "fixture ldm_inferer_tiny absent" };

if (!ldm || "reason" in found) {
  const reason = "reason" in found ? found.reason : "";
  console.log(`ldm_inferer_tiny (real models) skipped: ${reason}`);
  Deno.test({ name: `ldm_inferer_tiny: real tiny models — skipped (${reason})`, ignore: true, fn() {} });
} else {
  await T.init();
  const { camelizeKeys } = await import("../../nn/config.ts");
  const { loadStateDictFile } = await import("../../nn/serialization/mod.ts");
  const cfg = ldm.meta.config;
  const load = (name: string) => {
    const { data, shape } = ldm.tensor(name);
    return T.tensor(data, shape, data instanceof Int32Array ? "int32" : "float32");
  };
  const weights = (role: string) => loadStateDictFile(ldm.file(ldm.meta.weights_from[role]));
  const makeModels = async () => {
    const autoencoder = new found.modules.autoencoder.AutoencoderKL(camelizeKeys(cfg.autoencoder));
    autoencoder.loadStateDict(await weights("autoencoder"));
    autoencoder.eval();
    const unet = new found.modules.unet.DiffusionModelUNet(camelizeKeys(cfg.unet));
    unet.loadStateDict(await weights("unet"));
    unet.eval();
    return { autoencoder, unet };
  };

  Deno.test("ldm_inferer_tiny: training pass with the real models (latent, noisy latent, prediction, loss, grads)", async () => {
    const { autoencoder, unet } = await makeModels();
    const tr = cfg.train;
    const scaleFactor = ldm.scalar(tr.scale_factor);
    const scheduler = schedulerFromEntry(cfg.schedulers.train);
    const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor });
    const x = load(tr.x), eps = load(tr.eps), noise = load(tr.noise), timesteps = load(tr.timesteps);
    const out = inferer.trainingLoss(x, autoencoder, unet.asFunction(), noise, timesteps, { eps });
    const latentRef = ldm.tensor(tr.latent).data;
    const latentErr = relError(await out.latent.data(), Array.from(latentRef, (v) => v * scaleFactor));
    assert.ok(latentErr <= MODEL_TOL, `latent rel error ${latentErr}`);
    const ours = await inferer.scaleFactorFromLatents(autoencoder.encodeStage2Inputs(x, eps));
    assert.ok(
      Math.abs(ours - scaleFactor) / scaleFactor <= MODEL_TOL,
      `scale factor ${ours} vs ${scaleFactor}`,
    );
    const noisyErr = relError(await out.noisyLatent.data(), ldm.tensor(tr.noisy_latent).data);
    assert.ok(noisyErr <= MODEL_TOL, `noisy_latent rel error ${noisyErr}`);
    const predErr = relError(await out.prediction.data(), ldm.tensor(tr.prediction).data);
    assert.ok(predErr <= MODEL_TOL, `prediction rel error ${predErr}`);
    const loss = await out.loss.item(), expectedLoss = ldm.scalar(tr.loss);
    assert.ok(Math.abs(loss - expectedLoss) / expectedLoss <= MODEL_TOL, `loss ${loss} vs ${expectedLoss}`);
    out.loss.backward();
    const grads = await loadStateDictFile(ldm.file(tr.grads));
    const gradScale = gradientScale([...grads.values()].map((g) => g.data));
    let checked = 0;
    for (const [name, p] of unet.namedParameters() as [string, T.Tensor][]) {
      const ref = grads.get(name);
      assert.ok(ref, `no reference gradient for ${name}`);
      assert.ok(p.grad, `${name}: no gradient`);
      await assertGradient(p.grad, ref.data, gradScale, MODEL_TOL, `grad ${name}`);
      checked++;
    }
    assert.equal(checked, grads.size);
    for (const t of [out.loss, out.prediction, out.noisyLatent, out.latent, x, eps, noise, timesteps]) {
      t.dispose();
    }
    scheduler.dispose();
    unet.dispose();
    autoencoder.dispose();
  });

  Deno.test("ldm_inferer_tiny: 5-step DDIM sample with the real models (every latent and the image)", async () => {
    const { autoencoder, unet } = await makeModels();
    const sp = cfg.sample;
    const scheduler = schedulerFromEntry(cfg.schedulers.sample);
    assert.deepEqual(Array.from(scheduler.timesteps), Array.from(ldm.tensor(sp.timesteps).data));
    const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor: ldm.scalar(sp.scale_factor) });
    const noise = load(sp.input_noise);
    const r = await inferer.sample(noise, unet.asFunction(), scheduler, autoencoder, {
      intermediateEvery: 1,
    });
    assert.equal(r.intermediates.length, sp.latents.length);
    for (let i = 0; i < sp.latents.length; i++) {
      const err = relError(await r.intermediates[i].data(), ldm.tensor(sp.latents[i]).data);
      assert.ok(err <= MODEL_TOL, `latent after step ${i}: rel error ${err}`);
    }
    const imageErr = relError(await r.image.data(), ldm.tensor(sp.image).data);
    assert.ok(imageErr <= MODEL_TOL, `image rel error ${imageErr}`);
    for (const t of [r.image, r.latent, ...r.intermediates, noise]) t.dispose();
    scheduler.dispose();
    unet.dispose();
    autoencoder.dispose();
  });
}
