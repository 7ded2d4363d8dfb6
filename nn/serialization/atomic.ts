/** Atomic file writes: write a temporary file next to the target, then rename it over the target. */
import { basename, dirname, join } from "node:path";

/** The temp file name of an atomic write of `target` by process `pid`. */
export function atomicTempName(target: string, pid: number, id: string): string {
  return `.${target}.tmp-${pid}-${id}`;
}

/** Matches exactly the names {@link atomicTempName} produces (8 hex digits of a random UUID). */
const TEMP_NAME = /^\.(.+)\.tmp-(\d+)-([0-9a-f]{8})$/;

/** Whether process `pid` is alive (Linux /proc); where that cannot be told, every process counts as alive. */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc: keep every temp file rather than risk a live writer's
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
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
    const path = join(dir, e.name);
    try {
      await Deno.remove(path);
      removed.push(path);
    } catch { /* already gone, or not ours to remove */ }
  }
  return removed;
}

/** Writes `bytes` to `path` atomically: a temp file in the same folder is written, synced and renamed over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, atomicTempName(basename(path), Deno.pid, crypto.randomUUID().slice(0, 8)));
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
