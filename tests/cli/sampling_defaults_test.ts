/** Sampling latents: x̂0 is not clipped unless asked (latents are not in [−1, 1]); the reference's clip stays reachable. */
import { assertEquals } from "./_assert.ts";
import { loadTrainConfig } from "../../recipe/config.ts";
import { schedulerFromConfig } from "../../recipe/sampling.ts";

const DEMO = new URL("../../config/config_demo.json", import.meta.url).pathname;
const REFERENCE = new URL("../../config/config_train_32g.json", import.meta.url).pathname;

Deno.test("schedulerFromConfig: no clipping by default, for the demo's and the reference's config", async () => {
  for (const path of [DEMO, REFERENCE]) {
    const config = await loadTrainConfig(path, { onWarning: () => {} });
    assertEquals(config.noiseScheduler.clipSample, undefined);
    for (const kind of ["ddpm", "ddim"] as const) {
      assertEquals(schedulerFromConfig(config, kind).clipSample, false, `${path} ${kind}`);
    }
  }
});

Deno.test("schedulerFromConfig: --clip-sample true and the config's clip_sample switch the reference's clip on", async () => {
  const config = await loadTrainConfig(DEMO, { onWarning: () => {} });
  const on = schedulerFromConfig(config, "ddim", { clipSample: true });
  assertEquals([on.clipSample, on.clipSampleMin, on.clipSampleMax], [true, -1, 1]);
  const ranged = schedulerFromConfig(config, "ddim", { clipSample: true, clipRange: [-2.5, 3] });
  assertEquals([ranged.clipSampleMin, ranged.clipSampleMax], [-2.5, 3]);
  const fromFile = { ...config, noiseScheduler: { ...config.noiseScheduler, clipSample: true } };
  assertEquals(schedulerFromConfig(fromFile, "ddpm").clipSample, true);
  assertEquals(schedulerFromConfig(fromFile, "ddpm", { clipSample: false }).clipSample, false);
});
