/**
 * One declaration per model (or config section) of its arguments: name, runtime type, default, the
 * reference's other spellings (GenerativeModels vs MONAI core, snake_case vs camelCase) and per-level
 * expansion. The constructor options type, the resolved (defaulted, expanded) arguments and the config
 * validator (`./reader.ts`) are all derived from it.
 *
 * @module
 */
import { type Checker, describe, listOf, oneOrList } from "./checkers.ts";
import { perLevel, snakeToCamel } from "../config.ts";

/**
 * How a training config file treats an argument: "required" (the file must give it; the reference's files
 * always do), "optional" (the default fills it), "ifGiven" (carried only when given, so that absent means
 * "the edition's default", decided later) or "never" (not read from files: an unknown key there).
 */
export type ConfigUse = "required" | "optional" | "ifGiven" | "never";

/** Per-level arguments have one entry per level of `channels`: "expand" also takes one value for all. */
export type Levels = "expand" | "list";

/** What an argument declaration may say besides its type. */
export interface ArgSpec<In, G extends string, C extends ConfigUse> {
  /** The model's default (the reference class's); absent = callers must give it. */
  default?: In;
  /** GenerativeModels' snake_case name where it differs; a file using it is the GenerativeModels edition. */
  gm?: G;
  /** Other accepted snake_case names (each also in camelCase). */
  aliases?: readonly string[];
  /** How config files treat it (default "optional"). */
  config?: C;
}

/** One declared argument: `In` is what callers give, `Out` what the model gets (per-level lists expanded). */
export interface Arg<In, Out, G extends string, C extends ConfigUse, D extends boolean> {
  /** The runtime type of what callers give. */
  readonly type: Checker<In>;
  /** The model's default. */
  readonly default?: In;
  /** Whether it has a default. */
  readonly hasDefault: D;
  /** GenerativeModels' name where it differs. */
  readonly gm?: G;
  /** Other accepted snake_case names. */
  readonly aliases: readonly string[];
  /** How config files treat it. */
  readonly config: C;
  /** Per-level expansion, if per level. */
  readonly levels?: Levels;
  /** Phantom: the resolved type. */
  readonly _out?: Out;
}

type AnyArg = Arg<unknown, unknown, string, ConfigUse, boolean>;
/** A declaration's arguments by camelCase name, in the reference's order. */
export type ArgTable = Record<string, AnyArg>;

/** Declares a plain argument of type `type`. */
export function arg<T, G extends string = never, C extends ConfigUse = "optional">(
  type: Checker<T>,
  spec: ArgSpec<NoInfer<T>, G, C> & { default: NoInfer<T> },
): Arg<T, T, NoInfer<G>, NoInfer<C>, true>;
export function arg<T, G extends string = never, C extends ConfigUse = "optional">(
  type: Checker<T>,
  spec?: ArgSpec<NoInfer<T>, G, C>,
): Arg<T, T, NoInfer<G>, NoInfer<C>, false>;
export function arg<T>(type: Checker<T>, spec: ArgSpec<T, string, ConfigUse> = {}): AnyArg {
  return {
    type,
    default: spec.default,
    hasDefault: Object.hasOwn(spec, "default"),
    gm: spec.gm,
    aliases: spec.aliases ?? [],
    config: spec.config ?? "optional",
  };
}

/** Declares a per-level argument given as one `item` (repeated per level) or one per level. */
export function perLevelArg<E, G extends string = never, C extends ConfigUse = "optional">(
  item: Checker<E>,
  spec: ArgSpec<NoInfer<E | E[]>, G, C> & { default: NoInfer<E | E[]> },
): Arg<E | E[], E[], NoInfer<G>, NoInfer<C>, true> {
  return { ...arg(oneOrList(item), spec), levels: "expand" } as Arg<E | E[], E[], G, C, true>;
}

/** Declares a per-level argument given as a list with one `item` per level. */
export function levelListArg<E, G extends string = never, C extends ConfigUse = "optional">(
  item: Checker<E>,
  spec: ArgSpec<NoInfer<E[]>, G, C> & { default: NoInfer<E[]> },
): Arg<E[], E[], NoInfer<G>, NoInfer<C>, true> {
  return { ...arg(listOf(item), spec), levels: "list" };
}

/** A problem a cross-argument rule finds: which argument, and what is wrong (without the key path). */
export interface RuleProblem {
  /** The camelCase name of the argument to blame. */
  arg: string;
  /** What is wrong, e.g. "24 does not divide channels 64, 128". */
  message: string;
}

/** A check across resolved arguments (e.g. groups divide channels). */
export type ArgRule<R> = (args: R) => RuleProblem[];

/** A model's (or a config section's) declared arguments. */
export interface Declaration<A extends ArgTable> {
  /** Who takes them, for messages ("AutoencoderKL"). */
  readonly owner: string;
  /** The arguments. */
  readonly args: A;
  /** Checks across arguments, run on the resolved values (typed `never`: any rule fits here). */
  readonly rules: readonly ArgRule<never>[];
}

/** Declares `owner`'s arguments once; `rules` check across them. */
export function declareArgs<A extends ArgTable>(
  owner: string,
  args: A,
  rules: readonly ArgRule<ArgsOf<A>>[] = [],
): Declaration<A> {
  return { owner, args, rules };
}

// ---------------------------------------------------------------------------------------------------------
// Types derived from a declaration

type InOf<X> = X extends Arg<infer I, infer _O, infer _G, infer _C, infer _D> ? I : never;
type OutOf<X> = X extends Arg<infer _I, infer O, infer _G, infer _C, infer _D> ? O : never;
type UseOf<X> = X extends Arg<infer _I, infer _O, infer _G, infer C, infer _D> ? C : never;
/** Required in the options type: no default and no other name to give it by. */
type Needed<X> = X extends Arg<infer _I, infer _O, infer G, infer _C, infer D>
  ? [G] extends [never] ? D extends true ? false : true : false
  : false;
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type GmOption<X> = X extends Arg<infer _I, infer _O, infer G, infer _C, infer _D> ? Camel<G> : never;
type Flat<T> = { [K in keyof T]: T[K] } & unknown;

/** Constructor options: camelCase, GenerativeModels' names accepted, optional where a default exists. */
export type OptionsOf<A extends ArgTable> = Flat<
  & { [K in keyof A as Needed<A[K]> extends true ? K : never]: InOf<A[K]> }
  & { [K in keyof A as Needed<A[K]> extends true ? never : K]?: InOf<A[K]> }
  & { [K in keyof A as GmOption<A[K]>]?: InOf<A[K]> }
>;

/** Resolved arguments: every one present, defaults applied, per-level lists expanded. */
export type ArgsOf<A extends ArgTable> = { [K in keyof A]: OutOf<A[K]> };

/** What a config section becomes: required and optional arguments, and the "ifGiven" ones when given. */
export type ConfigOf<A extends ArgTable> = Flat<
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
export function fileNames(key: string, a: AnyArg): string[] {
  const names = [a.gm, a.gm && snakeToCamel(a.gm), camelToSnake(key), key];
  for (const alias of a.aliases) names.push(alias, snakeToCamel(alias));
  return [...new Set(names.filter((n): n is string => !!n))];
}

/** Names constructor options may use: the camelCase name, then GM's and the aliases' in camelCase. */
export function optionNames(key: string, a: AnyArg): string[] {
  return [...new Set([key, ...[a.gm, ...a.aliases].filter((n) => !!n).map((n) => snakeToCamel(n!))])];
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
    const v = name === undefined ? a.default : given[name];
    if (v === undefined) {
      if (!a.hasDefault) throw new Error(`${decl.owner}: \`${key}\` is required`);
      continue;
    }
    if (!a.type.check(v)) {
      throw new Error(`${decl.owner}: ${name ?? key}: expected ${a.type.expected}, got ${describe(v)}`);
    }
    out[key] = v;
  }
  expandLevels(decl.args, out, (key, v, levels) => perLevel(`${decl.owner} ${key}`, v, levels));
  const problems = decl.rules.flatMap((rule) => rule(out as never));
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
