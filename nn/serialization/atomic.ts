/**
 * Atomic file writes: write a temporary file next to the target, then rename it over the target. File-system
 * code (Deno) that runs only when called, and no `node:` import, so modules importing it still load in a browser.
 */

import { processAlive as isRunning } from "../../util/process_alive.ts";

/** `path` split at its last separator: [folder with trailing separator or "", file name]. */
function splitPath(path: string): [string, string] {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return [path.slice(0, slash + 1), path.slice(slash + 1)];
}

/** The temp file name of an atomic write of `target` by process `pid`. */
export function atomicTempName(target: string, pid: number, id: string): string {
  return `.${target}.tmp-${pid}-${id}`;
}

/** Matches exactly the names {@link atomicTempName} produces (8 hex digits of a random UUID). */
const TEMP_NAME = /^\.(.+)\.tmp-(\d+)-([0-9a-f]{8})$/;

/** Whether process `pid` is alive; where that cannot be told, every process counts as alive (keep its files). */
export function processAlive(pid: number): boolean {
  return isRunning(pid) ?? true;
}

/**
 * Removes temp files that atomic writes interrupted by a crash or kill left in `dir` (full checkpoint
 * size each): only plain files whose names match the exact temp-name pattern, and only those of processes
 * that are no longer alive. Returns the removed paths.
 */
export async function removeStaleTempFiles(
  dir: string,
  options: { alive?: (pid: number) => boolean } = {},
): Promise<string[]> {
  const alive = options.alive ?? processAlive;
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed; // no folder yet: nothing stale
  }
  for (const e of entries) {
    const m = TEMP_NAME.exec(e.name);
    if (!m || !e.isFile) continue;
    const pid = Number(m[2]);
    if (pid === Deno.pid || alive(pid)) continue;
    const path = dir.endsWith("/") ? `${dir}${e.name}` : `${dir}/${e.name}`;
    try {
      await Deno.remove(path);
      removed.push(path);
    } catch { /* already gone, or not ours to remove */ }
  }
  return removed;
}

/** Writes `bytes` to `path` atomically: a temp file in the same folder is written, synced and renamed over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  // The temp file sits in the target's folder, so the rename stays on one file system.
  const [dir, name] = splitPath(path);
  const tmp = dir + atomicTempName(name, Deno.pid, crypto.randomUUID().slice(0, 8));
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    // Disk full, read-only folder, …: say which file, and that the previous version is intact.
    throw new Error(
      `${path}: could not write (${(e as Error).message}); any previous version of the file is untouched`,
      {
        cause: e,
      },
    );
  }
}
