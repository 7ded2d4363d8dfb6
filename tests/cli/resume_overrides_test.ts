import { assertEquals } from "./_assert.ts";
import { describeResumedLr } from "../../recipe/resume_overrides.ts";

const base = { role: "generator", configKey: "autoencoder_train.lr", configLr: 1e-5, worldSize: 1 };

Deno.test("resume: a config lr overridden by the optimizer state is said, naming the key", () => {
  assertEquals(describeResumedLr({ ...base, checkpointLr: 1e-5, usedLr: 1e-5 }), []);
  assertEquals(describeResumedLr({ ...base, configLr: 5e-5, checkpointLr: 1e-5, usedLr: 1e-5 }), [
    "resume: generator lr 1.000e-5 comes from the checkpoint's optimizer state and overrides the config's autoencoder_train.lr 5.000e-5",
  ]);
  assertEquals(describeResumedLr({ ...base, worldSize: 2, checkpointLr: 1e-5, usedLr: 1e-5 }), [
    "resume: generator lr 1.000e-5 comes from the checkpoint's optimizer state and overrides the config's autoencoder_train.lr 1.000e-5 × 2 GPUs = 2.000e-5",
  ]);
});

Deno.test("resume: a schedule's restored position and a changed lr are said", () => {
  const d = { role: "unet", configKey: "diffusion_train.lr", configLr: 1e-4, worldSize: 1 };
  const schedule = { name: "MultiStepLR([100, 1000], 0.1)", lastEpoch: 150, factor: 0.1 };
  assertEquals(
    describeResumedLr({ ...d, checkpointLr: 1e-4, usedLr: 1e-4, schedule: { ...schedule, factor: 1 } }),
    [],
  );
  assertEquals(describeResumedLr({ ...d, checkpointLr: 1e-5, usedLr: 1e-5, schedule }), [
    "resume: unet lr 1.000e-5 = diffusion_train.lr 1.000e-4 × 0.1000 (MultiStepLR([100, 1000], 0.1) position, epoch 150, restored from the checkpoint)",
  ]);
  assertEquals(
    describeResumedLr({
      ...d,
      checkpointLr: 1e-4,
      usedLr: 2e-4,
      configLr: 2e-4,
      schedule: { ...schedule, factor: 1 },
    }),
    [
      "resume: unet lr changed since the checkpoint (it ran at 1.000e-4); continuing at 2.000e-4 from the config's diffusion_train.lr 2.000e-4",
    ],
  );
});
