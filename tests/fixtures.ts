// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/**
 * Finds and reads the reference fixtures (format and provenance: tests/fixtures/README.md).
 *
 * The vendored set stores most tensor and weight files gzipped (`X.gz` instead of `X`); every reader here asks for
 * `X` and falls back to `X.gz`, so an uncompressed set (e.g. one given by `LDM_FIXTURES_DIR`) reads the same way.
 * A case folder that is absent makes its tests skip; one that is present but broken (unreadable or invalid
 * meta.json, a key missing that the vendored case has, a missing or truncated file) throws an error naming the
 * file, so its tests fail.
 */
import { basename, dirname, join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { missingKeys } from "./fixture_schema.ts";

/** The vendored set: the reference every other set's meta.json keys are checked against. */
const VENDORED_ROOT = new URL("./fixtures", import.meta.url).pathname;

/** Root folder of the fixtures: `$LDM_FIXTURES_DIR`, default `tests/fixtures/` inside the repo. */
export function fixturesRoot(): string {
  const fromEnv = Deno.env.get("LDM_FIXTURES_DIR");
  if (fromEnv) return fromEnv;
  return VENDORED_ROOT;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** True when fixture file `path` exists as itself or as `path.gz`. */
export function fixtureExists(path: string): boolean {
  return isFile(path) || isFile(`${path}.gz`);
}

/** The bytes of fixture file `path` (or of `path.gz`, gunzipped); throws naming the file when absent or corrupt. */
export function readFixture(path: string): Uint8Array {
  if (isFile(path)) return Deno.readFileSync(path);
  const gz = `${path}.gz`;
  if (!isFile(gz)) throw new Error(`fixture file ${path} is missing (neither it nor ${basename(gz)} exists)`);
  try {
    return new Uint8Array(gunzipSync(Deno.readFileSync(gz)));
  } catch (e) {
    throw new Error(`fixture file ${gz} is corrupt: ${(e as Error).message}`);
  }
}

let unpackDir: string | null = null;
const unpacked = new Map<string, string>();

/**
 * A path on disk holding fixture file `path`, for code that takes a file name (weight and NIfTI loaders): `path`
 * itself when present, else a gunzipped copy of `path.gz` in a temporary folder (removed when the process
 * unloads), named `<case>/<file>` so that error messages still say which fixture it is.
 */
export function fixturePath(path: string): string {
  if (isFile(path)) return path;
  const known = unpacked.get(path);
  if (known) return known;
  const bytes = readFixture(path);
  if (unpackDir === null) {
    const dir = Deno.makeTempDirSync({ prefix: "ldm3d-fixtures-" });
    unpackDir = dir;
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  }
  const out = join(unpackDir, `${unpacked.size}`, basename(dirname(path)), basename(path));
  Deno.mkdirSync(dirname(out), { recursive: true });
  Deno.writeFileSync(out, bytes);
  unpacked.set(path, out);
  return out;
}

/** The kinds of file the vendored set stores gzipped (tests/fixtures/README.md); `.nii.gz` is a real name. */
const GZIPPED = /\.(bin|safetensors|pt)\.gz$/;

/** The fixture files in folder `dir` by their logical names (`X.bin.gz` listed as `X.bin`), sorted. */
export function listFixtureFiles(dir: string): string[] {
  const names = new Set<string>();
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) names.add(GZIPPED.test(e.name) ? e.name.slice(0, -3) : e.name);
  }
  return [...names].sort();
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
  /** A path on disk holding file `rel` of the case (gunzipped when stored as `rel.gz`). */
  file(rel: string): string;
}

/** Keys every case's meta.json has, in every fixture set (tests/fixtures/README.md, "Format"). */
const REQUIRED_KEYS: Record<string, "object" | "string"> = {
  case: "string",
  description: "string",
  tensors: "object",
  scalars: "object",
  config: "object",
  files: "object",
  notes: "object", // a list of strings
  generator: "object",
};

const DTYPES = new Set(["float32", "int32"]);

/** Checks meta.json's structure and that every file it lists is present; throws naming the file and the key. */
function validateMeta(meta: any, metaPath: string, dir: string): void {
  const fail = (what: string): never => {
    throw new Error(`fixture ${metaPath}: ${what}`);
  };
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) fail("is not a JSON object");
  for (const [key, type] of Object.entries(REQUIRED_KEYS)) {
    if (!(key in meta)) fail(`missing key '${key}'`);
    const v = meta[key];
    const ok = type === "object" ? v !== null && typeof v === "object" : typeof v === "string";
    if (!ok) {
      fail(`key '${key}' should be a ${type}, got ${JSON.stringify(v)?.slice(0, 60)}`);
    }
  }
  for (const [name, info] of Object.entries<any>(meta.tensors)) {
    const where = `tensors['${name}']`;
    if (info === null || typeof info !== "object") fail(`${where} is not an object`);
    if (typeof info.file !== "string" || info.file === "") fail(`${where} has no 'file'`);
    if (
      !Array.isArray(info.shape) ||
      !info.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)
    ) {
      fail(`${where} has no valid 'shape' (got ${JSON.stringify(info.shape)})`);
    }
    if (!DTYPES.has(info.dtype)) {
      fail(`${where} has dtype ${JSON.stringify(info.dtype)}, not float32 or int32`);
    }
    const path = join(dir, info.file);
    if (!fixtureExists(path)) fail(`${where}: its file ${path} is missing`);
    if (isFile(path)) checkTensorSize(Deno.statSync(path).size, info.shape, path);
  }
  for (const rel of Object.keys(meta.files)) {
    const path = join(dir, rel);
    if (!fixtureExists(path)) fail(`files['${rel}']: ${path} is missing`);
  }
  for (const [role, rel] of Object.entries<any>(meta.weights_from ?? {})) {
    if (typeof rel !== "string") fail(`weights_from['${role}'] is not a path`);
    if (!fixtureExists(join(dir, rel))) fail(`weights_from['${role}']: ${join(dir, rel)} is missing`);
  }
}

/** A set other than the vendored one must have every key the vendored case has (fixture_schema.ts). */
function checkKeysAgainstVendored(name: string, meta: unknown, metaPath: string, dir: string): void {
  const vendoredDir = join(VENDORED_ROOT, name);
  if (resolve(dir) === resolve(vendoredDir)) return;
  let ref: unknown;
  try {
    ref = JSON.parse(Deno.readTextFileSync(join(vendoredDir, "meta.json")));
  } catch {
    return; // a case the vendored set does not have: nothing to compare with
  }
  const missing = missingKeys(meta, ref);
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).map((k) => `'${k}'`).join(", ");
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : "";
    throw new Error(`fixture ${metaPath}: missing key ${shown}${more}`);
  }
}

function checkTensorSize(byteLength: number, shape: number[], path: string): void {
  const expected = 4 * shape.reduce((a, b) => a * b, 1);
  if (byteLength !== expected) {
    throw new Error(
      `fixture file ${path} has ${byteLength} bytes; shape [${shape}] needs ${expected} (truncated or wrong file)`,
    );
  }
}

/**
 * Loads case `name` under `root`. Returns null only when the case folder is absent (tests then skip it, naming
 * it); a present folder with a broken meta.json or a missing or truncated file throws an error naming the file.
 */
export function loadCase(name: string, root = fixturesRoot()): FixtureCase | null {
  const dir = join(root, name);
  if (!isDirectory(dir)) return null;
  const metaPath = join(dir, "meta.json");
  let text: string;
  try {
    text = Deno.readTextFileSync(metaPath);
  } catch (e) {
    throw new Error(`fixture ${metaPath}: cannot be read (${(e as Error).message})`);
  }
  let meta: any;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new Error(`fixture ${metaPath}: invalid JSON (${(e as Error).message})`);
  }
  validateMeta(meta, metaPath, dir);
  checkKeysAgainstVendored(name, meta, metaPath, dir);
  return {
    name,
    dir,
    meta,
    tensor(t: string) {
      const info = meta.tensors[t];
      if (!info) throw new Error(`fixture ${metaPath}: no tensor '${t}' in 'tensors'`);
      const path = join(dir, info.file);
      const bytes = readFixture(path);
      checkTensorSize(bytes.byteLength, info.shape, isFile(path) ? path : `${path}.gz`);
      const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const data = info.dtype === "int32" ? new Int32Array(buf) : new Float32Array(buf);
      return { data, shape: info.shape };
    },
    scalar(s: string) {
      const v = meta.scalars[s];
      if (v === undefined) throw new Error(`fixture ${metaPath}: no scalar '${s}' in 'scalars'`);
      const value = v !== null && typeof v === "object" ? v.value : v;
      if (typeof value !== "number") {
        throw new Error(`fixture ${metaPath}: scalar '${s}' is not a number (${JSON.stringify(v)})`);
      }
      return value;
    },
    file(rel: string) {
      return fixturePath(join(dir, rel));
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
