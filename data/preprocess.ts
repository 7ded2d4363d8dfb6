/** Load + deterministic preprocessing of one file (the work the cache saves). */
import { readNifti } from "./nifti.ts";
import { compose, type Transform } from "./transforms/transform.ts";
import type { Volume } from "./volume.ts";

/** Reads a NIfTI file and runs a deterministic chain; a leading channel selection decodes only that channel. */
export async function loadAndPreprocess(file: string, steps: Transform[]): Promise<Volume> {
  const first = steps[0];
  if (first && first.name === "selectChannel") {
    const img = await readNifti(file, { channels: [first.params.channel as number] });
    return compose(steps.slice(1)).apply(img.volume);
  }
  const img = await readNifti(file);
  return compose(steps).apply(img.volume);
}
