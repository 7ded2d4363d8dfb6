/**
 * Command-line flags shared by the commands (the reference's `-c/--config`, `-e/--environment`,
 * `-g/--gpus`, `--download_data`, `-h/--help`) plus per-command extras, on top of `node:util` parseArgs,
 * with a help-text generator and errors that list the valid flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { terminalColumns } from "../recipe/terminal.ts";
import { type BackendChoice, parseBackendChoice } from "../tensor/mod.ts";

function parseBackendOr(command: string, value: string): BackendChoice {
  try {
    return parseBackendChoice(value, `${command}: --backend`);
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
}

/** One flag: its type, optional one-letter form, help line and default. */
export interface FlagSpec {
  /** "string" takes a value; "boolean" is a switch. */
  type: "string" | "boolean";
  /** One-letter form, without the dash (e.g. "c"). */
  short?: string;
  /** Help line. */
  description: string;
  /** Default value (string flags only; switches default to false). */
  default?: string;
  /** Placeholder shown in help (default "value"). */
  valueName?: string;
  /** Other long spellings accepted (e.g. the reference's "config-file"). */
  aliases?: string[];
  /** What a string flag's value must be (checked at parse time, the error names the flag and value). */
  kind?: ValueKind;
  /** The only values a string flag accepts. */
  choices?: readonly string[];
}

/** Value checks for string flags. */
export type ValueKind = "positive-integer" | "non-negative-integer" | "number" | "positive-number";

const KIND_CHECKS: Record<ValueKind, { expected: string; ok: (s: string) => boolean }> = {
  "positive-integer": { expected: "a positive integer", ok: (s) => /^\+?\d+$/.test(s) && Number(s) >= 1 },
  "non-negative-integer": { expected: "a non-negative integer", ok: (s) => /^\+?\d+$/.test(s) },
  number: { expected: "a number", ok: (s) => s.trim() !== "" && Number.isFinite(Number(s)) },
  "positive-number": {
    expected: "a positive number",
    ok: (s) => s.trim() !== "" && Number.isFinite(Number(s)) && Number(s) > 0,
  },
};

/** Flags by long name. */
export type FlagSpecs = Record<string, FlagSpec>;

/** The flags every training command takes, named as in the reference scripts. */
export const COMMON_FLAGS = {
  config: {
    type: "string",
    short: "c",
    description: "training config file (JSON or YAML; either reference edition or ours)",
    default: "./config/config_train_32g.json",
    valueName: "file",
    aliases: ["config-file", "config_file"],
  },
  environment: {
    type: "string",
    short: "e",
    description: "environment file (data_base_dir, model_dir, tfevent_path, resume_ckpt)",
    default: "./config/environment.json",
    valueName: "file",
    aliases: ["environment-file", "environment_file"],
  },
  gpus: {
    type: "string",
    short: "g",
    description: "number of GPUs (one process each; >1 enables data-parallel training)",
    default: "1",
    valueName: "n",
    kind: "positive-integer",
  },
  download_data: {
    type: "boolean",
    description: "download and extract the Decathlon Task01_BrainTumour data first",
    aliases: ["download-data"],
  },
  help: { type: "boolean", short: "h", description: "show this help and exit" },
  backend: {
    type: "string",
    description: "compute backend: auto (WebGPU on a real GPU, else WASM), webgpu or wasm (env LDM_BACKEND)",
    valueName: "name",
  },
} as const satisfies FlagSpecs;

/** Names of the common flags. */
export type CommonFlagName = keyof typeof COMMON_FLAGS;

/** A command: its name, what it does, which common flags it takes, and its own flags. */
export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  /** Command name for the usage line (e.g. "train_autoencoder"). */
  name: string;
  /** One or two sentences for the help text. */
  description: string;
  /** Which common flags apply (default all). `help` is always accepted. */
  common?: readonly CommonFlagName[];
  /** The command's own flags. */
  flags?: F;
  /** Accept positional arguments (default false). */
  positionals?: boolean;
  /** Extra text after the flag list (examples). */
  epilog?: string;
}

/** Parsed value type of a flag spec. */
export type FlagValue<S extends FlagSpec> = S["type"] extends "boolean" ? boolean
  : S extends { default: string } ? string
  : string | undefined;

/** What {@link parseCliArgs} returns: every flag's value, plus typed common ones. */
export interface ParsedArgs<F extends FlagSpecs = FlagSpecs> {
  /** The command's own flags by long name. */
  flags: { [K in keyof F]: FlagValue<F[K]> };
  /** Config file path. */
  config: string;
  /** Environment file path. */
  environment: string;
  /** Number of GPUs (validated positive integer). */
  gpus: number;
  /** Compute backend (validated), when given. */
  backend?: BackendChoice;
  /** Whether to download the data first. */
  downloadData: boolean;
  /** Whether help was asked for (the caller prints {@link helpText} and exits). */
  help: boolean;
  /** Positional arguments (only when the command allows them). */
  positionals: string[];
}

/** A command line that cannot be used; the message says what and lists the valid flags. */
export class ArgsError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ArgsError";
  }
}

function allFlags(command: CommandSpec): FlagSpecs {
  const out: FlagSpecs = {};
  const common = new Set<string>([...(command.common ?? Object.keys(COMMON_FLAGS)), "help"]);
  for (const [name, spec] of Object.entries(COMMON_FLAGS)) if (common.has(name)) out[name] = spec;
  for (const [name, spec] of Object.entries(command.flags ?? {})) {
    if (Object.hasOwn(out, name)) throw new Error(`args: command ${command.name} redefines flag --${name}`);
    out[name] = spec;
  }
  return out;
}

function flagLabel(name: string, spec: FlagSpec): string {
  return `${spec.short ? `-${spec.short}/` : ""}--${name}`;
}

function validList(flags: FlagSpecs): string {
  return Object.entries(flags).map(([n, s]) => flagLabel(n, s)).join(", ");
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The flag a mistyped long name most likely meant: a near miss (edit distance) or a unique prefix. */
export function suggestFlag(raw: string, names: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, "-");
  const r = norm(raw);
  let best: string | undefined, bestD = Infinity;
  for (const n of names) {
    const d = editDistance(r, norm(n));
    if (d < bestD) [best, bestD] = [n, d];
  }
  if (best !== undefined && bestD <= (r.length >= 5 ? 2 : 1)) return best;
  const prefixed = names.filter((n) => r.length >= 3 && norm(n).startsWith(r));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Greedy word wrap to `width` columns (a longer word stands on its own line). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/ +/)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(line);
  }
  return lines;
}

/**
 * The help text for a command: usage, description, flags with their defaults (each stated once), epilog;
 * wrapped to `columns` (default: the terminal's width, else 100).
 */
export function helpText(command: CommandSpec, columns: number = terminalColumns()): string {
  const cols = Math.max(40, columns);
  const flags = allFlags(command);
  const rows = Object.entries(flags).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.type === "string" ? ` <${spec.valueName ?? "value"}>` : ""
    }`;
    const extra = [
      spec.choices ? `one of: ${spec.choices.join(", ")}` : "",
      spec.default !== undefined ? `default: ${spec.default}` : "",
      spec.aliases?.length ? `also: ${spec.aliases.map((a) => `--${a}`).join(", ")}` : "",
    ].filter(Boolean).join("; ");
    return [left, `${spec.description}${extra ? ` (${extra})` : ""}`];
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  // Descriptions beside the flags when there is room, else on their own lines below each flag.
  const beside = cols - 2 - width >= 30;
  const flagLines = rows.flatMap(([l, r]) => {
    if (beside) {
      const wrapped = wrapText(r, cols - 2 - width);
      return wrapped.map((w, i) => `  ${(i === 0 ? l : "").padEnd(width)}${w}`.trimEnd());
    }
    return [`  ${l}`, ...wrapText(r, cols - 8).map((w) => `        ${w}`)];
  });
  const lines = [
    `Usage: ${command.name} [flags]${command.positionals ? " [args...]" : ""}`,
    "",
    ...wrapText(command.description, cols),
    "",
    "Flags:",
    ...flagLines,
  ];
  if (command.epilog) lines.push("", ...wrapText(command.epilog, cols));
  return lines.join("\n") + "\n";
}

/**
 * Parses `argv` (e.g. `Deno.args`) for `command`. Unknown flags, missing values, values given to
 * switches, stray positionals and a bad `--gpus` raise {@link ArgsError} naming the flag and listing
 * the valid ones.
 */
export function parseCliArgs<F extends FlagSpecs = Record<never, FlagSpec>>(
  argv: readonly string[],
  command: CommandSpec<F>,
): ParsedArgs<F> {
  const flags = allFlags(command as CommandSpec);
  const longByAlias = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(flags)) {
    longByAlias.set(name, name);
    for (const a of spec.aliases ?? []) longByAlias.set(a, name);
    if (spec.short) byShort.set(spec.short, name);
  }
  const valid = validList(flags);
  const unknown = (token: string, meant?: string) => {
    const hint = meant ??
      (token.startsWith("--") ? suggestFlag(token.slice(2), [...longByAlias.keys()]) : undefined);
    return new ArgsError(
      `${command.name}: unknown flag "${token}"${
        hint ? ` (did you mean --${hint}?)` : ""
      }; valid flags: ${valid} (see --help)`,
    );
  };

  const missing = (name: string) =>
    new ArgsError(
      `${command.name}: ${flagLabel(name, flags[name])} needs a value <${flags[name].valueName ?? "value"}>`,
    );

  // Pre-scan: map aliases to canonical names, reject unknown flags with our own message, and attach
  // values as `--name=value` (so a value starting with "-" is taken, as argparse does).
  const isFlag = (t: string | undefined): boolean =>
    t !== undefined &&
    (t.startsWith("--")
      ? longByAlias.has(t.slice(2).split("=")[0])
      : /^-[A-Za-z]/.test(t) && byShort.has(t[1]));
  const takeValue = (i: number): string | undefined =>
    i + 1 < argv.length && !isFlag(argv[i + 1]) ? argv[i + 1] : undefined;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") {
      args.push(...argv.slice(i));
      break;
    }
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      const raw = token.slice(2, eq < 0 ? undefined : eq);
      const name = longByAlias.get(raw);
      if (name === undefined) throw unknown(`--${raw}`);
      if (flags[name].type === "boolean") {
        if (eq >= 0) {
          throw new ArgsError(`${command.name}: --${raw} is a switch and takes no value (got "${token}")`);
        }
        args.push(`--${name}`);
        continue;
      }
      const value = eq >= 0 ? token.slice(eq + 1) : takeValue(i);
      if (value === undefined) throw missing(name);
      if (eq < 0) i++;
      args.push(`--${name}=${value}`);
    } else if (token.startsWith("-") && token.length > 1 && !/^-\d/.test(token)) {
      // "-epochs": a long flag written with one dash.
      if (token.length > 2 && longByAlias.has(token.slice(1).split("=")[0])) {
        throw unknown(token, token.slice(1).split("=")[0]);
      }
      for (let k = 1; k < token.length; k++) {
        const name = byShort.get(token[k]);
        if (name === undefined) throw unknown(`-${token[k]}`);
        if (flags[name].type === "boolean") {
          args.push(`--${name}`);
          continue;
        }
        let value: string | undefined = token.slice(k + 1);
        if (value === "") {
          value = takeValue(i);
          if (value !== undefined) i++;
        }
        if (value === undefined) throw missing(name);
        args.push(`--${name}=${value}`);
        break; // the rest of the token was the value
      }
    } else {
      args.push(token);
    }
  }

  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    const msg = (e as Error).message.replace(/\s+To specify.*$/s, "");
    throw new ArgsError(`${command.name}: ${msg}; valid flags: ${valid}`);
  }
  if (!command.positionals && parsed.positionals.length) {
    throw new ArgsError(
      `${command.name}: unexpected argument "${
        parsed.positionals[0]
      }" (flags take the form --name value); valid flags: ${valid}`,
    );
  }

  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const v = parsed.values[name];
    values[name] = spec.type === "boolean" ? v === true : (v as string | undefined) ?? spec.default;
  }

  for (const [name, spec] of Object.entries(flags)) {
    const v = values[name];
    if (typeof v !== "string") continue;
    if (spec.choices && !spec.choices.includes(v)) {
      throw new ArgsError(
        `${command.name}: ${flagLabel(name, spec)}: expected one of ${spec.choices.join(", ")}, got "${v}"`,
      );
    }
    if (spec.kind && !KIND_CHECKS[spec.kind].ok(v)) {
      throw new ArgsError(
        `${command.name}: ${flagLabel(name, spec)}: expected ${KIND_CHECKS[spec.kind].expected}, got "${v}"`,
      );
    }
  }
  const gpus = flags.gpus ? Number(values.gpus) : 1;
  const own: Record<string, unknown> = {};
  for (const name of Object.keys(command.flags ?? {})) own[name] = values[name];
  return {
    flags: own as ParsedArgs<F>["flags"],
    config: (values.config as string | undefined) ?? COMMON_FLAGS.config.default,
    environment: (values.environment as string | undefined) ?? COMMON_FLAGS.environment.default,
    gpus,
    backend: values.backend === undefined ? undefined : parseBackendOr(command.name, String(values.backend)),
    downloadData: values.download_data === true,
    help: values.help === true,
    positionals: parsed.positionals,
  };
}
