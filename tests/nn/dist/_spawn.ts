/** Spawning helpers for the multi-process tests. */

/** Result of one finished worker. */
export interface WorkerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A <script> ...args` with `env` added, killed after `timeoutMs`. */
export async function runDeno(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<WorkerResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** A segment name no other test or run uses. */
export function uniqueName(tag: string): string {
  return `ldm3d-test-${tag}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Path of a file next to the tests. */
export function here(file: string): string {
  return new URL(file, import.meta.url).pathname;
}
