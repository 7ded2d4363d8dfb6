/**
 * Validates plain data (a config file's section) against declared arguments, collecting every problem
 * with its full key path (`source: autoencoder_def.num_res_blocks: expected …, got …`) instead of
 * stopping at the first, and warning about unknown keys with the nearest declared name.
 *
 * @module
 */
import { type Checker, describe } from "./checkers.ts";
import {
  type ArgTable,
  checkerOf,
  type ConfigOf,
  type Declaration,
  defaultOf,
  expandLevels,
  fileNames,
} from "./declare.ts";

/** Problems (fatal) and warnings of one file, each line prefixed with the file. */
export class Problems {
  /** Fatal problems, each a complete line. */
  readonly problems: string[] = [];
  /** Remarks (unknown keys), each a complete line. */
  readonly warnings: string[] = [];
  /** `source` names the file in every line. */
  constructor(readonly source: string) {}
  /** Records a fatal problem. */
  problem(msg: string): void {
    this.problems.push(`${this.source}: ${msg}`);
  }
  /** Records a warning. */
  warn(msg: string): void {
    this.warnings.push(`${this.source}: ${msg}`);
  }
}

/** Whether `v` is a plain object (not null, not a list). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads keys of one object by their accepted names, recording problems and which keys were used. */
export class Section {
  /** Keys read so far. */
  readonly used = new Set<string>();
  readonly #asked: { names: string[]; found: boolean }[] = [];
  /** `path` is the object's key path ("" at the top). */
  constructor(readonly obj: Record<string, unknown>, readonly path: string, readonly ctx: Problems) {}

  /** The key path of `key` in this object. */
  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** Finds which of `names` is present (at most one may be). */
  find(names: string[]): string | undefined {
    const present = names.filter((n) => Object.hasOwn(this.obj, n));
    this.#asked.push({ names, found: present.length > 0 });
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

  /** The value of `key` if it passes `c`; otherwise a problem and `undefined`. */
  value<T>(key: string, c: Checker<T>): T {
    const v = this.obj[key];
    if (!c.check(v)) {
      this.ctx.problem(`${this.at(key)}: expected ${c.expected}, got ${describe(v)}`);
      return undefined as T;
    }
    return v;
  }

  /** Opens a sub-object; missing (when required) or not an object → problem and `undefined`. */
  child(names: string[], required: boolean): Section | undefined {
    const key = this.find(names);
    const path = this.at(key ?? names[0]);
    if (key === undefined) {
      if (required) this.ctx.problem(`${path}: missing (expected object)`);
      return undefined;
    }
    const v = this.obj[key];
    if (!isRecord(v)) {
      this.ctx.problem(`${path}: expected object, got ${describe(v)}`);
      return undefined;
    }
    return new Section(v, path, this.ctx);
  }

  /** Warns about keys nobody read (typos, unsupported arguments), naming a close unread name if any. */
  leftovers(): void {
    const unread = this.#asked.filter((a) => !a.found).flatMap((a) => a.names);
    for (const k of Object.keys(this.obj)) {
      if (this.used.has(k) || k.startsWith("_")) continue;
      const near = nearest(k, unread);
      this.ctx.warn(`${this.at(k)}: unknown key, ignored${near ? ` (did you mean "${near}"?)` : ""}`);
    }
  }
}

/** Options of {@link readArgs}. */
export interface ReadArgsOptions {
  /** Defaults that replace the declaration's (e.g. the reference script's own call). */
  defaults?: Record<string, unknown>;
  /** Told when the file uses a GenerativeModels-only name. */
  onGenerativeName?: () => void;
}

/**
 * Reads a declaration's arguments (all but "never" ones) from a section: missing required ones and
 * mistyped ones are problems; then per-level arguments are expanded (a wrong length is a problem) and,
 * when everything so far is valid, the declaration's rules run. Returns the values read.
 */
export function readArgs<A extends ArgTable>(
  s: Section,
  decl: Declaration<A>,
  options: ReadArgsOptions = {},
): ConfigOf<A> {
  const before = s.ctx.problems.length;
  const out: Record<string, unknown> = {};
  for (const [key, a] of Object.entries(decl.args)) {
    const use = a.config ?? "optional";
    if (use === "never") continue;
    const names = fileNames(key, a);
    const found = s.find(names);
    if (found !== undefined && found === a.gm) options.onGenerativeName?.();
    const type = checkerOf(a);
    if (found !== undefined) out[key] = s.value(found, type);
    else if (use === "required") {
      s.ctx.problem(`${s.at(names[0])}: missing (expected ${type.expected})`);
    } else if (use === "optional") {
      const fallback = options.defaults && Object.hasOwn(options.defaults, key)
        ? options.defaults[key]
        : defaultOf(a);
      if (fallback !== undefined) out[key] = fallback;
    }
  }
  expandLevels(decl.args, out, (key, v, levels) => {
    const list = Array.isArray(v) ? v : new Array(levels).fill(v);
    if (list.length !== levels) {
      const unit = decl.args[key].levels === "expand" ? " levels" : "";
      s.ctx.problem(
        `${
          s.at(fileNames(key, decl.args[key])[0])
        }: has ${list.length} entries, but channels has ${levels}${unit}`,
      );
    }
    return list;
  });
  if (s.ctx.problems.length === before) {
    for (const p of (decl.rules ?? []).flatMap((rule) => rule(out as never))) {
      s.ctx.problem(`${s.at(fileNames(p.arg, decl.args[p.arg])[0])}: ${p.message}`);
    }
  }
  return out as ConfigOf<A>;
}

/** The name in `names` closest to `key` (ignoring case and underscores), if within 2 edits. */
function nearest(key: string, names: string[]): string | undefined {
  const norm = (n: string) => n.toLowerCase().replaceAll("_", "");
  let best: string | undefined, bestDistance = 3;
  for (const n of names) {
    const d = editDistance(norm(key), norm(n));
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
