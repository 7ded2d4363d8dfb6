/**
 * Rank script for the launcher tests (not a test itself). Modes:
 * `env` prints the variables the launcher set; `die` makes rank 1 fail while rank 0 would wait forever;
 * `report` / `report-unpinned` print a GPU report (the latter as if pinning had been ignored); `interruptible`
 * prints "ready" and, on the first SIGINT/SIGTERM, stops as a training rank would: rank 1 at once, rank 0 after
 * "saving" for 500 ms, both with status 130 (a second signal quits at once).
 */
import { PIN_ENV, reportGpu } from "../../../nn/dist/gpu_pinning.ts";
import { rankFromEnv } from "../../../nn/dist/init.ts";
import { LAUNCHER_PID_ENV } from "../../../nn/dist/launcher_watch.ts";
import { INTERRUPTED_EXIT_CODE, listenForInterrupts, StopControl } from "../../../recipe/stop.ts";

const { rank } = rankFromEnv();
const mode = Deno.args[0];
if (mode === "env") {
  const names = [
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "MASTER",
    "LP_NUM_THREADS",
    PIN_ENV.driPrime,
    PIN_ENV.force,
    LAUNCHER_PID_ENV,
  ];
  console.log(JSON.stringify(Object.fromEntries(names.map((k) => [k, Deno.env.get(k) ?? null]))));
  console.error(`hello from rank ${rank}`);
} else if (mode === "die") {
  if (rank === 1) {
    await new Promise((r) => setTimeout(r, 200));
    throw new Error("boom from rank 1");
  }
  console.log("rank 0 waiting forever");
  await new Promise(() => setInterval(() => {}, 1000));
} else if (mode === "report" || mode === "report-unpinned") {
  if (mode === "report-unpinned") Deno.env.delete(PIN_ENV.driPrime);
  reportGpu(rank, "mock adapter");
  await new Promise((r) => setTimeout(r, 500)); // stays alive a little, like a training rank for the launcher to compare reports
} else if (mode === "interruptible") {
  const stop = new StopControl();
  const unlisten = listenForInterrupts(stop, (s) => console.log(s));
  console.log("ready");
  while (!stop.shouldStop) await new Promise((r) => setTimeout(r, 20));
  if (rank === 0) {
    await new Promise((r) => setTimeout(r, 500));
    console.log(`rank 0 saved (${stop.reason})`);
  }
  unlisten();
  Deno.exit(INTERRUPTED_EXIT_CODE);
}
