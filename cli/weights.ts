/**
 * Loads one model's weights from any file a user may have: our training checkpoint (`model.<role>.*`
 * inside), a plain safetensors state dict, or a PyTorch `.pt` from the reference (GenerativeModels or MONAI
 * core key names, detected). Strict: another architecture's file fails naming the keys.
 */
import { isCheckpointMetadata, parseCheckpointMetadata } from "../nn/checkpoint.ts";
import type { Module } from "../nn/module.ts";
import { assertFinite, loadStateDictFile } from "../nn/serialization/mod.ts";
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
  if (isSafetensors(bytes)) {
    const { tensors, metadata } = readSafetensors(bytes, path);
    if (isCheckpointMetadata(metadata)) {
      const meta = parseCheckpointMetadata(path, metadata);
      const prefix = `model.${role}.`;
      const sd: StateDict = new Map();
      for (const [k, v] of tensors) if (k.startsWith(prefix)) sd.set(k.slice(prefix.length), v);
      if (sd.size === 0) {
        throw new Error(
          `${path}: this checkpoint holds no '${role}' model (it has ${meta.models.join(", ") || "none"})`,
        );
      }
      // The same NaN/Inf check as foreign weights: a broken run's checkpoint must not produce NaN volumes.
      assertFinite(sd, path);
      module.loadStateDict(sd, { strict: true, file: path });
      return { source: "checkpoint", info: meta.info as unknown as Record<string, unknown> };
    }
  }
  const sd = toCoreNames(await loadStateDictFile(path), kind, { projection: options.projection });
  module.loadStateDict(sd, { strict: true, file: path });
  return { source: "state-dict", info: null };
}
