/** safetensors files on disk: thin wrappers over the byte-level reader/writer in safetensors.ts. */
import { writeFileAtomic } from "./atomic.ts";
import { readSafetensors, type SafetensorsContent, writeSafetensors } from "./safetensors.ts";
import type { StateDict } from "./types.ts";

/** Reads a safetensors file from disk (errors name `path`). */
export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  return readSafetensors(await Deno.readFile(path), path);
}

/** Writes tensors (+ metadata) to a safetensors file atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, writeSafetensors(tensors, metadata));
}
