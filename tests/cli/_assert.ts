/** Deno-std-style assertion names over node:assert/strict (the only assertion module we can reach). */
import nodeAssert from "node:assert/strict";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, message?: string): asserts cond {
  nodeAssert.ok(cond, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** `text` matches `re`. */
export function assertMatch(text: string, re: RegExp, message?: string): void {
  nodeAssert.match(text, re, message);
}

/** `f` throws; if `check` is a RegExp the message must match it, if a function it must return true. Returns the error. */
export function assertThrows(f: () => unknown, check?: RegExp | ((e: unknown) => boolean)): unknown {
  try {
    f();
  } catch (e) {
    if (check instanceof RegExp) nodeAssert.match(String((e as Error)?.message ?? e), check);
    else if (check) nodeAssert.ok(check(e), `thrown error failed the check: ${e}`);
    return e;
  }
  throw new nodeAssert.AssertionError({
    message: `expected a throw${check instanceof RegExp ? ` matching ${check}` : ""}`,
  });
}
