/**
 * Training configuration and environment files: loading (JSON or YAML), reference resolution
 * (`@name`, `$@name`), `_target_` mapping, validation with full key paths, and normalisation of the
 * reference's two editions (GenerativeModels, MONAI core) and our own camelCase form into one typed object.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";

/** The model classes a config may name in `_target_` (or our `kind`). */
export type ModelKind = "AutoencoderKL" | "DiffusionModelUNet" | "PatchDiscriminator";

/** Which form a config file was written in: GenerativeModels, MONAI core, or our own tidier form. */
export type ConfigEdition = "generative" | "core" | "ours";

/** AutoencoderKL constructor arguments (SPEC.md §2.1), camelCased; per-level lists expanded. */
export interface AutoencoderConfig {
  /** Always "AutoencoderKL". */
  kind: "AutoencoderKL";
  /** Spatial dimensions (3 for volumes). */
  spatialDims: number;
  /** Image channels in. */
  inChannels: number;
  /** Image channels out. */
  outChannels: number;
  /** Latent channels. */
  latentChannels: number;
  /** Feature channels per level (GM: `num_channels`). */
  channels: number[];
  /** Residual blocks per level (an integer in the file is repeated per level). */
  numResBlocks: number[];
  /** GroupNorm groups; must divide every entry of `channels`. */
  normNumGroups: number;
  /** GroupNorm epsilon. */
  normEps: number;
  /** Attention per level. */
  attentionLevels: boolean[];
  /** Non-local attention in the encoder's middle block. */
  withEncoderNonlocalAttn: boolean;
  /** Non-local attention in the decoder's middle block. */
  withDecoderNonlocalAttn: boolean;
  /** Transposed-convolution upsampling instead of nearest + conv (default false). */
  useConvtranspose: boolean;
  /** Gradient checkpointing (GM: `use_checkpointing`; default false). */
  useCheckpoint: boolean;
  /** Attention output projection (core only); undefined = the edition's default. */
  includeFc?: boolean;
  /** Single qkv Linear (core only); undefined = default (false). */
  useCombinedLinear?: boolean;
  /** Flash attention (core only); undefined = default (false). */
  useFlashAttention?: boolean;
}

/** DiffusionModelUNet constructor arguments (SPEC.md §6.1), camelCased; per-level lists expanded. */
export interface DiffusionUNetConfig {
  /** Always "DiffusionModelUNet". */
  kind: "DiffusionModelUNet";
  /** Spatial dimensions (3 for volumes). */
  spatialDims: number;
  /** Latent channels in. */
  inChannels: number;
  /** Latent channels out. */
  outChannels: number;
  /** Feature channels per level (GM: `num_channels`). */
  channels: number[];
  /** Attention per level. */
  attentionLevels: boolean[];
  /** Channels per attention head per level (an integer in the file is repeated per level). */
  numHeadChannels: number[];
  /** Residual blocks per level (an integer in the file is repeated per level). */
  numResBlocks: number[];
  /** GroupNorm groups (default 32); must divide every entry of `channels`. */
  normNumGroups: number;
  /** GroupNorm epsilon (default 1e-6). */
  normEps: number;
  /** Residual blocks for up/down-sampling (default false). */
  resblockUpdown: boolean;
  /** Cross-attention conditioning (default false; unsupported by the example). */
  withConditioning: boolean;
  /** Transformer layers per attention block (default 1). */
  transformerNumLayers: number;
  /** Cross-attention context size (default null). */
  crossAttentionDim: number | null;
  /** Class-embedding count (default null). */
  numClassEmbeds: number | null;
  /** Upcast attention to fp32 (default false). */
  upcastAttention: boolean;
  /** Attention output projection (core only); undefined = the edition's default. */
  includeFc?: boolean;
  /** Single qkv Linear (core only); undefined = default (false). */
  useCombinedLinear?: boolean;
  /** Flash attention (core only); undefined = default (false). */
  useFlashAttention?: boolean;
}

/** PatchDiscriminator constructor arguments (SPEC.md §3.1); the reference builds it in code, we allow a section. */
export interface DiscriminatorConfig {
  /** Always "PatchDiscriminator". */
  kind: "PatchDiscriminator";
  /** Spatial dimensions. */
  spatialDims: number;
  /** Strided layers after the initial conv (default 3). */
  numLayersD: number;
  /** Channels of the first layer (GM: `num_channels`; default 32). */
  channels: number;
  /** Image channels in (default `image_channels`). */
  inChannels: number;
  /** Output channels (default 1). */
  outChannels: number;
  /** Normalisation (default "INSTANCE"). */
  norm: string;
}

/** Autoencoder training settings (`autoencoder_train`, SPEC.md §5). */
export interface AutoencoderTrainConfig {
  /** Batch size per GPU. */
  batchSize: number;
  /** Random crop size [X, Y, Z]; divisible by the autoencoder's downsampling factor. */
  patchSize: [number, number, number];
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: number;
  /** Perceptual loss weight. */
  perceptualWeight: number;
  /** KL loss weight. */
  klWeight: number;
  /** Reconstruction loss: "l1" (L1Loss) or "l2" (MSELoss). */
  reconLoss: "l1" | "l2";
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: number;
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: number;
  /** Adversarial loss weight (default 0.01, hard-coded in the reference script). */
  advWeight: number;
  /** Adversarial terms start when `epoch > warmUpEpochs` (default 5, hard-coded in the reference script). */
  warmUpEpochs: number;
}

/** Diffusion training settings (`diffusion_train`, SPEC.md §8). */
export interface DiffusionTrainConfig {
  /** Batch size per GPU. */
  batchSize: number;
  /** Centre crop size [X, Y, Z]; divisible by (autoencoder × UNet) downsampling. */
  patchSize: [number, number, number];
  /** Adam learning rate per GPU (multiplied by the number of GPUs). */
  lr: number;
  /** Epochs (GM: `n_epochs`, core: `max_epochs`). */
  maxEpochs: number;
  /** Validate when `epoch % valInterval == 0`. */
  valInterval: number;
  /** Decay of an exponential moving average of the UNet's weights, used for sampling (absent = off, the reference). */
  emaDecay?: number;
  /** Linear learning-rate warm-up over this many optimizer steps (absent = none, the reference). */
  warmupSteps?: number;
}

/** DDPM scheduler settings (`NoiseScheduler`, SPEC.md §7.1); unset arguments take the class defaults. */
export interface NoiseSchedulerConfig {
  /** Training timesteps. */
  numTrainTimesteps: number;
  /** First beta. */
  betaStart: number;
  /** Last beta. */
  betaEnd: number;
  /** Beta schedule (default "scaled_linear_beta"). */
  schedule: "linear_beta" | "scaled_linear_beta" | "sigmoid_beta" | "cosine";
  /** Variance type (default "fixed_small"). */
  varianceType: "fixed_small" | "fixed_large";
  /** Clamp x̂0 to [-1, 1] when sampling; absent = not set in the file (sampling then does not clip). */
  clipSample?: boolean;
  /** What the network predicts (default "epsilon"). */
  predictionType: "epsilon" | "sample" | "v_prediction";
}

/** A validated, normalised training config (either edition, or ours). */
export interface TrainConfig {
  /** The file (or label) it came from, for messages. */
  source: string;
  /** The form it was written in. */
  edition: ConfigEdition;
  /** MRI channel to keep (0 = FLAIR). */
  channel: number;
  /** Resampling voxel size in mm [X, Y, Z]. */
  spacing: [number, number, number];
  /** Spatial dimensions. */
  spatialDims: number;
  /** Image channels. */
  imageChannels: number;
  /** Latent channels. */
  latentChannels: number;
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
}

/** A validated environment file (`environment.json`). */
export interface EnvironmentConfig {
  /** Where `Task01_BrainTumour/` lives or is downloaded to. */
  dataBaseDir: string;
  /** Checkpoint directory. */
  modelDir: string;
  /** TensorBoard event directory. */
  tfeventPath: string;
  /** Continue from the checkpoints in `modelDir`. */
  resumeCkpt: boolean;
}

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
// Validation helpers

type Checker<T> = { expected: string; check: (v: unknown) => v is T };

const positiveInteger: Checker<number> = {
  expected: "positive integer",
  check: (v): v is number => typeof v === "number" && Number.isInteger(v) && v > 0,
};
const nonNegativeInteger: Checker<number> = {
  expected: "non-negative integer",
  check: (v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0,
};
const finiteNumber: Checker<number> = {
  expected: "number",
  check: (v): v is number => typeof v === "number" && Number.isFinite(v),
};
const positiveNumber: Checker<number> = {
  expected: "positive number",
  check: (v): v is number => typeof v === "number" && Number.isFinite(v) && v > 0,
};
const unitInterval: Checker<number> = {
  expected: "a number in [0, 1)",
  check: (v): v is number => typeof v === "number" && v >= 0 && v < 1,
};
const boolean: Checker<boolean> = {
  expected: "boolean",
  check: (v): v is boolean => typeof v === "boolean",
};
const string: Checker<string> = {
  expected: "string",
  check: (v): v is string => typeof v === "string",
};
const nullableInteger: Checker<number | null> = {
  expected: "integer | null",
  check: (v): v is number | null => v === null || (typeof v === "number" && Number.isInteger(v)),
};
function oneOf<T extends string>(...values: T[]): Checker<T> {
  return {
    expected: values.map((v) => JSON.stringify(v)).join(" | "),
    check: (v): v is T => typeof v === "string" && (values as string[]).includes(v),
  };
}
function listOf<T>(item: Checker<T>, length?: number): Checker<T[]> {
  const name = item.expected.includes(" | ") ? `(${item.expected})` : item.expected;
  return {
    expected: `${name}[${length ?? ""}]`,
    check: (v): v is T[] =>
      Array.isArray(v) && (length === undefined || v.length === length) && v.every((x) => item.check(x)),
  };
}
const triple: Checker<[number, number, number]> = listOf(positiveNumber, 3) as Checker<
  [number, number, number]
>;
const intTriple: Checker<[number, number, number]> = listOf(positiveInteger, 3) as Checker<
  [number, number, number]
>;
const intOrIntList: Checker<number | number[]> = {
  expected: "non-negative integer | non-negative integer[]",
  check: (v): v is number | number[] => nonNegativeInteger.check(v) || listOf(nonNegativeInteger).check(v),
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  let s: string;
  try {
    s = JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Reads keys of one object by their accepted names, recording problems and which keys were used. */
class Section {
  readonly used = new Set<string>();
  constructor(
    readonly obj: Record<string, unknown>,
    readonly path: string,
    readonly ctx: Context,
  ) {}

  private at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** Finds which of `names` is present (at most one may be). */
  find(names: string[]): string | undefined {
    const present = names.filter((n) => Object.hasOwn(this.obj, n));
    for (const n of present) this.used.add(n);
    if (present.length > 1) {
      this.ctx.problem(`${this.at(present[0])}: given more than once (as ${present.join(", ")})`);
    }
    return present[0];
  }

  /** Reads a required key (`names[0]` is the reference's spelling, used in messages). */
  req<T>(names: string[], c: Checker<T>): T {
    const key = this.find(names);
    if (key === undefined) {
      this.ctx.problem(`${this.at(names[0])}: missing (expected ${c.expected})`);
      return undefined as T;
    }
    return this.value(key, c);
  }

  /** Reads an optional key, falling back to `fallback`. */
  opt<T, F>(names: string[], c: Checker<T>, fallback: F): T | F {
    const key = this.find(names);
    if (key === undefined) return fallback;
    return this.value(key, c);
  }

  private value<T>(key: string, c: Checker<T>): T {
    const v = this.obj[key];
    if (!c.check(v)) {
      this.ctx.problem(`${this.at(key)}: expected ${c.expected}, got ${describe(v)}`);
      return undefined as T;
    }
    return v;
  }

  /** Reports keys nobody read (typos, unsupported arguments) as warnings. */
  leftovers(): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.used.has(k) && !k.startsWith("_")) {
        this.ctx.warn(`${this.at(k)}: unknown key, ignored`);
      }
    }
  }
}

class Context {
  problems: string[] = [];
  warnings: string[] = [];
  constructor(readonly source: string) {}
  problem(msg: string): void {
    this.problems.push(`${this.source}: ${msg}`);
  }
  warn(msg: string): void {
    this.warnings.push(`${this.source}: ${msg}`);
  }
}

/** `snake_name` → [snake_name, snakeName, ...extras]. */
/** The entries whose value is set (optional keys absent from the file stay absent from the object). */
function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function names(snake: string, ...extras: string[]): string[] {
  const camel = snakeToCamel(snake);
  return camel === snake ? [snake, ...extras] : [snake, camel, ...extras];
}

/** Opens a sub-object; missing or mistyped → problem and `undefined`. */
function subsection(parent: Section, keyNames: string[], required: boolean): Section | undefined {
  const key = parent.find(keyNames);
  const path = parent.path ? `${parent.path}.${key ?? keyNames[0]}` : key ?? keyNames[0];
  if (key === undefined) {
    if (required) parent.ctx.problem(`${path}: missing (expected object)`);
    return undefined;
  }
  const v = parent.obj[key];
  if (!isRecord(v)) {
    parent.ctx.problem(`${path}: expected object, got ${describe(v)}`);
    return undefined;
  }
  return new Section(v, path, parent.ctx);
}

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

/** Expands an int-or-list per-level argument to a list of `levels` entries. */
function perLevel(
  s: Section,
  key: string,
  value: number | number[] | undefined,
  levels: number | undefined,
): number[] {
  if (value === undefined || levels === undefined) return [];
  if (typeof value === "number") return new Array(levels).fill(value);
  if (value.length !== levels) {
    s.ctx.problem(`${s.path}.${key}: has ${value.length} entries, but channels has ${levels} levels`);
  }
  return value;
}

function checkGroups(s: Section, channels: number[] | undefined, groups: number | undefined): void {
  if (!channels || groups === undefined) return;
  const bad = channels.filter((c) => c % groups !== 0);
  if (bad.length) {
    s.ctx.problem(`${s.path}.norm_num_groups: ${groups} does not divide channels ${bad.join(", ")}`);
  }
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
  const ctx = new Context(source);
  if (!isRecord(raw)) {
    throw new ConfigError([`${source}: expected an object at the top level, got ${describe(raw)}`]);
  }
  const data = resolveReferences(raw, source) as Record<string, unknown>;
  const top = new Section(data, "", ctx);
  const editions = new Set<ConfigEdition>();

  const channel = top.req(names("channel"), nonNegativeInteger);
  const spacing = top.req(names("spacing"), triple);
  const spatialDims = top.req(names("spatial_dims"), positiveInteger);
  const imageChannels = top.req(names("image_channels"), positiveInteger);
  const latentChannels = top.req(names("latent_channels"), positiveInteger);

  // Edition markers: GM says num_channels/n_epochs, core says channels/max_epochs.
  const channelNames = ["num_channels", "channels"];
  const noteChannelEdition = (s: Section): void => {
    if (Object.hasOwn(s.obj, "num_channels")) editions.add("generative");
  };

  // autoencoder_def
  const aeS = subsection(top, ["autoencoder_def", "autoencoder", "autoencoderDef"], true);
  let autoencoder = undefined as unknown as AutoencoderConfig;
  if (aeS) {
    readTarget(aeS, "AutoencoderKL", editions);
    noteChannelEdition(aeS);
    const channels = aeS.req(channelNames, listOf(positiveInteger));
    const levels = channels?.length;
    const rawRes = aeS.req(names("num_res_blocks"), intOrIntList);
    const attentionLevels = aeS.req(names("attention_levels"), listOf(boolean));
    const normNumGroups = aeS.req(names("norm_num_groups"), positiveInteger);
    autoencoder = {
      kind: "AutoencoderKL",
      spatialDims: aeS.req(names("spatial_dims"), positiveInteger),
      inChannels: aeS.req(names("in_channels"), positiveInteger),
      outChannels: aeS.req(names("out_channels"), positiveInteger),
      latentChannels: aeS.req(names("latent_channels"), positiveInteger),
      channels,
      numResBlocks: perLevel(aeS, "num_res_blocks", rawRes, levels),
      normNumGroups,
      normEps: aeS.req(names("norm_eps"), positiveNumber),
      attentionLevels,
      withEncoderNonlocalAttn: aeS.req(names("with_encoder_nonlocal_attn"), boolean),
      withDecoderNonlocalAttn: aeS.req(names("with_decoder_nonlocal_attn"), boolean),
      useConvtranspose: aeS.opt(names("use_convtranspose"), boolean, false),
      useCheckpoint: aeS.opt(
        names("use_checkpoint", "use_checkpointing", "useCheckpointing"),
        boolean,
        false,
      ),
    };
    const includeFc = aeS.opt(names("include_fc"), boolean, undefined);
    if (includeFc !== undefined) autoencoder.includeFc = includeFc;
    const combined = aeS.opt(names("use_combined_linear"), boolean, undefined);
    if (combined !== undefined) autoencoder.useCombinedLinear = combined;
    const flash = aeS.opt(names("use_flash_attention"), boolean, undefined);
    if (flash !== undefined) autoencoder.useFlashAttention = flash;
    if (attentionLevels && levels !== undefined && attentionLevels.length !== levels) {
      ctx.problem(
        `${aeS.path}.attention_levels: has ${attentionLevels.length} entries, but channels has ${levels}`,
      );
    }
    checkGroups(aeS, channels, normNumGroups);
    aeS.leftovers();
  }

  // autoencoder_train
  const aeT = subsection(top, ["autoencoder_train", "autoencoderTrain"], true);
  let autoencoderTrain = undefined as unknown as AutoencoderTrainConfig;
  if (aeT) {
    if (Object.hasOwn(aeT.obj, "n_epochs")) editions.add("generative");
    autoencoderTrain = {
      batchSize: aeT.req(names("batch_size"), positiveInteger),
      patchSize: aeT.req(names("patch_size"), intTriple),
      lr: aeT.req(names("lr"), positiveNumber),
      perceptualWeight: aeT.req(names("perceptual_weight"), finiteNumber),
      klWeight: aeT.req(names("kl_weight"), finiteNumber),
      reconLoss: aeT.req(names("recon_loss"), oneOf("l1", "l2")),
      maxEpochs: aeT.req(names("n_epochs", "max_epochs", "maxEpochs"), nonNegativeInteger),
      valInterval: aeT.req(names("val_interval"), positiveInteger),
      // Reference behaviour: adv_weight = 0.01 and a 5-epoch warm-up are hard-coded in train_autoencoder.py.
      advWeight: aeT.opt(names("adv_weight"), finiteNumber, 0.01),
      warmUpEpochs: aeT.opt(names("warm_up_epochs"), nonNegativeInteger, 5),
    };
    aeT.leftovers();
  }

  // discriminator_def (optional; the reference constructs it in code, SPEC.md §3.1)
  const dS = subsection(top, ["discriminator_def", "discriminator", "discriminatorDef"], false);
  const discriminator: DiscriminatorConfig = {
    kind: "PatchDiscriminator",
    spatialDims: spatialDims,
    numLayersD: 3,
    channels: 32,
    inChannels: imageChannels,
    outChannels: 1,
    norm: "INSTANCE",
  };
  if (dS) {
    readTarget(dS, "PatchDiscriminator", editions);
    noteChannelEdition(dS);
    discriminator.spatialDims = dS.opt(names("spatial_dims"), positiveInteger, discriminator.spatialDims);
    discriminator.numLayersD = dS.opt(names("num_layers_d"), positiveInteger, 3);
    discriminator.channels = dS.opt(channelNames, positiveInteger, 32);
    discriminator.inChannels = dS.opt(names("in_channels"), positiveInteger, discriminator.inChannels);
    discriminator.outChannels = dS.opt(names("out_channels"), positiveInteger, 1);
    discriminator.norm = dS.opt(names("norm"), string, "INSTANCE");
    dS.leftovers();
  }

  // diffusion_def
  const dfS = subsection(top, ["diffusion_def", "diffusion", "diffusionDef"], true);
  let diffusion = undefined as unknown as DiffusionUNetConfig;
  if (dfS) {
    readTarget(dfS, "DiffusionModelUNet", editions);
    noteChannelEdition(dfS);
    const channels = dfS.req(channelNames, listOf(positiveInteger));
    const levels = channels?.length;
    const attentionLevels = dfS.req(names("attention_levels"), listOf(boolean));
    const rawHeads = dfS.req(names("num_head_channels"), intOrIntList);
    const rawRes = dfS.req(names("num_res_blocks"), intOrIntList);
    const normNumGroups = dfS.opt(names("norm_num_groups"), positiveInteger, 32);
    diffusion = {
      kind: "DiffusionModelUNet",
      spatialDims: dfS.req(names("spatial_dims"), positiveInteger),
      inChannels: dfS.req(names("in_channels"), positiveInteger),
      outChannels: dfS.req(names("out_channels"), positiveInteger),
      channels,
      attentionLevels,
      numHeadChannels: perLevel(dfS, "num_head_channels", rawHeads, levels),
      numResBlocks: perLevel(dfS, "num_res_blocks", rawRes, levels),
      normNumGroups,
      normEps: dfS.opt(names("norm_eps"), positiveNumber, 1e-6),
      resblockUpdown: dfS.opt(names("resblock_updown"), boolean, false),
      withConditioning: dfS.opt(names("with_conditioning"), boolean, false),
      transformerNumLayers: dfS.opt(names("transformer_num_layers"), positiveInteger, 1),
      crossAttentionDim: dfS.opt(names("cross_attention_dim"), nullableInteger, null),
      numClassEmbeds: dfS.opt(names("num_class_embeds"), nullableInteger, null),
      upcastAttention: dfS.opt(names("upcast_attention"), boolean, false),
    };
    const includeFc = dfS.opt(names("include_fc"), boolean, undefined);
    if (includeFc !== undefined) diffusion.includeFc = includeFc;
    const combined = dfS.opt(names("use_combined_linear"), boolean, undefined);
    if (combined !== undefined) diffusion.useCombinedLinear = combined;
    const flash = dfS.opt(names("use_flash_attention"), boolean, undefined);
    if (flash !== undefined) diffusion.useFlashAttention = flash;
    if (attentionLevels && levels !== undefined && attentionLevels.length !== levels) {
      ctx.problem(
        `${dfS.path}.attention_levels: has ${attentionLevels.length} entries, but channels has ${levels}`,
      );
    }
    if (channels && attentionLevels && diffusion.numHeadChannels.length === levels) {
      channels.forEach((c, i) => {
        const h = diffusion.numHeadChannels[i];
        if (attentionLevels[i] && (h <= 0 || c % h !== 0)) {
          ctx.problem(
            `${dfS.path}.num_head_channels: level ${i} has attention and ${c} channels, so it needs a positive divisor of ${c}, got ${h}`,
          );
        }
      });
    }
    checkGroups(dfS, channels, normNumGroups);
    dfS.leftovers();
  }

  // diffusion_train
  const dfT = subsection(top, ["diffusion_train", "diffusionTrain"], true);
  let diffusionTrain = undefined as unknown as DiffusionTrainConfig;
  if (dfT) {
    if (Object.hasOwn(dfT.obj, "n_epochs")) editions.add("generative");
    diffusionTrain = {
      batchSize: dfT.req(names("batch_size"), positiveInteger),
      patchSize: dfT.req(names("patch_size"), intTriple),
      lr: dfT.req(names("lr"), positiveNumber),
      maxEpochs: dfT.req(names("n_epochs", "max_epochs", "maxEpochs"), nonNegativeInteger),
      valInterval: dfT.req(names("val_interval"), positiveInteger),
      ...definedOnly({
        emaDecay: dfT.opt(names("ema_decay"), unitInterval, undefined),
        warmupSteps: dfT.opt(names("warmup_steps"), nonNegativeInteger, undefined),
      }),
    };
    dfT.leftovers();
  }

  // NoiseScheduler
  const nsS = subsection(top, ["NoiseScheduler", "noise_scheduler", "noiseScheduler"], true);
  let noiseScheduler = undefined as unknown as NoiseSchedulerConfig;
  if (nsS) {
    const target = nsS.opt(["_target_"], string, undefined);
    if (target !== undefined && !/(^|\.)DDPMScheduler$/.test(target)) {
      ctx.problem(`${nsS.path}._target_: unsupported scheduler ${describe(target)}; expected DDPMScheduler`);
    }
    noiseScheduler = {
      numTrainTimesteps: nsS.req(names("num_train_timesteps"), positiveInteger),
      betaStart: nsS.req(names("beta_start"), positiveNumber),
      betaEnd: nsS.req(names("beta_end"), positiveNumber),
      schedule: nsS.opt(
        names("schedule"),
        oneOf("linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine"),
        "scaled_linear_beta",
      ),
      varianceType: nsS.opt(names("variance_type"), oneOf("fixed_small", "fixed_large"), "fixed_small"),
      ...definedOnly({ clipSample: nsS.opt(names("clip_sample"), boolean, undefined) }),
      predictionType: nsS.opt(
        names("prediction_type"),
        oneOf("epsilon", "sample", "v_prediction"),
        "epsilon",
      ),
    };
    if (
      noiseScheduler.betaStart !== undefined && noiseScheduler.betaEnd !== undefined &&
      noiseScheduler.betaStart >= noiseScheduler.betaEnd
    ) {
      ctx.problem(
        `${nsS.path}.beta_start: must be below beta_end (${noiseScheduler.betaStart} ≥ ${noiseScheduler.betaEnd})`,
      );
    }
    nsS.leftovers();
  }
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
    if (autoencoder.inChannels !== imageChannels) {
      ctx.problem(
        `${aeS!.path}.in_channels: ${autoencoder.inChannels} differs from image_channels ${imageChannels}`,
      );
    }
  }

  if (editions.size > 1) ctx.problem(`mixes GenerativeModels and MONAI-core targets/keys; use one edition`);
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const warn = options.onWarning ?? ((m: string) => console.warn(`warning: ${m}`));
  for (const w of ctx.warnings) warn(w);

  const edition: ConfigEdition = editions.has("generative")
    ? "generative"
    : editions.has("core") || Object.hasOwn(data, "autoencoder_def")
    ? "core"
    : "ours";
  return {
    source,
    edition,
    channel,
    spacing,
    spatialDims,
    imageChannels,
    latentChannels,
    autoencoder,
    autoencoderTrain,
    discriminator,
    diffusion,
    diffusionTrain,
    noiseScheduler,
  };
}

/** Validates an environment file's data (`data_base_dir`, `model_dir`, `tfevent_path`, `resume_ckpt`). */
export function parseEnvironment(
  raw: unknown,
  source = "<environment>",
  options: ConfigOptions = {},
): EnvironmentConfig {
  const ctx = new Context(source);
  if (!isRecord(raw)) {
    throw new ConfigError([`${source}: expected an object at the top level, got ${describe(raw)}`]);
  }
  const s = new Section(resolveReferences(raw, source) as Record<string, unknown>, "", ctx);
  const env: EnvironmentConfig = {
    dataBaseDir: s.req(names("data_base_dir"), string),
    modelDir: s.req(names("model_dir"), string),
    tfeventPath: s.req(names("tfevent_path"), string),
    resumeCkpt: s.req(names("resume_ckpt"), boolean),
  };
  s.leftovers();
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const warn = options.onWarning ?? ((m: string) => console.warn(`warning: ${m}`));
  for (const w of ctx.warnings) warn(w);
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
