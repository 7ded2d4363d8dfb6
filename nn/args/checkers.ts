/**
 * Runtime types for arguments read from config files or constructor options: each says what it accepts
 * and how a message names it ("positive integer[3]", `"l1" | "l2"`). Declarations name element types by
 * these names ({@link ArgTypes}).
 *
 * @module
 */

/** A runtime type: `check` accepts a value, `expected` names the type in messages. */
export interface Checker<T> {
  /** How messages name the type, e.g. "positive integer". */
  readonly expected: string;
  /** Whether `v` is of the type. */
  check(v: unknown): v is T;
}

/** Integers ≥ 1. */
export const positiveInteger: Checker<number> = {
  expected: "positive integer",
  check: (v): v is number => typeof v === "number" && Number.isInteger(v) && v > 0,
};
/** Integers ≥ 0. */
export const nonNegativeInteger: Checker<number> = {
  expected: "non-negative integer",
  check: (v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0,
};
/** Any finite number. */
export const finiteNumber: Checker<number> = {
  expected: "number",
  check: (v): v is number => typeof v === "number" && Number.isFinite(v),
};
/** Finite numbers > 0. */
export const positiveNumber: Checker<number> = {
  expected: "positive number",
  check: (v): v is number => typeof v === "number" && Number.isFinite(v) && v > 0,
};
/** Numbers in [0, 1) (decay rates). */
export const unitInterval: Checker<number> = {
  expected: "number in [0, 1)",
  check: (v): v is number => typeof v === "number" && v >= 0 && v < 1,
};
/** true or false. */
export const boolean: Checker<boolean> = {
  expected: "boolean",
  check: (v): v is boolean => typeof v === "boolean",
};
/** Any string. */
export const string: Checker<string> = {
  expected: "string",
  check: (v): v is string => typeof v === "string",
};
/** An integer or null (the reference's `Optional[int]`). */
export const nullableInteger: Checker<number | null> = {
  expected: "integer | null",
  check: (v): v is number | null => v === null || (typeof v === "number" && Number.isInteger(v)),
};

/** The element types a declaration may name (`type: "positive integer"`), and what each is in TypeScript. */
export interface ArgTypes {
  "positive integer": number;
  "non-negative integer": number;
  "number": number;
  "positive number": number;
  "number in [0, 1)": number;
  "boolean": boolean;
  "string": string;
  "integer | null": number | null;
}

/** The checker of each type name (its `expected` is the name). */
export const NAMED_CHECKERS: { readonly [K in keyof ArgTypes]: Checker<ArgTypes[K]> } = {
  "positive integer": positiveInteger,
  "non-negative integer": nonNegativeInteger,
  "number": finiteNumber,
  "positive number": positiveNumber,
  "number in [0, 1)": unitInterval,
  "boolean": boolean,
  "string": string,
  "integer | null": nullableInteger,
};

/** One of the given strings. */
export function oneOf<T extends string>(...values: T[]): Checker<T> {
  return {
    expected: values.map((v) => JSON.stringify(v)).join(" | "),
    check: (v): v is T => typeof v === "string" && (values as string[]).includes(v),
  };
}

/** A list of `item`s, of exactly `length` entries when given. */
export function listOf<T>(item: Checker<T>, length?: number): Checker<T[]> {
  const name = item.expected.includes(" | ") ? `(${item.expected})` : item.expected;
  return {
    expected: `${name}[${length ?? ""}]`,
    check: (v): v is T[] =>
      Array.isArray(v) && (length === undefined || v.length === length) && v.every((x) => item.check(x)),
  };
}

/** A list of `item`s with at least one entry (a per-level list such as `channels`). */
export function levelList<T>(item: Checker<T>): Checker<T[]> {
  const list = listOf(item);
  return {
    expected: `${list.expected} with at least one level`,
    check: (v): v is T[] => list.check(v) && (v as T[]).length > 0,
  };
}

/** One `item` or a list of them (a per-level argument that a single value fills). */
export function oneOrList<T>(item: Checker<T>): Checker<T | T[]> {
  const list = listOf(item);
  return {
    expected: `${item.expected} | ${list.expected}`,
    check: (v): v is T | T[] => item.check(v) || list.check(v),
  };
}

/** A value as messages quote it: JSON, cut to 60 characters; `undefined` reads "nothing". */
export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  let s: string;
  try {
    s = JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
