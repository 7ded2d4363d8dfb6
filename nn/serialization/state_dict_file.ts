/** State-dict files on disk: thin wrappers over `parseStateDict` (bytes) in mod.ts. */
import { type LoadedStateDict, type LoadOptions, parseStateDict } from "./mod.ts";
import type { StateDict } from "./types.ts";

/** Reads a checkpoint file with its format and metadata (safetensors, torch zip or legacy torch; picked by magic bytes). */
export async function readStateDictFile(path: string, options: LoadOptions = {}): Promise<LoadedStateDict> {
  return parseStateDict(await Deno.readFile(path), path, options);
}

/** Loads a state dict from a safetensors / `.pt` (zip or legacy) file; rejects NaN/Inf unless `checkFinite: false`. */
export async function loadStateDictFile(path: string, options: LoadOptions = {}): Promise<StateDict> {
  return (await readStateDictFile(path, options)).stateDict;
}
