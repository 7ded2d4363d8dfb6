/**
 * The demo's output folder, made safe to reuse: the demo marks folders it writes with a small manifest
 * listing what it creates, and on a later run removes only those entries. A non-empty folder without the
 * manifest is refused (unless `force`, and even then nothing is deleted), and so is the working directory
 * or any folder containing it.
 */
import { dirname, join, relative, resolve } from "pathe";

/** Name of the manifest file inside a demo output folder. */
export const DEMO_MANIFEST = ".ldm3d-demo-output.json";

/** Every entry the demo creates directly inside its output folder (the manifest's contents). */
export const DEMO_ENTRIES = [
  "data",
  "models",
  "tfevents",
  "samples",
  "samples_untrained",
  "heldout_extra",
  "heldout_ceiling",
  "overview.png",
  "comparison.png",
  "report.json",
  "report.md",
] as const;

/** An output folder the demo must not use; the message names the folder and what to do. */
export class DemoOutputError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DemoOutputError";
  }
}

async function entriesOf(dir: string): Promise<string[] | null> {
  try {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    return names;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new DemoOutputError(`--output ${dir}: cannot read the folder (${(e as Error).message})`);
  }
}

/** The entries a manifest lists (only names the demo itself creates), or null if it is not ours. */
async function manifestEntries(dir: string): Promise<string[] | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, DEMO_MANIFEST));
  } catch {
    return null;
  }
  let listed: unknown;
  try {
    listed = JSON.parse(text)?.entries;
  } catch {
    return null;
  }
  if (!Array.isArray(listed)) return null;
  // Never trust the file to name arbitrary paths: only the demo's own top-level entries are removed.
  return listed.filter((n): n is string => (DEMO_ENTRIES as readonly string[]).includes(n));
}

/** Whether `dir` is the working directory, one of its parents, the home folder or a filesystem root. */
function isProtected(dir: string, cwd: string): boolean {
  const rel = relative(dir, cwd);
  const containsCwd = rel === "" || (rel !== ".." && !rel.startsWith("../") && !rel.startsWith("/"));
  const home = Deno.env.get("HOME");
  return containsCwd || (home !== undefined && resolve(home) === dir) || dirname(dir) === dir;
}

/**
 * Makes `output` ready for a demo run (see the module doc) and writes the manifest before anything else,
 * so an interrupted run is still recognised as ours next time. Returns the absolute folder path.
 */
export async function prepareDemoOutput(
  output: string,
  options: { force?: boolean; cwd?: string } = {},
): Promise<string> {
  const cwd = resolve(options.cwd ?? Deno.cwd());
  const dir = resolve(cwd, output);
  if (isProtected(dir, cwd)) {
    throw new DemoOutputError(
      `--output ${output}: refusing to use the working directory, a folder containing it, the home folder or a root (${dir}); choose a new subfolder such as runs/demo`,
    );
  }
  const existing = await entriesOf(dir);
  const ours = existing === null ? [] : await manifestEntries(dir);
  if (existing !== null && existing.length > 0 && ours === null) {
    const clashing = existing.filter((n) => (DEMO_ENTRIES as readonly string[]).includes(n));
    if (!options.force) {
      throw new DemoOutputError(
        `--output ${output}: the folder is not empty and is not a previous demo output (no ${DEMO_MANIFEST}); ` +
          "choose an empty or new folder, or pass --force to add the demo's files next to what is there",
      );
    }
    if (clashing.length) {
      throw new DemoOutputError(
        `--output ${output}: --force given, but ${
          clashing.map((n) => join(dir, n)).join(", ")
        } already exist and were not created by the demo; they are left alone — move them or choose another folder`,
      );
    }
  }
  for (const name of ours ?? []) await Deno.remove(join(dir, name), { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, DEMO_MANIFEST),
    JSON.stringify(
      {
        about: "Written by the ldm3d demo: the next demo run in this folder replaces only these entries.",
        entries: DEMO_ENTRIES,
      },
      null,
      2,
    ) + "\n",
  );
  return dir;
}
