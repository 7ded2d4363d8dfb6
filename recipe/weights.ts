/**
 * Loads one model's weights from any file a user may have: our training checkpoint (`model.<role>.*`
 * inside), a plain safetensors state dict, or a PyTorch `.pt` from the reference (GenerativeModels or MONAI
 * core key names, detected). Strict: another architecture's file fails naming the keys.
 *
 * `loadModelWeightsFromBytes` works on bytes (the browser page uses it); `loadModelWeights` reads a file first.
 * Both give the same messages, naming `source` (a path or a URL).
 */
import { isCheckpointMetadata, parseCheckpointMetadata } from "../nn/checkpoint.ts";
import type { Module } from "../nn/module.ts";
import { assertFinite, parseStateDict } from "../nn/serialization/mod.ts";
import { isSafetensors, readSafetensors } from "../nn/serialization/safetensors.ts";
import { type ModelKind, type ProjectionPolicy, toCoreNames } from "../nn/serialization/key_names.ts";
import type { StateDict } from "../nn/serialization/types.ts";

/** Where the weights came from, and the checkpoint's metadata info when it was one of ours. */
export interface LoadedWeights {
  source: "checkpoint" | "state-dict";
  info: Record<string, unknown> | null;
}

/** Loads `role`'s weights from `path` into `module` (see the module doc). */
export async function loadModelWeights(
  module: Module,
  path: string,
  kind: ModelKind,
  role: string,
  options: { projection?: ProjectionPolicy } = {},
): Promise<LoadedWeights> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read weights (${(e as Error).message})`);
  }
  return loadModelWeightsFromBytes(module, bytes, path, kind, role, options);
}

/** Loads `role`'s weights from the file contents `bytes` (named `source` in errors) into `module`. */
export function loadModelWeightsFromBytes(
  module: Module,
  bytes: Uint8Array,
  source: string,
  kind: ModelKind,
  role: string,
  options: { projection?: ProjectionPolicy } = {},
): LoadedWeights {
  if (isSafetensors(bytes)) {
    const { tensors, metadata } = readSafetensors(bytes, source);
    if (isCheckpointMetadata(metadata)) {
      const meta = parseCheckpointMetadata(source, metadata);
      const prefix = `model.${role}.`;
      const sd: StateDict = new Map();
      for (const [k, v] of tensors) if (k.startsWith(prefix)) sd.set(k.slice(prefix.length), v);
      if (sd.size === 0) {
        throw new Error(
          `${source}: this checkpoint holds no '${role}' model (it has ${meta.models.join(", ") || "none"})`,
        );
      }
      // The same NaN/Inf check as foreign weights: a broken run's checkpoint must not produce NaN volumes.
      assertFinite(sd, source);
      module.loadStateDict(sd, { strict: true, file: source });
      return { source: "checkpoint", info: meta.info as unknown as Record<string, unknown> };
    }
  }
  const sd = toCoreNames(parseStateDict(bytes, source).stateDict, kind, { projection: options.projection });
  module.loadStateDict(sd, { strict: true, file: source });
  return { source: "state-dict", info: null };
}
