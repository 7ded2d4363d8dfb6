/**
 * Whether a process is still running, for cleaning up what dead processes left behind and for ranks watching
 * their launcher. Linux's /proc answers it without FFI or permissions; elsewhere the answer is unknown.
 *
 * @module
 */

/** True when process `pid` is running, false when it is not, null when this system cannot tell (no /proc). */
export function processAlive(pid: number): boolean | null {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return null;
  }
  try {
    Deno.statSync("/proc/self");
    return false;
  } catch {
    return null;
  }
}
