/** Deterministic validation loss, timestep buckets and the latent range (host references, stand-in models). */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import {
  bucketMse,
  DDPMScheduler,
  denoisingLoss,
  LatentDiffusionInferer,
  latentRange,
  rangeEnvelope,
  timestepBucketEdges,
} from "../../diffusion/mod.ts";

await T.init();

const identity = {
  encodeStage2Inputs: (x: T.Tensor) => T.affine(x, 1),
  decodeStage2Outputs: (z: T.Tensor) => z,
};

Deno.test("timestep buckets: edges scale with T; per-sample MSEs grouped by t; empty buckets are NaN", () => {
  assert.deepEqual(timestepBucketEdges(1000), [0, 100, 300, 600, 1000]);
  assert.deepEqual(timestepBucketEdges(100), [0, 10, 30, 60, 100]);
  const b = bucketMse([5, 99, 100, 999, 450], [1, 3, 10, 7, 2], [0, 100, 300, 600, 1000]);
  assert.deepEqual(b.map((x) => [x.from, x.to, x.count]), [[0, 100, 2], [100, 300, 1], [300, 600, 1], [
    600,
    1000,
    1,
  ]]);
  assert.deepEqual(b.map((x) => x.mse), [2, 10, 2, 7]);
  assert.ok(Number.isNaN(bucketMse([5], [1], [0, 100, 200])[1].mse));
  assert.throws(() => bucketMse([1000], [1], [0, 1000]), /timestep 1000 lies outside \[0, 1000\)/);
  assert.throws(() => bucketMse([1, 2], [1], [0, 1000]), /2 timesteps but 1 losses/);
});

Deno.test("denoisingLoss: the same draws at every evaluation; the overall loss is the per-sample mean", async () => {
  const scheduler = new DDPMScheduler({ numTrainTimesteps: 1000 });
  const inferer = new LatentDiffusionInferer(scheduler);
  const data = [0, 1, 2].map((i) => T.randn([2, 2, 4, 4, 4], { seed: 7, stream: "test/data", step: i }));
  const w = T.tensor([0.5]);
  const unet = (x: T.Tensor) => T.mul(x, w);
  const o = { seed: 3, latentShape: (s: readonly number[]) => [...s], repeats: 2 };
  const a = await denoisingLoss(data, identity, unet, inferer, o);
  const b = await denoisingLoss(data, identity, unet, inferer, o);
  assert.deepEqual(a, b, "identical at every evaluation");
  assert.equal(a.count, 12);
  const weighted = a.buckets.reduce((s, x) => s + (x.count ? x.mse * x.count : 0), 0) / a.count;
  assert.ok(Math.abs(weighted - a.loss) < 1e-6);
  // Another seed draws other noise and timesteps; another model is judged on the same draws.
  const c = await denoisingLoss(data, identity, unet, inferer, { ...o, seed: 4 });
  assert.notEqual(c.loss, a.loss);
  // Predicting 0 for unit-variance noise costs about 1.
  const zero = await denoisingLoss(data, identity, (x) => T.affine(x, 0), inferer, o);
  assert.ok(zero.loss > 0.5 && zero.loss < 1.5, `predicting 0 for unit noise costs ≈1, got ${zero.loss}`);
  for (const t of [...data, w]) t.dispose();
  scheduler.dispose();
});

Deno.test("latentRange: per-channel percentiles as numpy's linear interpolation; envelope", () => {
  // [B=2, C=2, 3]: channel 0 holds 0..5, channel 1 holds 10·(0..5).
  const data = new Float32Array([0, 1, 2, 0, 10, 20, 3, 4, 5, 30, 40, 50]);
  const r = latentRange(data, [2, 2, 3], [10, 90]);
  assert.deepEqual(r.lo.map((v) => +v.toFixed(5)), [0.5, 5]);
  assert.deepEqual(r.hi.map((v) => +v.toFixed(5)), [4.5, 45]);
  assert.deepEqual(rangeEnvelope(r).map((v) => +v.toFixed(5)), [0.5, 45]);
  assert.throws(() => latentRange(data, [2, 2, 4]), /does not hold 12 values/);
});
