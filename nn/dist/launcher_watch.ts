/**
 * A rank notices when its launcher has gone (even after `kill -9`, which leaves no chance to signal anyone):
 * the launcher exports its pid, and the rank polls it. A rank the launcher spawned itself watches its parent
 * pid, which changes to a reaper when the launcher dies (immune to pid reuse); a rank started through mpirun
 * probes the launcher's pid with `kill(pid, 0)`.
 *
 * Once the launcher is gone nobody reads the rank's output any more, and a write to the broken pipe would throw
 * (`BrokenPipe`) in the middle of the clean stop; {@linkcode silenceOutput} points stdout and stderr at
 * /dev/null first.
 *
 * @module
 */
import { processAlive } from "./shm.ts";

/** Environment variable through which the launcher tells its ranks its pid. */
export const LAUNCHER_PID_ENV = "LDM3D_LAUNCHER_PID";

/** Default time between two checks, ms: a dead launcher is noticed well within 10 s. */
export const WATCH_INTERVAL_MS = 500;

/** A running watch; `stop()` ends it (idempotent). */
export interface LauncherWatch {
  stop(): void;
}

/**
 * Calls `onGone` once, within about `intervalMs`, after process `pid` has exited. The timer does not keep
 * the process alive.
 */
export function watchLauncher(
  pid: number,
  onGone: () => void,
  intervalMs = WATCH_INTERVAL_MS,
): LauncherWatch {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`launcher watch: invalid launcher pid ${pid}`);
  const isParent = Deno.ppid === pid;
  const gone = () => isParent ? Deno.ppid !== pid : !processAlive(pid);
  const timer = setInterval(() => {
    if (!gone()) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}

/** The launcher's pid from the environment, or null when this process was not started by the launcher. */
export function launcherPidFromEnv(env: { get(name: string): string | undefined } = Deno.env): number | null {
  const v = env.get(LAUNCHER_PID_ENV);
  if (v === undefined || v === "") return null;
  const pid = Number(v);
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new Error(`distributed: ${LAUNCHER_PID_ENV}=${v} is not a pid`);
  }
  return pid;
}

const O_WRONLY = 1;

/** Points file descriptors 1 and 2 at /dev/null (libc open + dup2 through FFI); later writes succeed silently. */
export function silenceOutput(): void {
  const libc = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    dup2: { parameters: ["i32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
  try {
    const fd = libc.symbols.open(new TextEncoder().encode("/dev/null\0"), O_WRONLY);
    if (fd < 0) return;
    libc.symbols.dup2(fd, 1);
    libc.symbols.dup2(fd, 2);
    libc.symbols.close(fd);
  } finally {
    libc.close();
  }
}

/**
 * Calls `onBroken` (once it has silenced the output, later writes succeed) when a write to stdout or stderr
 * fails with a broken pipe, instead of letting the error end the process: the reader, our launcher, is gone.
 */
export function onBrokenPipe(onBroken: () => void): void {
  const guard = <A extends unknown[], R>(write: (...a: A) => R, fallback: R) => (...a: A): R => {
    try {
      return write(...a);
    } catch (e) {
      if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      onBroken();
      return fallback;
    }
  };
  for (const stream of [Deno.stdout, Deno.stderr]) {
    const writeSync = stream.writeSync.bind(stream);
    stream.writeSync = guard(writeSync, 0);
  }
  for (const name of ["log", "info", "warn", "error"] as const) {
    const original = console[name].bind(console);
    console[name] = guard(original, undefined);
  }
}
