/** Rebuilds deterministic transforms from their `{ name, params }` (to run a chain in a Web Worker). */
import { selectChannel } from "./channel.ts";
import { centerCropOrPad, centerSpatialCrop, spatialPad } from "./crop.ts";
import { castFloat16 } from "./float16.ts";
import { scaleIntensityRangePercentiles } from "./intensity.ts";
import { orientation } from "./orientation.ts";
import { spacing } from "./spacing.ts";
import type { Transform } from "./transform.ts";

/** The serialisable description of a transform. */
export interface TransformSpec {
  /** Transform name (`Transform.name`). */
  name: string;
  /** Its parameters (`Transform.params`). */
  params: Record<string, unknown>;
}

/** The spec of a transform (what a worker needs to rebuild it). */
export function specOf(t: Transform): TransformSpec {
  return { name: t.name, params: structuredClone(t.params) };
}

/** The parameters of the rebuildable transforms, as `specOf` records them. */
interface SpecParams {
  channel: number;
  axcodes: string;
  pixdim: [number, number, number];
  maxVoxels?: number;
  roi: [number, number, number];
  value: number;
  lower: number;
  upper: number;
  bMin: number;
  bMax: number;
  clip: boolean;
}

/** Rebuilds a deterministic transform from its spec; throws for random or unknown transforms. */
export function transformFromSpec(spec: TransformSpec): Transform {
  // A spec comes from `specOf` of a transform that validated these values when it was first built.
  const p = spec.params as unknown as SpecParams;
  switch (spec.name) {
    case "selectChannel":
      return selectChannel(p.channel);
    case "orientation":
      return orientation(p.axcodes);
    case "spacing":
      return spacing(p.pixdim, { maxVoxels: p.maxVoxels });
    case "centerSpatialCrop":
      return centerSpatialCrop(p.roi);
    case "spatialPad":
      return spatialPad(p.roi, p.value);
    case "centerCropOrPad":
      return centerCropOrPad(p.roi);
    case "scaleIntensityRangePercentiles":
      return scaleIntensityRangePercentiles({
        lower: p.lower,
        upper: p.upper,
        bMin: p.bMin,
        bMax: p.bMax,
        clip: p.clip,
      });
    case "castFloat16":
      return castFloat16();
  }
  throw new Error(`transform '${spec.name}' cannot be rebuilt from a spec (random or unknown)`);
}
