/**
 * Worker of launcher_watch_test.ts.
 *   launcher DIR       spawns `watch <own pid> DIR` detached, prints its pid, then waits to be killed
 *   watch PID DIR      prints "watching"; when PID is gone writes DIR/gone, silences its output, writes to stdout
 *                      (must not throw) and records DIR/wrote = "ok"
 */
import { silenceOutput, watchLauncher } from "../../../nn/dist/launcher_watch.ts";

const [mode, a, b] = Deno.args;
if (mode === "launcher") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "watch", `${Deno.pid}`, a],
    stdout: "piped",
    stdin: "null",
    detached: true,
  }).spawn();
  console.log(child.pid);
  await child.status; // killed before this returns
} else if (mode === "watch") {
  const dir = b;
  const watch = watchLauncher(Number(a), () => {
    Deno.writeTextFileSync(`${dir}/gone`, "gone");
    silenceOutput();
    let wrote = "ok";
    try {
      for (let i = 0; i < 3; i++) Deno.stdout.writeSync(new TextEncoder().encode("still printing\n"));
    } catch (e) {
      wrote = String(e);
    }
    Deno.writeTextFileSync(`${dir}/wrote`, wrote);
    Deno.exit(0);
  }, 200);
  console.log("watching");
  // Keep the process alive (the watch's timer does not) until the watch ends it; bounded for safety.
  await new Promise((r) => setTimeout(r, 30_000));
  watch.stop();
  Deno.exit(1);
}
