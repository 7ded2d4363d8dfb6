/**
 * Training checkpoints: every model, optimizer and schedule of a run plus its progress, in ONE safetensors
 * file (tensors prefixed `model.<role>.` / `optim.<role>.`, everything else as JSON in the metadata), written
 * atomically (temp file + rename), so a crash never leaves a half-written checkpoint behind.
 */
import type { Module } from "./module.ts";
import type { Optimizer, OptimizerState } from "./optim/optimizer.ts";
import { readSafetensors, writeSafetensors } from "./serialization/safetensors.ts";
import { writeFileAtomic } from "./serialization/atomic.ts";
import type { StateDict } from "./serialization/types.ts";

/** Checkpoint format version written into the metadata. */
export const CHECKPOINT_FORMAT = "ldm3d-checkpoint/1";

/** What a run saves besides tensors: progress, config identity, anything JSON. */
export interface CheckpointInfo {
  /** What kind of run wrote it ("autoencoder", "diffusion"). */
  kind: string;
  /** Hash of the model-defining config: loading into another architecture is refused with a clear message. */
  configHash: string;
  /** Completed epochs. */
  epoch: number;
  /** Completed optimizer steps. */
  step: number;
  /** Free-form JSON (best validation loss, scale factor, lr schedule, RNG state, …). */
  extra?: Record<string, unknown>;
}

/** The parts to save or restore. */
export interface CheckpointParts {
  /** Models by role ("autoencoder", "discriminator", "unet"). */
  models: Record<string, Module>;
  /** Optimizers by role. */
  optimizers?: Record<string, Optimizer>;
}

/** Writes the checkpoint atomically. */
export async function saveCheckpoint(
  path: string,
  parts: CheckpointParts,
  info: CheckpointInfo,
): Promise<void> {
  const tensors: StateDict = new Map();
  for (const [role, m] of Object.entries(parts.models)) {
    for (const [k, v] of await m.stateDict()) tensors.set(`model.${role}.${k}`, v);
  }
  const optimMeta: Record<string, Omit<OptimizerState, "tensors">> = {};
  for (const [role, o] of Object.entries(parts.optimizers ?? {})) {
    const s = await o.stateDict();
    for (const [k, v] of s.tensors) tensors.set(`optim.${role}.${k}`, v);
    optimMeta[role] = { type: s.type, hyper: s.hyper, steps: s.steps };
  }
  const metadata = {
    format: CHECKPOINT_FORMAT,
    info: JSON.stringify(info),
    optimizers: JSON.stringify(optimMeta),
    models: JSON.stringify(Object.keys(parts.models)),
  };
  await writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

/** Reads a checkpoint's info without restoring anything (null if the file does not exist). */
export async function readCheckpointInfo(path: string): Promise<CheckpointInfo | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return parse(path, bytes).info;
}

function parse(path: string, bytes: Uint8Array) {
  const { tensors, metadata } = readSafetensors(bytes, path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `${path}: not a training checkpoint of this toolkit (format '${metadata.format ?? "none"}')`,
    );
  }
  return {
    tensors,
    info: JSON.parse(metadata.info) as CheckpointInfo,
    optimizers: JSON.parse(metadata.optimizers ?? "{}") as Record<string, Omit<OptimizerState, "tensors">>,
  };
}

/**
 * Restores models (strict) and optimizers from `path`. Refuses a checkpoint of another kind or config hash,
 * naming both. Returns its info.
 */
export async function loadCheckpoint(
  path: string,
  parts: CheckpointParts,
  expect: { kind: string; configHash: string },
): Promise<CheckpointInfo> {
  const { tensors, info, optimizers } = parse(path, await Deno.readFile(path));
  if (info.kind !== expect.kind) {
    throw new Error(`${path}: checkpoint of a '${info.kind}' run, expected '${expect.kind}'`);
  }
  if (info.configHash !== expect.configHash) {
    throw new Error(
      `${path}: checkpoint was written for another model configuration (hash ${info.configHash}, this config ${expect.configHash})`,
    );
  }
  for (const [role, m] of Object.entries(parts.models)) {
    m.loadStateDict(subDict(tensors, `model.${role}.`), { strict: true, file: path });
  }
  for (const [role, o] of Object.entries(parts.optimizers ?? {})) {
    const meta = optimizers[role];
    if (!meta) throw new Error(`${path}: no optimizer state for '${role}'`);
    o.loadStateDict({ ...meta, tensors: subDict(tensors, `optim.${role}.`) });
  }
  return info;
}

function subDict(all: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of all) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** A short stable hash (FNV-1a, hex) of a JSON-able value with sorted keys. */
export function configHash(value: unknown): string {
  const text = JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
        : v,
  );
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
