/**
 * Files that belong to a process: temporary files and folders named with its pid, left over when it ended, are
 * removed when a later run starts (never while their process still runs); a lock file held by a process makes
 * concurrent processes (the ranks of one run) take turns.
 */
import { join } from "pathe";
import { processAlive } from "../util/process_alive.ts";

/** How old a leftover whose process cannot be checked must be before it is removed. */
const UNKNOWN_OWNER_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Removes the entries of `dir` that `ownerOf` recognises as leftovers (it returns the owning pid, or null when
 * the name carries none) whose process is gone; where that cannot be told, those older than a day. Our own
 * process' entries are kept. Returns the paths removed; a missing `dir` has none.
 */
export async function removeStaleLeftovers(
  dir: string,
  ownerOf: (name: string) => number | null | undefined,
): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed;
  }
  for (const e of entries) {
    const pid = ownerOf(e.name);
    if (pid === undefined || pid === Deno.pid) continue;
    const path = join(dir, e.name);
    try {
      const alive = pid === null ? null : processAlive(pid);
      const ageMs = Date.now() - ((await Deno.stat(path)).mtime?.getTime() ?? Date.now());
      if (alive === false || (alive === null && ageMs > UNKNOWN_OWNER_MAX_AGE_MS)) {
        await Deno.remove(path, { recursive: true });
        removed.push(path);
      }
    } catch {
      // Gone meanwhile (another run cleaned it): nothing to do.
    }
  }
  return removed;
}

/**
 * Runs `fn` holding an exclusive advisory lock (flock) on the file `lock`, waiting while another process or call
 * holds it. The system releases the lock when its process ends, so a crashed holder leaves no stale lock; the
 * (empty) lock file stays, as removing it would let a waiter and a newcomer lock different files.
 */
export async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  using file = await Deno.open(lock, { read: true, write: true, create: true });
  await file.lock(true);
  try {
    return await fn();
  } finally {
    await file.unlock();
  }
}
