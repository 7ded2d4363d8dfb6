/**
 * The reference's transform chains (utils.prepare_dataloader, SPEC §1.3): load → channel → RAS → spacing →
 * crop → percentile scaling (→ float16 for the diffusion stage).
 */
import { selectChannel } from "./transforms/channel.ts";
import { centerSpatialCrop, randSpatialCrop } from "./transforms/crop.ts";
import { castFloat16 } from "./transforms/float16.ts";
import { scaleIntensityRangePercentiles } from "./transforms/intensity.ts";
import { orientation } from "./transforms/orientation.ts";
import { DEFAULT_MAX_RESAMPLED_VOXELS, spacing } from "./transforms/spacing.ts";
import type { Transform } from "./transforms/transform.ts";

/** Which chain: the autoencoder stage crops randomly when training; the diffusion stage always centre-crops. */
export interface ReferenceChainOptions {
  /** Which stage's chain. */
  stage: "autoencoder" | "diffusion";
  /** Training (random crop for the autoencoder) or validation chain. */
  train: boolean;
  /** MRI channel to keep (0 = FLAIR). */
  channel: number;
  /** Target voxel spacing in mm. */
  spacing: [number, number, number];
  /** Training patch size. */
  patchSize: [number, number, number];
  /** Number of autoencoder levels (the validation patch is divisible by 2^(levels-1)). */
  autoencoderLevels: number;
  /** Seed of the random crop stream (autoencoder training only). */
  cropSeed?: number;
  /** Cap on the resampled volume in voxels (config `max_resampled_voxels`, default 2^27); see {@link resampledVoxelLimit}. */
  maxResampledVoxels?: number;
}

/** The resampled-volume limit of a chain: the configured cap, raised to the crop size when the crop is larger. */
export function resampledVoxelLimit(roi: readonly number[], cap = DEFAULT_MAX_RESAMPLED_VOXELS): number {
  return Math.max(cap, roi[0] * roi[1] * roi[2]);
}

/** Autoencoder validation patch: ceil(1.5·p / d)·d per axis with d = 2^(levels−1) (SPEC §1.3). */
export function validationPatchSize(
  patch: readonly number[],
  autoencoderLevels: number,
): [number, number, number] {
  const d = 2 ** (autoencoderLevels - 1);
  return patch.map((p) => Math.ceil((1.5 * p) / d) * d) as [number, number, number];
}

/** The reference's transform list for one stage and split. */
export function referenceTransforms(o: ReferenceChainOptions): Transform[] {
  const roi = o.stage === "autoencoder" && !o.train
    ? validationPatchSize(o.patchSize, o.autoencoderLevels)
    : o.patchSize;
  const crop = o.stage === "autoencoder" && o.train
    ? randSpatialCrop(roi, o.cropSeed ?? 0)
    : centerSpatialCrop(roi);
  const chain: Transform[] = [
    selectChannel(o.channel),
    orientation("RAS"),
    spacing(o.spacing, { maxVoxels: resampledVoxelLimit(roi, o.maxResampledVoxels) }),
    crop,
    scaleIntensityRangePercentiles({ lower: 0, upper: 99.5, bMin: 0, bMax: 1 }),
  ];
  // Reference behaviour: the diffusion stage runs with amp=True and its loader delivers float16 images.
  if (o.stage === "diffusion") chain.push(castFloat16());
  return chain;
}
