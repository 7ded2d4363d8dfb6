// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/** Finds and reads the reference fixtures (see ../shared/fixtures/README.md). */
import { join } from "node:path";

/** Root folder of the fixtures: `$LDM_FIXTURES_DIR`, default `../shared/fixtures` (relative to the repo root). */
export function fixturesRoot(): string {
  const fromEnv = Deno.env.get("LDM_FIXTURES_DIR");
  if (fromEnv) return fromEnv;
  return new URL("../../shared/fixtures", import.meta.url).pathname;
}

/** One fixture case: its parsed meta.json and readers for its tensors. */
export interface FixtureCase {
  name: string;
  dir: string;
  meta: any;
  /** Reads tensor `name` (a key of meta.tensors) as Float32Array or Int32Array with its shape. */
  tensor(name: string): { data: Float32Array | Int32Array; shape: number[] };
  /** A scalar from meta.scalars (plain value or {value}). */
  scalar(name: string): number;
  file(rel: string): string;
}

/** Loads case `name` under `root`, or returns null when it is absent (tests then skip it, naming it). */
export function loadCase(name: string, root = fixturesRoot()): FixtureCase | null {
  const dir = join(root, name);
  let text: string;
  try {
    text = Deno.readTextFileSync(join(dir, "meta.json"));
  } catch {
    return null;
  }
  const meta = JSON.parse(text);
  return {
    name,
    dir,
    meta,
    tensor(t: string) {
      const info = meta.tensors?.[t];
      if (!info) throw new Error(`fixture ${name}: no tensor '${t}' in meta.json`);
      const bytes = Deno.readFileSync(join(dir, info.file));
      const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const data = info.dtype === "int32" ? new Int32Array(buf) : new Float32Array(buf);
      return { data, shape: info.shape };
    },
    scalar(s: string) {
      const v = meta.scalars?.[s];
      if (v === undefined) throw new Error(`fixture ${name}: no scalar '${s}'`);
      return typeof v === "object" ? v.value : v;
    },
    file(rel: string) {
      return join(dir, rel);
    },
  };
}

/** Relative error as the fixtures define it: max |a - b| / max |b|. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}
