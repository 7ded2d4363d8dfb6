/**
 * One declaration per model (or config section) of its arguments: name, runtime type, default, the
 * reference's other spellings (GenerativeModels vs MONAI core, snake_case vs camelCase) and per-level
 * expansion. The constructor options type, the resolved (defaulted, expanded) arguments and the config
 * validator (`./reader.ts`) are all derived from it.
 *
 * @module
 */
import {
  type ArgTypes,
  type Checker,
  describe,
  levelList,
  listOf,
  NAMED_CHECKERS,
  oneOf,
  oneOrList,
} from "./checkers.ts";
import { perLevel, snakeToCamel } from "../config.ts";

/**
 * How a training config file treats an argument: "required" (the file must give it; the reference's files
 * always do), "optional" (the default fills it; the default when unsaid), "ifGiven" (carried only when given,
 * so that absent means "the edition's default", decided later) or "never" (not read from files).
 */
export type ConfigUse = "required" | "optional" | "ifGiven" | "never";

/**
 * One argument, written as a plain literal (`{ type: "positive integer", default: 1 }`) so that types
 * derive from it without inference. A value is one element (`type`, or one of `oneOf`), a list of them
 * (`list`), or per level of `channels` (`levels`).
 */
export interface ArgSpec {
  /** The element type's name (see {@link ArgTypes}); "number" when neither this nor `oneOf` is given. */
  readonly type?: keyof ArgTypes;
  /** Instead of `type`: one of these strings. */
  readonly oneOf?: readonly string[];
  /** A list of elements: of exactly this length, or "nonEmpty" (at least one, e.g. `channels`). */
  readonly list?: number | "nonEmpty";
  /** One element per level of `channels`: "expand" also takes a single one for every level. */
  readonly levels?: "expand" | "list";
  /** The model's default (the reference class's); absent = callers must give it. */
  readonly default?: unknown;
  /** GenerativeModels' snake_case name where it differs; a file using it is the GenerativeModels edition. */
  readonly gm?: string;
  /** Other accepted snake_case names (each also in camelCase). */
  readonly aliases?: readonly string[];
  /** How config files treat it (default "optional"). */
  readonly config?: ConfigUse;
}

/** A declaration's arguments by camelCase name, in the reference's order. */
export type ArgTable = { readonly [key: string]: ArgSpec };

/** A problem a cross-argument rule finds: which argument, and what is wrong (without the key path). */
export interface RuleProblem {
  /** The camelCase name of the argument to blame. */
  arg: string;
  /** What is wrong, e.g. "24 does not divide channels 64, 128". */
  message: string;
}

/** A check across resolved arguments (e.g. groups divide channels); typed `never` so that any rule fits. */
export type ArgRule = (args: never) => RuleProblem[];

/** A model's (or a config section's) declared arguments, written `{ … } as const satisfies Declaration`. */
export interface Declaration<A extends ArgTable = ArgTable> {
  /** Who takes them, for messages ("AutoencoderKL"). */
  readonly owner: string;
  /** The arguments. */
  readonly args: A;
  /** Checks across arguments, run on the resolved values. */
  readonly rules?: readonly ArgRule[];
}

/** The runtime checker of what callers give for `spec`. */
export function checkerOf(spec: ArgSpec): Checker<unknown> {
  const item: Checker<unknown> = spec.oneOf ? oneOf(...spec.oneOf) : NAMED_CHECKERS[spec.type ?? "number"];
  if (spec.levels === "expand") return oneOrList(item);
  if (spec.levels === "list") return listOf(item);
  if (spec.list === "nonEmpty") return levelList(item);
  return spec.list === undefined ? item : listOf(item, spec.list);
}

/** A fresh copy of `spec`'s default (lists are copied: declarations are shared). */
export function defaultOf(spec: ArgSpec): unknown {
  return Array.isArray(spec.default) ? [...spec.default] : spec.default;
}

/** Whether `spec` has a default. */
export function hasDefault(spec: ArgSpec): boolean {
  return Object.hasOwn(spec, "default");
}

// ---------------------------------------------------------------------------------------------------------
// Types derived from a declaration

type Elem<S> = S extends { oneOf: readonly (infer O)[] } ? O
  : S extends { type: infer T extends keyof ArgTypes } ? ArgTypes[T]
  : number;
type Listed<S, E> = S extends { list: 3 } ? [E, E, E] : S extends { list: number | "nonEmpty" } ? E[] : E;
type InOf<S> = S extends { levels: "expand" } ? Elem<S> | Elem<S>[]
  : S extends { levels: "list" } ? Elem<S>[]
  : Listed<S, Elem<S>>;
type OutOf<S> = S extends { levels: string } ? Elem<S>[] : Listed<S, Elem<S>>;
type UseOf<S> = S extends { config: infer C } ? C : "optional";
/** Required in the options type: no default and no other name to give it by. */
type Needed<S> = S extends { default: unknown } ? false : S extends { gm: string } ? false : true;
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type GmOption<S> = S extends { gm: infer G extends string } ? Camel<G> : never;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Constructor options: camelCase, GenerativeModels' names accepted, optional where a default exists. */
export type OptionsOf<A extends ArgTable> = Mutable<
  & { [K in keyof A as Needed<A[K]> extends true ? K : never]: InOf<A[K]> }
  & { [K in keyof A as Needed<A[K]> extends true ? never : K]?: InOf<A[K]> }
  & { [K in keyof A as GmOption<A[K]>]?: InOf<A[K]> }
>;

/** Resolved arguments: every one present, defaults applied, per-level lists expanded. */
export type ArgsOf<A extends ArgTable> = { -readonly [K in keyof A]: OutOf<A[K]> };

/** What a config section becomes: required and optional arguments, and the "ifGiven" ones when given. */
export type ConfigOf<A extends ArgTable> = Mutable<
  & { [K in keyof A as UseOf<A[K]> extends "required" | "optional" ? K : never]: OutOf<A[K]> }
  & { [K in keyof A as UseOf<A[K]> extends "ifGiven" ? K : never]?: OutOf<A[K]> }
>;

// ---------------------------------------------------------------------------------------------------------
// Names

/** "numLayersD" → "num_layers_d". */
export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Names a config file may use, the reference's spelling first (messages use it): GM, snake, camel, aliases. */
export function fileNames(key: string, a: ArgSpec): string[] {
  const names = [a.gm, a.gm && snakeToCamel(a.gm), camelToSnake(key), key];
  for (const alias of a.aliases ?? []) names.push(alias, snakeToCamel(alias));
  return [...new Set(names.filter((n): n is string => !!n))];
}

/** Names constructor options may use: the camelCase name, then GM's and the aliases' in camelCase. */
export function optionNames(key: string, a: ArgSpec): string[] {
  return [...new Set([key, ...[a.gm, ...a.aliases ?? []].filter((n) => !!n).map((n) => snakeToCamel(n!))])];
}

// ---------------------------------------------------------------------------------------------------------
// Resolving constructor options

/**
 * Resolves constructor options against a declaration: picks each argument by any of its names, applies
 * the default, checks the type, expands per-level arguments to `channels.length` entries and runs the
 * rules. Throws a message naming the owner and the argument. Keys not declared are ignored.
 */
export function resolveArgs<A extends ArgTable>(decl: Declaration<A>, options: object): ArgsOf<A> {
  const given = options as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, a] of Object.entries(decl.args)) {
    const name = optionNames(key, a).find((n) => given[n] !== undefined);
    const v = name === undefined ? defaultOf(a) : given[name];
    if (v === undefined) {
      if (!hasDefault(a)) throw new Error(`${decl.owner}: \`${key}\` is required`);
      continue;
    }
    const type = checkerOf(a);
    if (!type.check(v)) {
      throw new Error(`${decl.owner}: ${name ?? key}: expected ${type.expected}, got ${describe(v)}`);
    }
    out[key] = v;
  }
  expandLevels(decl.args, out, (key, v, levels) => perLevel(`${decl.owner} ${key}`, v, levels));
  const problems = (decl.rules ?? []).flatMap((rule) => rule(out as never));
  if (problems.length) {
    throw new Error(
      problems.map((p) => `${decl.owner}: ${fileNames(p.arg, decl.args[p.arg])[0]}: ${p.message}`).join("\n"),
    );
  }
  return out as ArgsOf<A>;
}

/**
 * Expands every per-level argument in `values` to one entry per level of `values.channels` with
 * `expand(key, value, levels)`, which also reports a wrong length. Skipped when `channels` is not a list.
 */
export function expandLevels(
  args: ArgTable,
  values: Record<string, unknown>,
  expand: (key: string, value: unknown, levels: number) => unknown,
): void {
  const channels = values.channels;
  if (!Array.isArray(channels)) return;
  for (const [key, a] of Object.entries(args)) {
    if (a.levels && values[key] !== undefined) values[key] = expand(key, values[key], channels.length);
  }
}
