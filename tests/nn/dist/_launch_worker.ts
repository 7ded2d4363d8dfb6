/**
 * Rank script for the launcher tests (not a test itself). Modes:
 * `env` prints the variables the launcher set; `die` makes rank 1 fail while rank 0 would wait forever;
 * `report` / `report-unpinned` print a GPU report (the latter as if pinning had been ignored).
 */
import { PIN_ENV, reportGpu } from "../../../nn/dist/gpu_pinning.ts";
import { rankFromEnv } from "../../../nn/dist/init.ts";

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
}
