/**
 * The launcher watch: a process notices within a second that the launcher is gone, whether it is the
 * launcher's child (parent pid) or not (kill 0 on the pid), and `silenceOutput` keeps a broken pipe from
 * throwing. Every spawned process is killed in `finally`.
 */
import assert from "node:assert/strict";
import { processAlive } from "../../../nn/dist/shm.ts";
import { here } from "./_spawn.ts";

const WATCHER = here("./_watch_worker.ts");

/** Spawns `deno run -A <args>` with piped stdout. */
function deno(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
}

/** First line of a child's stdout. */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

async function waitFile(path: string, ms: number): Promise<string | null> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    try {
      return await Deno.readTextFile(path);
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      if (processAlive(pid)) Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

Deno.test("launcher watch: the child of a launcher killed with -9 notices within a second and can still print", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ldm-watch-" });
  // The stand-in launcher spawns the watcher (watching its parent), prints the watcher's pid and waits.
  const launcher = deno([WATCHER, "launcher", dir]);
  const pids = [launcher.pid];
  try {
    const watcherPid = Number(await firstLine(launcher));
    pids.push(watcherPid);
    assert.ok(watcherPid > 1);
    launcher.kill("SIGKILL");
    await launcher.status;
    const t0 = performance.now();
    const report = await waitFile(`${dir}/gone`, 5000);
    assert.ok(report !== null, "the watcher did not notice");
    assert.ok(performance.now() - t0 < 3000, `noticed after ${performance.now() - t0} ms`);
    // After silenceOutput, writing to the dead launcher's pipe no longer throws.
    assert.equal(await waitFile(`${dir}/wrote`, 5000), "ok");
  } finally {
    killAll(pids);
    await launcher.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launcher watch: a process that is not the launcher's child probes its pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ldm-watch-" });
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const watcher = deno([WATCHER, "watch", `${sleeper.pid}`, dir]);
  try {
    assert.equal(await firstLine(watcher), "watching");
    assert.equal(await waitFile(`${dir}/gone`, 700), null, "still alive: no report");
    sleeper.kill("SIGKILL");
    await sleeper.status;
    assert.ok(await waitFile(`${dir}/gone`, 3000) !== null, "the watcher did not notice");
    assert.equal((await watcher.status).code, 0);
  } finally {
    killAll([sleeper.pid, watcher.pid]);
    await Promise.all([sleeper.status, watcher.status]);
    await Deno.remove(dir, { recursive: true });
  }
});
