/**
 * Training configuration and environment files: loading (JSON or YAML), reference resolution
 * (`@name`, `$@name`), `_target_` mapping, and validation with full key paths that normalises the
 * reference's two editions (GenerativeModels, MONAI core) and our own camelCase form into one typed object.
 * The models' sections are validated against the models' own argument declarations.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { DEFAULT_MAX_RESAMPLED_VOXELS } from "../data/transforms/spacing.ts";
import {
  boolean,
  describe,
  finiteNumber,
  nonNegativeInteger,
  oneOf,
  positiveInteger,
  positiveNumber,
  string,
  tripleOf,
} from "../nn/args/checkers.ts";
import { arg, type ArgTable, type ConfigOf, type Declaration, declareArgs } from "../nn/args/declare.ts";
import { isRecord, Problems, readArgs, Section } from "../nn/args/reader.ts";
import { AUTOENCODER_KL_ARGS } from "../nn/models/autoencoder_kl.ts";
import { PATCH_DISCRIMINATOR_ARGS } from "../nn/models/patch_discriminator.ts";
import { DIFFUSION_MODEL_UNET_ARGS } from "../diffusion/unet.ts";

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

const required = { config: "required" } as const;

/** The top level: data settings and the shared sizes the sections refer to. */
const TOP_ARGS = declareArgs("config", {
  /** MRI channel to keep (0 = FLAIR). */
  channel: arg(nonNegativeInteger, required),
  /** Resampling voxel size in mm [X, Y, Z]. */
  spacing: arg(tripleOf(positiveNumber), required),
  /** Cap on a resampled volume in voxels (ours; raised to the crop size when smaller). */
  maxResampledVoxels: arg(positiveInteger, { default: DEFAULT_MAX_RESAMPLED_VOXELS }),
  /** Spatial dimensions. */
  spatialDims: arg(positiveInteger, required),
  /** Image channels. */
  imageChannels: arg(positiveInteger, required),
  /** Latent channels. */
  latentChannels: arg(positiveInteger, required),
});

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
const AUTOENCODER_TRAIN_ARGS = declareArgs("autoencoder_train", {
  /** Batch size per GPU. */
  batchSize: arg(positiveInteger, required),
  /** Random crop size [X, Y, Z]; divisible by the autoencoder's downsampling factor. */
  patchSize: arg(tripleOf(positiveInteger), required),
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: arg(positiveNumber, required),
  /** Perceptual loss weight. */
  perceptualWeight: arg(finiteNumber, required),
  /** KL loss weight. */
  klWeight: arg(finiteNumber, required),
  /** Reconstruction loss: "l1" (L1Loss) or "l2" (MSELoss). */
  reconLoss: arg(oneOf("l1", "l2"), required),
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: arg(nonNegativeInteger, { gm: "n_epochs", config: "required" }),
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: arg(positiveInteger, required),
  // Reference behaviour: adv_weight = 0.01 and a 5-epoch warm-up are hard-coded in train_autoencoder.py.
  /** Adversarial loss weight. */
  advWeight: arg(finiteNumber, { default: 0.01 }),
  /** Adversarial terms start when `epoch > warmUpEpochs`. */
  warmUpEpochs: arg(nonNegativeInteger, { default: 5 }),
});

/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
const DIFFUSION_TRAIN_ARGS = declareArgs("diffusion_train", {
  /** Batch size per GPU. */
  batchSize: arg(positiveInteger, required),
  /** Centre crop size [X, Y, Z]; divisible by (autoencoder × UNet) downsampling. */
  patchSize: arg(tripleOf(positiveInteger), required),
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: arg(positiveNumber, required),
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: arg(nonNegativeInteger, { gm: "n_epochs", config: "required" }),
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: arg(positiveInteger, required),
});

/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1); unset arguments take the class defaults. */
const NOISE_SCHEDULER_ARGS = declareArgs("NoiseScheduler", {
  /** Training timesteps. */
  numTrainTimesteps: arg(positiveInteger, required),
  /** First beta. */
  betaStart: arg(positiveNumber, required),
  /** Last beta. */
  betaEnd: arg(positiveNumber, required),
  /** Beta schedule. */
  schedule: arg(oneOf("linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine"), {
    default: "scaled_linear_beta",
  }),
  /** Variance type. */
  varianceType: arg(oneOf("fixed_small", "fixed_large"), { default: "fixed_small" }),
  /** Clamp x̂0 to [-1, 1]. */
  clipSample: arg(boolean, { default: true }),
  /** What the network predicts. */
  predictionType: arg(oneOf("epsilon", "sample", "v_prediction"), { default: "epsilon" }),
}, [
  ({ betaStart, betaEnd }) =>
    betaStart >= betaEnd
      ? [{ arg: "betaStart", message: `must be below beta_end (${betaStart} ≥ ${betaEnd})` }]
      : [],
]);

/** The environment file (`environment.json`). */
const ENVIRONMENT_ARGS = declareArgs("environment", {
  /** Where `Task01_BrainTumour/` lives or is downloaded to. */
  dataBaseDir: arg(string, required),
  /** Checkpoint directory. */
  modelDir: arg(string, required),
  /** TensorBoard event directory. */
  tfeventPath: arg(string, required),
  /** Continue from the checkpoints in `modelDir`. */
  resumeCkpt: arg(boolean, required),
  /** Where `generate` writes its volumes (the reference's inference.py reads `output_dir` from here). */
  outputDir: arg(string, { config: "ifGiven" }),
});

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export type AutoencoderTrainConfig = ConfigOf<typeof AUTOENCODER_TRAIN_ARGS.args>;
/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export type DiffusionTrainConfig = ConfigOf<typeof DIFFUSION_TRAIN_ARGS.args>;
/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1). */
export type NoiseSchedulerConfig = ConfigOf<typeof NOISE_SCHEDULER_ARGS.args>;
/** A validated environment file (`environment.json`). */
export type EnvironmentConfig = ConfigOf<typeof ENVIRONMENT_ARGS.args>;

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
    const aeDown = 2 ** (autoencoder.channels.length - 1);
    const unetDown = 2 ** (diffusion.channels.length - 1);
    const bad = (p: number[], d: number) => p.some((x) => x % d !== 0);
    const aePath = top.find(["autoencoder_train", "autoencoderTrain"]) ?? "autoencoder_train";
    const dfPath = top.find(["diffusion_train", "diffusionTrain"]) ?? "diffusion_train";
    if (bad(autoencoderTrain.patchSize, aeDown)) {
      ctx.problem(
        `${aePath}.patch_size: ${
          JSON.stringify(autoencoderTrain.patchSize)
        } must be divisible by ${aeDown} (the autoencoder downsamples ${aeDown}×)`,
      );
    }
    if (bad(diffusionTrain.patchSize, aeDown * unetDown)) {
      ctx.problem(
        `${dfPath}.patch_size: ${JSON.stringify(diffusionTrain.patchSize)} must be divisible by ${
          aeDown * unetDown
        } (autoencoder ${aeDown}× × UNet ${unetDown}× downsampling)`,
      );
    }
    if (
      autoencoder.latentChannels !== diffusion.inChannels ||
      autoencoder.latentChannels !== diffusion.outChannels
    ) {
      ctx.problem(
        `${
          dfS!.path
        }.in_channels: the UNet takes ${diffusion.inChannels}→${diffusion.outChannels} channels but the autoencoder's latent has ${autoencoder.latentChannels}`,
      );
    }
    if (autoencoder.inChannels !== base.imageChannels) {
      ctx.problem(
        `${
          aeS!.path
        }.in_channels: ${autoencoder.inChannels} differs from image_channels ${base.imageChannels}`,
      );
    }
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
