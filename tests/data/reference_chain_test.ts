import assert from "node:assert/strict";
import { referenceTransforms, validationPatchSize } from "../../data/mod.ts";

Deno.test("reference chains: step order per stage and split; validation patch as SPEC §1.3", () => {
  assert.deepEqual(validationPatchSize([112, 128, 80], 3), [168, 192, 120]);
  const base = { channel: 0, spacing: [1.1, 1.1, 1.1] as [number, number, number], autoencoderLevels: 3 };
  const names = (stage: "autoencoder" | "diffusion", train: boolean) =>
    referenceTransforms({ ...base, stage, train, patchSize: [112, 128, 80] }).map((t) => t.name);
  assert.deepEqual(names("autoencoder", true), [
    "selectChannel",
    "orientation",
    "spacing",
    "randSpatialCrop",
    "scaleIntensityRangePercentiles",
  ]);
  assert.equal(names("autoencoder", false)[3], "centerSpatialCrop");
  assert.deepEqual(names("diffusion", true).slice(3), [
    "centerSpatialCrop",
    "scaleIntensityRangePercentiles",
    "castFloat16",
  ]);
  const val = referenceTransforms({ ...base, stage: "autoencoder", train: false, patchSize: [112, 128, 80] });
  assert.deepEqual(val[3].params.roi, [168, 192, 120]);
});
