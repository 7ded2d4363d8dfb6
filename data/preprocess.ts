/** Load + deterministic preprocessing of one file (the work the cache saves). */
import { NiftiError, readNifti } from "./nifti.ts";
import type { Transform } from "./transforms/transform.ts";
import { firstNonFinite, type Volume, voxelAt } from "./volume.ts";

/** Reads a NIfTI file and runs a deterministic chain; a leading channel selection decodes only that channel. */
export async function loadAndPreprocess(file: string, steps: Transform[]): Promise<Volume> {
  const first = steps[0];
  if (first && first.name === "selectChannel") {
    const img = await readNifti(file, { channels: [first.params.channel as number] });
    return applySteps(file, steps.slice(1), img.volume);
  }
  const img = await readNifti(file);
  return applySteps(file, steps, img.volume);
}

/**
 * Runs `steps` on a volume read from `file`. A step that fails, or that turns finite values into Inf/NaN (a
 * float16 cast of a huge outlier), becomes a {@link NiftiError} naming the file and the step, so the
 * transforms themselves never need to know which file they work on.
 */
export function applySteps(file: string, steps: Transform[], volume: Volume): Volume {
  let v = volume;
  for (const step of steps) {
    try {
      v = step.apply(v);
    } catch (e) {
      if (e instanceof NiftiError) throw e;
      throw new NiftiError(file, `step '${step.name}' failed: ${(e as Error).message}`);
    }
    const bad = firstNonFinite(v.data);
    if (bad >= 0) {
      const { channel, xyz } = voxelAt(v.shape, bad);
      throw new NiftiError(
        file,
        `step '${step.name}' produced ${v.data[bad]} at voxel [${xyz.join(", ")}] of channel ${channel} ` +
          `(input values too large for its arithmetic)`,
      );
    }
  }
  return v;
}
