/**
 * Training configuration and environment files: loading (JSON or YAML), reference resolution
 * (`@name`, `$@name`), `_target_` mapping, and validation with full key paths that normalises the
 * reference's two editions (GenerativeModels, MONAI core) and our own camelCase form into one typed object.
 * The models' sections are validated against the models' own argument declarations.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { describe, string } from "../nn/args/checkers.ts";
import type { ArgTable, ConfigOf, Declaration } from "../nn/args/declare.ts";
import { isRecord, Problems, readArgs, Section } from "../nn/args/reader.ts";
import { AUTOENCODER_KL_ARGS } from "../nn/models/autoencoder_kl.ts";
import { PATCH_DISCRIMINATOR_ARGS } from "../nn/models/patch_discriminator.ts";
import { DIFFUSION_MODEL_UNET_ARGS } from "../diffusion/unet.ts";
import {
  AUTOENCODER_TRAIN_ARGS,
  type AutoencoderTrainConfig,
  DIFFUSION_TRAIN_ARGS,
  type DiffusionTrainConfig,
  ENVIRONMENT_ARGS,
  type EnvironmentConfig,
  NOISE_SCHEDULER_ARGS,
  type NoiseSchedulerConfig,
  TOP_ARGS,
} from "./config_sections.ts";

export type { AutoencoderTrainConfig, DiffusionTrainConfig, EnvironmentConfig, NoiseSchedulerConfig };

/** The model classes a config may name in `_target_` (or our `kind`). */
export type ModelKind = "AutoencoderKL" | "DiffusionModelUNet" | "PatchDiscriminator";

/** Which form a config file was written in: GenerativeModels, MONAI core, or our own tidier form. */
export type ConfigEdition = "generative" | "core" | "ours";

/** AutoencoderKL constructor arguments (SPEC.md §2.1), camelCased; per-level lists expanded. */
export type AutoencoderConfig = { kind: "AutoencoderKL" } & ConfigOf<typeof AUTOENCODER_KL_ARGS.args>;
/** DiffusionModelUNet constructor arguments (SPEC.md §6.1), camelCased; per-level lists expanded. */
export type DiffusionUNetConfig =
  & { kind: "DiffusionModelUNet" }
  & ConfigOf<typeof DIFFUSION_MODEL_UNET_ARGS.args>;
/** PatchDiscriminator constructor arguments (SPEC.md §3.1); the reference builds it in code, we allow a section. */
export type DiscriminatorConfig =
  & { kind: "PatchDiscriminator" }
  & ConfigOf<typeof PATCH_DISCRIMINATOR_ARGS.args>;

/** A validated, normalised training config (either edition, or ours). */
export type TrainConfig = ConfigOf<typeof TOP_ARGS.args> & {
  /** The file (or label) it came from, for messages. */
  source: string;
  /** The form it was written in. */
  edition: ConfigEdition;
  /** Autoencoder constructor arguments. */
  autoencoder: AutoencoderConfig;
  /** Autoencoder training settings. */
  autoencoderTrain: AutoencoderTrainConfig;
  /** Discriminator constructor arguments (the reference's hard-coded ones unless the file has a section). */
  discriminator: DiscriminatorConfig;
  /** Diffusion UNet constructor arguments. */
  diffusion: DiffusionUNetConfig;
  /** Diffusion training settings. */
  diffusionTrain: DiffusionTrainConfig;
  /** DDPM scheduler settings. */
  noiseScheduler: NoiseSchedulerConfig;
};

/** Options for parsing configs. */
export interface ConfigOptions {
  /** Receives non-fatal remarks (unknown keys); default `console.warn`. */
  onWarning?: (message: string) => void;
}

/** A config or environment file that cannot be used; `problems` holds one `source: path: what` line each. */
export class ConfigError extends Error {
  /** Every problem found, each a complete line. */
  readonly problems: string[];
  /** Builds the error from its problem lines. */
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading and reference resolution

/** Reads a JSON (`.json`) or YAML (`.yaml`, `.yml`) file into plain data; errors name the file. */
export async function readConfigFile(path: string | URL): Promise<unknown> {
  const source = path instanceof URL ? path.pathname : path;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError([`${source}: cannot read file (${(e as Error).message})`]);
  }
  return parseConfigText(text, source);
}

/** Parses config text as YAML when `source` ends in `.yaml`/`.yml`, otherwise as JSON. */
export function parseConfigText(text: string, source: string): unknown {
  const yaml = /\.ya?ml$/i.test(source);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`${source}: not valid ${yaml ? "YAML" : "JSON"}: ${(e as Error).message}`]);
  }
}

/**
 * Resolves the reference's bundle-style references everywhere in `raw`: a string `@name` is replaced by
 * the (resolved) top-level value `name`, `$@name` likewise (evaluating a bare reference gives the same
 * value); `@a#b` walks into nested keys. Other `$` expressions are rejected.
 */
export function resolveReferences(raw: unknown, source = "<config>"): unknown {
  if (!isRecord(raw)) return raw;
  const root = raw;
  const resolving = new Set<string>();
  const resolved = new Map<string, unknown>();

  const lookup = (ref: string, at: string): unknown => {
    if (resolved.has(ref)) return resolved.get(ref);
    if (resolving.has(ref)) {
      throw new ConfigError([`${source}: ${at}: circular reference "@${ref}"`]);
    }
    resolving.add(ref);
    const parts = ref.split("#");
    let value: unknown = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (Array.isArray(value) && /^\d+$/.test(part) && Number(part) < value.length) {
        value = value[Number(part)];
      } else if (isRecord(value) && Object.hasOwn(value, part)) {
        value = value[part];
      } else {
        throw new ConfigError([
          `${source}: ${at}: reference "@${ref}" names no ${i === 0 ? "top-level " : ""}key "${part}"`,
        ]);
      }
    }
    const out = walk(value, parts.join("."));
    resolving.delete(ref);
    resolved.set(ref, out);
    return out;
  };

  const walk = (value: unknown, at: string): unknown => {
    if (typeof value === "string") {
      const m = /^\$?@([A-Za-z_][\w]*(?:#[\w]+)*)$/.exec(value.trim());
      if (m) return lookup(m[1], at);
      if (value.startsWith("$")) {
        throw new ConfigError([
          `${source}: ${at}: unsupported expression ${JSON.stringify(value)} (only "@name" and "$@name" are)`,
        ]);
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${at}[${i}]`));
    if (isRecord(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, at ? `${at}.${k}` : k);
      return out;
    }
    return value;
  };

  return walk(root, "");
}

// ---------------------------------------------------------------------------------------------------------
// Editions and the models' sections

const TARGET_PATTERN = /^(?:(generative)\.networks\.nets\.|(monai)\.networks\.nets\.)?([A-Za-z0-9_]+)$/;
const MODEL_KINDS: ModelKind[] = ["AutoencoderKL", "DiffusionModelUNet", "PatchDiscriminator"];

/** Maps a `_target_` (or `kind`) to our model kind and the edition it implies; problems recorded. */
function readTarget(s: Section, want: ModelKind, editions: Set<ConfigEdition>): void {
  const key = s.find(["_target_", "kind"]);
  if (key === undefined) return; // The section's place says what it is.
  const t = s.obj[key];
  const where = `${s.path}.${key}`;
  const m = typeof t === "string" ? TARGET_PATTERN.exec(t) : null;
  if (!m || !(MODEL_KINDS as string[]).includes(m[3])) {
    s.ctx.problem(
      `${where}: unknown target ${describe(t)}; expected one of ${
        MODEL_KINDS.map((k) => `generative.networks.nets.${k}, monai.networks.nets.${k}`).join(", ")
      } (or a bare class name)`,
    );
    return;
  }
  if (m[3] !== want) {
    s.ctx.problem(`${where}: this section builds a ${want}, but the target names ${m[3]}`);
    return;
  }
  if (m[1]) editions.add("generative");
  if (m[2]) editions.add("core");
}

/** Reads a section's declared arguments, then warns about its unknown keys; `undefined` when it is missing. */
function readSection<A extends ArgTable>(
  section: Section | undefined,
  decl: Declaration<A>,
  editions: Set<ConfigEdition>,
  defaults?: Record<string, unknown>,
): ConfigOf<A> {
  if (!section) return undefined as unknown as ConfigOf<A>;
  const values = readArgs(section, decl, { defaults, onGenerativeName: () => editions.add("generative") });
  section.leftovers();
  return values;
}

/** Reads one model's section: its `_target_` (kind and edition), then its declared arguments. */
function readModel<A extends ArgTable, K extends ModelKind>(
  section: Section | undefined,
  kind: K,
  decl: Declaration<A>,
  editions: Set<ConfigEdition>,
  defaults?: Record<string, unknown>,
): { kind: K } & ConfigOf<A> {
  if (!section) return undefined as unknown as { kind: K } & ConfigOf<A>;
  readTarget(section, kind, editions);
  return { kind, ...readSection(section, decl, editions, defaults) };
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

/**
 * Validates and normalises a training config (already read; references may still be unresolved) from
 * either reference edition or our camelCase form. Every problem found is reported at once in a
 * {@link ConfigError}, each line as `source: key.path: expected T, got V`.
 */
export function parseTrainConfig(
  raw: unknown,
  source = "<config>",
  options: ConfigOptions = {},
): TrainConfig {
  const ctx = new Problems(source);
  if (!isRecord(raw)) {
    throw new ConfigError([`${source}: expected an object at the top level, got ${describe(raw)}`]);
  }
  const data = resolveReferences(raw, source) as Record<string, unknown>;
  const top = new Section(data, "", ctx);
  const editions = new Set<ConfigEdition>();
  const base = readArgs(top, TOP_ARGS);
  const section = (names: string[], required = true) => top.child(names, required);

  const aeS = section(["autoencoder_def", "autoencoder", "autoencoderDef"]);
  const autoencoder = readModel(aeS, "AutoencoderKL", AUTOENCODER_KL_ARGS, editions);
  const autoencoderTrain = readSection(
    section(["autoencoder_train", "autoencoderTrain"]),
    AUTOENCODER_TRAIN_ARGS,
    editions,
  );
  // The reference script builds the discriminator in code with these arguments; a section may change them.
  const discriminator = readModel(
    section(["discriminator_def", "discriminator", "discriminatorDef"], false) ??
      new Section({}, "discriminator_def", ctx),
    "PatchDiscriminator",
    PATCH_DISCRIMINATOR_ARGS,
    editions,
    { spatialDims: base.spatialDims, channels: 32, inChannels: base.imageChannels, norm: "INSTANCE" },
  );
  const dfS = section(["diffusion_def", "diffusion", "diffusionDef"]);
  const diffusion = readModel(dfS, "DiffusionModelUNet", DIFFUSION_MODEL_UNET_ARGS, editions);
  const diffusionTrain = readSection(
    section(["diffusion_train", "diffusionTrain"]),
    DIFFUSION_TRAIN_ARGS,
    editions,
  );
  const nsS = section(["NoiseScheduler", "noise_scheduler", "noiseScheduler"]);
  const target = nsS?.opt(["_target_"], string, undefined);
  if (target !== undefined && !/(^|\.)DDPMScheduler$/.test(target)) {
    ctx.problem(`${nsS!.path}._target_: unsupported scheduler ${describe(target)}; expected DDPMScheduler`);
  }
  const noiseScheduler = readSection(nsS, NOISE_SCHEDULER_ARGS, editions);
  top.leftovers();

  // Cross-section rules (SPEC.md §8.12): AE patch divisible by the AE's downsampling, diffusion patch by
  // AE × UNet downsampling; the latent must match the UNet's channels.
  if (ctx.problems.length === 0) {
    const aeDown = 2 ** (autoencoder.channels.length - 1), unetDown = 2 ** (diffusion.channels.length - 1);
    const patch = (p: number[]) => JSON.stringify(p);
    const aePatch = `${top.find(["autoencoder_train", "autoencoderTrain"])}.patch_size`;
    const dfPatch = `${top.find(["diffusion_train", "diffusionTrain"])}.patch_size`;
    const down = `(autoencoder ${aeDown}× × UNet ${unetDown}× downsampling)`;
    if (autoencoderTrain.patchSize.some((x) => x % aeDown !== 0)) {
      const why = `(the autoencoder downsamples ${aeDown}×)`;
      ctx.problem(`${aePatch}: ${patch(autoencoderTrain.patchSize)} must be divisible by ${aeDown} ${why}`);
    }
    if (diffusionTrain.patchSize.some((x) => x % (aeDown * unetDown) !== 0)) {
      ctx.problem(
        `${dfPatch}: ${patch(diffusionTrain.patchSize)} must be divisible by ${aeDown * unetDown} ${down}`,
      );
    }
    const latent = autoencoder.latentChannels, { inChannels, outChannels } = diffusion;
    if (latent !== inChannels || latent !== outChannels) {
      const unet = `the UNet takes ${inChannels}→${outChannels} channels`;
      ctx.problem(`${dfS!.path}.in_channels: ${unet} but the autoencoder's latent has ${latent}`);
    }
    const { inChannels: aeIn } = autoencoder, image = base.imageChannels;
    if (aeIn !== image) ctx.problem(`${aeS!.path}.in_channels: ${aeIn} differs from image_channels ${image}`);
  }

  if (editions.size > 1) ctx.problem(`mixes GenerativeModels and MONAI-core targets/keys; use one edition`);
  report(ctx, options);
  const edition: ConfigEdition = editions.has("generative")
    ? "generative"
    : editions.has("core") || Object.hasOwn(data, "autoencoder_def")
    ? "core"
    : "ours";
  return {
    source,
    edition,
    ...base,
    autoencoder,
    autoencoderTrain,
    discriminator,
    diffusion,
    diffusionTrain,
    noiseScheduler,
  };
}

/** Throws the problems found, if any; otherwise hands the warnings on. */
function report(ctx: Problems, options: ConfigOptions): void {
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const warn = options.onWarning ?? ((m: string) => console.warn(`warning: ${m}`));
  for (const w of ctx.warnings) warn(w);
}

/** Validates an environment file's data (`data_base_dir`, `model_dir`, `tfevent_path`, `resume_ckpt`). */
export function parseEnvironment(
  raw: unknown,
  source = "<environment>",
  options: ConfigOptions = {},
): EnvironmentConfig {
  const ctx = new Problems(source);
  if (!isRecord(raw)) {
    throw new ConfigError([`${source}: expected an object at the top level, got ${describe(raw)}`]);
  }
  const s = new Section(resolveReferences(raw, source) as Record<string, unknown>, "", ctx);
  const env = readArgs(s, ENVIRONMENT_ARGS);
  s.leftovers();
  report(ctx, options);
  return env;
}

/** Reads, resolves, validates and normalises a training config file (JSON or YAML). */
export async function loadTrainConfig(path: string | URL, options: ConfigOptions = {}): Promise<TrainConfig> {
  const source = path instanceof URL ? path.pathname : path;
  return parseTrainConfig(await readConfigFile(path), source, options);
}

/** Reads and validates an environment file (JSON or YAML). */
export async function loadEnvironment(
  path: string | URL,
  options: ConfigOptions = {},
): Promise<EnvironmentConfig> {
  const source = path instanceof URL ? path.pathname : path;
  return parseEnvironment(await readConfigFile(path), source, options);
}
