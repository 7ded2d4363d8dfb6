/**
 * LatentDiffusionInferer with stand-in models: the parts of the ldm_inferer_tiny fixture that need no real
 * model (scale factor, add_noise, loss, the DDIM loop), plus loop and gradient properties. The real-model
 * pass is in ldm_inferer_tiny_test.ts.
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { type DDIMScheduler, DDPMScheduler, LatentDiffusionInferer } from "../../diffusion/mod.ts";
import { schedulerFromEntry } from "./_helpers.ts";
import { loadCase, relError } from "../fixtures.ts";

await T.init();

const TOL = 1e-4;

/**
 * The ε̂ a DDIM (η = 0, epsilon) step must have received to turn x into y, solved on the host: the step is
 * linear in ε̂ unless x̂0 was clipped, in which case x̂0 is the bound it was clipped to.
 */
function replayEpsilon(
  s: DDIMScheduler,
  t: number,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): Float32Array {
  const prevT = s.previousTimestep(t);
  const a = s.alphasCumprod[t], ap = prevT >= 0 ? s.alphasCumprod[prevT] : s.finalAlphaCumprod;
  const sa = Math.sqrt(a), sb = Math.sqrt(1 - a), p = Math.sqrt(ap), q = Math.sqrt(1 - ap);
  const [lo, hi] = [s.clipSampleMin, s.clipSampleMax];
  return Float32Array.from(x, (xi, i) => {
    const free = (y[i] - (p * xi) / sa) / (q - (p * sb) / sa);
    const x0 = (xi - sb * free) / sa;
    // At the last step (q = 0) y is x̂0 itself, so the unclipped solution is exact up to rounding.
    if (!s.clipSample || q === 0 || (x0 >= lo && x0 <= hi)) return free;
    for (const bound of [lo, hi]) {
      const eps = (y[i] - p * bound) / q;
      const raw = (xi - sb * eps) / sa;
      if ((bound === hi && raw >= hi) || (bound === lo && raw <= lo)) return eps;
    }
    return free;
  });
}

const ldm = loadCase("ldm_inferer_tiny");
if (!ldm) {
  Deno.test({ name: "ldm_inferer_tiny: fixture absent, skipped", ignore: true, fn() {} });
} else {
  const cfg = ldm.meta.config;
  const load = (name: string) => {
    const { data, shape } = ldm.tensor(name);
    return T.tensor(data, shape, data instanceof Int32Array ? "int32" : "float32");
  };

  Deno.test("ldm_inferer_tiny: scale factor, add_noise and loss of the training pass (stand-in models)", async () => {
    const tr = cfg.train;
    const scheduler = schedulerFromEntry(cfg.schedulers.train);
    const inferer = new LatentDiffusionInferer(scheduler);
    const latentRef = load(tr.latent);
    const scaleFactor = await inferer.scaleFactorFromLatents(latentRef);
    const expectedScale = ldm.scalar(tr.scale_factor);
    assert.ok(
      Math.abs(scaleFactor - expectedScale) / expectedScale < 1e-5,
      `scale factor ${scaleFactor} vs ${expectedScale}`,
    );
    inferer.scaleFactor = expectedScale;

    const x = load(tr.x), eps = load(tr.eps), noise = load(tr.noise), timesteps = load(tr.timesteps);
    const autoencoder = {
      encodeStage2Inputs(input: T.Tensor, e?: T.Tensor) {
        assert.equal(input, x);
        assert.equal(e, eps, "the injected VAE noise reaches the encoder");
        return T.affine(latentRef, 1); // a fresh tensor, as a real encoder returns
      },
      decodeStage2Outputs(z: T.Tensor) {
        return z;
      },
    };
    let seen: { x: T.Tensor; t: T.Tensor | number[] } | null = null;
    const unet = (noisy: T.Tensor, t: T.Tensor | number[]) => {
      seen = { x: noisy, t };
      return load(tr.prediction);
    };
    const out = inferer.trainingLoss(x, autoencoder, unet, noise, timesteps, { eps });
    assert.equal(seen!.t, timesteps);
    assert.equal(seen!.x, out.noisyLatent);
    const noisyErr = relError(await out.noisyLatent.data(), ldm.tensor(tr.noisy_latent).data);
    assert.ok(noisyErr <= TOL, `noisy_latent rel error ${noisyErr}`);
    const latentErr = relError(
      await out.latent.data(),
      Array.from(ldm.tensor(tr.latent).data, (v) => v * expectedScale),
    );
    assert.ok(latentErr <= TOL, `scaled latent rel error ${latentErr}`);
    const loss = await out.loss.item();
    const expectedLoss = ldm.scalar(tr.loss);
    assert.ok(Math.abs(loss - expectedLoss) / expectedLoss <= TOL, `loss ${loss} vs ${expectedLoss}`);
    for (
      const t of [out.loss, out.prediction, out.noisyLatent, out.latent, x, eps, noise, timesteps, latentRef]
    ) {
      t.dispose();
    }
    scheduler.dispose();
  });

  Deno.test("ldm_inferer_tiny: the DDIM sampling loop reproduces every latent (replayed model outputs)", async () => {
    const sp = cfg.sample;
    const scheduler = schedulerFromEntry(cfg.schedulers.sample) as DDIMScheduler;
    assert.deepEqual(Array.from(scheduler.timesteps), Array.from(ldm.tensor(sp.timesteps).data));
    assert.deepEqual(Array.from(scheduler.timesteps), cfg.schedulers.sample.timesteps);
    const scaleFactor = ldm.scalar(sp.scale_factor);
    const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor });
    // The model outputs the reference must have produced, solved from consecutive fixture latents.
    const chain: Float32Array[] = [sp.input_noise, ...sp.latents].map((n: string) =>
      ldm.tensor(n).data as Float32Array
    );
    const steps = Array.from(scheduler.timesteps);
    const outputs = steps.map((t, i) => replayEpsilon(scheduler, t, chain[i], chain[i + 1]));
    const calls: number[][] = [];
    const unet = (x: T.Tensor, t: T.Tensor | number[]) => {
      assert.ok(Array.isArray(t));
      calls.push(t as number[]);
      return T.tensor(outputs[calls.length - 1], x.shape);
    };
    // Stand-in decoder: the identity, so the image is exactly what the decoder received.
    const decode = (z: T.Tensor) => T.affine(z, 1);
    const noise = load(sp.input_noise);
    const progress: number[] = [];
    const result = await inferer.sample(noise, unet, scheduler, decode, {
      intermediateEvery: 1,
      progress: (i, n) => progress.push(i / n),
    });
    // One timestep per batch element, as the reference's Tensor((t,)) broadcast over the batch.
    const batch = ldm.tensor(sp.input_noise).shape[0];
    assert.deepEqual(calls, steps.map((t) => new Array(batch).fill(t)));
    assert.deepEqual(progress, steps.map((_, i) => (i + 1) / steps.length));
    assert.equal(result.intermediates.length, sp.latents.length);
    for (let i = 0; i < sp.latents.length; i++) {
      const err = relError(await result.intermediates[i].data(), chain[i + 1]);
      assert.ok(err <= TOL, `latent after step ${i} (t=${steps[i]}): rel error ${err}`);
    }
    const finalErr = relError(await result.latent.data(), chain.at(-1)!);
    assert.ok(finalErr <= TOL, `final latent rel error ${finalErr}`);
    const zErr = relError(await result.image.data(), Array.from(chain.at(-1)!, (v) => v / scaleFactor));
    assert.ok(zErr <= TOL, `decoder input (latent / scale_factor) rel error ${zErr}`);
    for (const t of [result.image, result.latent, ...result.intermediates, noise]) t.dispose();
    scheduler.dispose();
  });
}

Deno.test("sample: DDPM loop with a stand-in UNet records no readback until the result is read", async () => {
  const scheduler = new DDPMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 });
  scheduler.setTimesteps(20);
  const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor: 2 });
  const noise = T.randn([2, 3, 4, 4, 4], { seed: 5, stream: "test/noise" });
  const unet = (x: T.Tensor) => T.affine(x, 0.1);
  const before = T.stats().readbacks;
  const live = T.stats();
  const r = await inferer.sample(noise, unet, scheduler, { decodeStage2Outputs: (z) => T.affine(z, 1) }, {
    intermediateEvery: 5,
    generator: { seed: 9 },
  });
  assert.equal(T.stats().readbacks, before, "no readback inside the loop");
  assert.equal(r.intermediates.length, 4);
  assert.deepEqual(r.image.shape, [2, 3, 4, 4, 4]);
  const img = await r.image.data(), lat = await r.latent.data();
  for (let i = 0; i < img.length; i++) assert.ok(Math.abs(img[i] - lat[i] / 2) < 1e-6);
  assert.ok(img.every(Number.isFinite));
  // Same generator → same sample.
  const again = await inferer.sample(noise, unet, scheduler, (z) => T.affine(z, 1), {
    generator: { seed: 9 },
  });
  assert.deepEqual(await again.latent.data(), lat);
  for (const t of [r.image, r.latent, ...r.intermediates, again.image, again.latent, noise]) t.dispose();
  scheduler.dispose();
  const after = T.stats();
  assert.ok(
    after.liveBuffers <= live.liveBuffers + 1,
    `no leaked buffers (${live.liveBuffers} → ${after.liveBuffers})`,
  );
});

Deno.test("trainingLoss: gradients reach the UNet's parameters; targets follow the prediction type", async () => {
  const x = T.randn([2, 1, 4, 4, 4], { seed: 1, stream: "test/x" });
  const noise = T.randn([2, 1, 4, 4, 4], { seed: 1, stream: "test/noise" });
  const autoencoder = {
    encodeStage2Inputs: (v: T.Tensor) => T.affine(v, 0.5),
    decodeStage2Outputs: (z: T.Tensor) => z,
  };
  const w = T.tensor([0.3]).requireGrad();
  const unet = (v: T.Tensor) => T.mul(v, w);
  for (const predictionType of ["epsilon", "sample", "v_prediction"] as const) {
    const scheduler = new DDPMScheduler({ predictionType });
    const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor: 1.5 });
    const out = inferer.trainingLoss(x, autoencoder, unet, noise, [10, 500]);
    const target = predictionType === "epsilon"
      ? await noise.data()
      : predictionType === "sample"
      ? await out.latent.data()
      : await scheduler.getVelocity(out.latent, noise, [10, 500]).data();
    const pred = await out.prediction.data();
    let mse = 0;
    for (let i = 0; i < pred.length; i++) mse += (pred[i] - target[i]) ** 2 / pred.length;
    assert.ok(Math.abs((await out.loss.item()) - mse) < 1e-5 * Math.max(1, mse), predictionType);
    out.loss.backward();
    assert.ok(
      w.grad !== null && Number.isFinite(await w.grad.item()),
      `${predictionType}: gradient reached w`,
    );
    w.grad = null;
    scheduler.dispose();
  }
  assert.throws(
    () =>
      new LatentDiffusionInferer(new DDPMScheduler()).predict(
        x,
        autoencoder,
        unet,
        T.zeros([2, 1, 2, 2, 2]),
        [1, 2],
      ),
    /noise \[2,1,2,2,2\] must have the latent's shape \[2,1,4,4,4\]/,
  );
});
