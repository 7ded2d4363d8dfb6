/**
 * Atomic file writes: write a temporary file next to the target, then rename it over the target. File-system
 * code (Deno) that runs only when called, so modules importing it still load in a browser.
 */

/** Writes `bytes` to `path` atomically: a temp file in the same folder is written, synced and renamed over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  // The temp file sits in the target's folder (so the rename stays on one file system): same prefix, new name.
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const tmp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.tmp-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }`;
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
