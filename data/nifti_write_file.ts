/** NIfTI files on disk: thin wrappers over `encodeNifti` (bytes) in nifti_write.ts. */
import { encodeNifti, type WriteNiftiOptions } from "./nifti_write.ts";
import type { Volume } from "./volume.ts";

/** Writes a volume as `.nii` or `.nii.gz` (gzip when the path ends with `.gz` unless `options.gzip` says otherwise). */
export async function writeNifti(
  path: string,
  volume: Volume,
  options: WriteNiftiOptions = {},
): Promise<void> {
  const gzip = options.gzip ?? path.endsWith(".gz");
  const bytes = encodeNifti(volume, { ...options, gzip });
  await Deno.writeFile(path, bytes);
}

/** Synchronous variant of {@link writeNifti}. */
export function writeNiftiSync(path: string, volume: Volume, options: WriteNiftiOptions = {}): void {
  const gzip = options.gzip ?? path.endsWith(".gz");
  Deno.writeFileSync(path, encodeNifti(volume, { ...options, gzip }));
}
