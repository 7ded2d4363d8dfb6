/**
 * Training checkpoints: every model, optimizer and schedule of a run plus its progress, in ONE safetensors
 * file (tensors prefixed `model.<role>.` / `optim.<role>.`, everything else as JSON in the metadata), written
 * atomically (temp file + rename), so a crash never leaves a half-written checkpoint behind.
 */
import type { Module } from "./module.ts";
import type { Optimizer, OptimizerState } from "./optim/optimizer.ts";
import { readSafetensors, writeSafetensors } from "./serialization/safetensors.ts";
import { writeFileAtomic } from "./serialization/atomic.ts";
import { SerializationError, type StateDict } from "./serialization/types.ts";
import { assertFinite } from "./serialization/finite.ts";

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
  return parseCheckpointMetadata(path, readSafetensors(bytes, path).metadata).info;
}

/** A checkpoint's decoded metadata: run info, optimizer states (without tensors), model roles. */
export interface CheckpointMetadata {
  info: CheckpointInfo;
  optimizers: Record<string, Omit<OptimizerState, "tensors">>;
  models: string[];
}

/** Whether safetensors metadata is one of our training checkpoints. */
export function isCheckpointMetadata(metadata: Record<string, string>): boolean {
  return metadata.format === CHECKPOINT_FORMAT;
}

/**
 * Decodes and checks our checkpoint metadata; a missing field, invalid JSON or a wrong type throws a
 * {@link SerializationError} naming the file and the field (e.g. `info.epoch`).
 */
export function parseCheckpointMetadata(path: string, metadata: Record<string, string>): CheckpointMetadata {
  if (!isCheckpointMetadata(metadata)) {
    throw new SerializationError(
      path,
      `not a training checkpoint of this toolkit (metadata field 'format' is ${
        metadata.format === undefined ? "missing" : `'${metadata.format}'`
      }, expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  const json = (field: string, fallback?: unknown): unknown => {
    const text = metadata[field];
    if (text === undefined) {
      if (fallback !== undefined) return fallback;
      throw new SerializationError(path, `corrupt checkpoint metadata: field '${field}' is missing`);
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new SerializationError(
        path,
        `corrupt checkpoint metadata: field '${field}' is not valid JSON (${(e as Error).message})`,
      );
    }
  };
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new SerializationError(
      path,
      `corrupt checkpoint metadata: field '${field}' should be ${expected}, got ${
        JSON.stringify(got) ?? "nothing"
      }`,
    );
  };
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const info = json("info");
  if (!isObject(info)) bad("info", "an object", info);
  const i = info as Record<string, unknown>;
  for (const k of ["kind", "configHash"]) if (typeof i[k] !== "string") bad(`info.${k}`, "a string", i[k]);
  for (const k of ["epoch", "step"]) {
    if (!Number.isSafeInteger(i[k]) || (i[k] as number) < 0) bad(`info.${k}`, "a non-negative integer", i[k]);
  }
  if (i.extra !== undefined && !isObject(i.extra)) bad("info.extra", "an object", i.extra);
  const optimizers = json("optimizers", {});
  if (!isObject(optimizers)) bad("optimizers", "an object", optimizers);
  for (const [role, o] of Object.entries(optimizers as Record<string, unknown>)) {
    if (!isObject(o)) bad(`optimizers.${role}`, "an object", o);
  }
  const models = json("models", []);
  if (!Array.isArray(models) || !models.every((m) => typeof m === "string")) {
    bad("models", "a list of role names", models);
  }
  return {
    info: info as unknown as CheckpointInfo,
    optimizers: optimizers as Record<string, Omit<OptimizerState, "tensors">>,
    models: models as string[],
  };
}

/** Reads a checkpoint: every tensor finite (else the file and first bad tensor are named), metadata checked. */
function parse(path: string, bytes: Uint8Array) {
  const { tensors, metadata } = readSafetensors(bytes, path);
  const meta = parseCheckpointMetadata(path, metadata);
  assertFinite(tensors, path);
  return { tensors, ...meta };
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
