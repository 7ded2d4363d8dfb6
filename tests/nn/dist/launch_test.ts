import assert from "node:assert/strict";
import { launch, type LaunchResult, lpThreads } from "../../../recipe/launcher.ts";
import { splitLauncherArgs } from "../../../cli/launch.ts";
import type { GpuInfo } from "../../../nn/dist/gpu_pinning.ts";
import { here } from "./_spawn.ts";

const WORKER = here("./_launch_worker.ts");
const TWO_GPUS: GpuInfo[] = [
  { pciAddress: "0000:3b:00.0", vendorId: "10de", deviceId: "2330" },
  { pciAddress: "0000:18:00.0", vendorId: "10de", deviceId: "2330" },
];

/** Runs a 2-rank job of the worker, collecting its lines; fails the test if it takes over `ms`. */
async function job(
  mode: string,
  extra: {
    software?: boolean;
    gpus?: GpuInfo[];
    ms?: number;
    signal?: AbortSignal;
    onLine?: (line: string) => void;
  } = {},
) {
  const lines: string[] = [];
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    launch({
      worldSize: 2,
      script: WORKER,
      args: [mode],
      softwareAdapter: extra.software ?? true,
      gpuLister: () => Promise.resolve(extra.gpus ?? []),
      killGraceMs: 2000,
      signal: extra.signal,
      output: (line) => {
        lines.push(line);
        extra.onLine?.(line);
      },
    }),
    new Promise<LaunchResult>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`launch did not finish within ${extra.ms ?? 30_000} ms`)),
        extra.ms ?? 30_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  return { result, lines, seconds: (performance.now() - started) / 1000 };
}

Deno.test("launch: ranks get RANK/WORLD_SIZE/MASTER/LP_NUM_THREADS and their lines come back prefixed", async () => {
  const { result, lines } = await job("env");
  assert.equal(result.code, 0, lines.join("\n"));
  assert.equal(result.failedRank, null);
  for (const rank of [0, 1]) {
    const line = lines.find((l) => l.startsWith(`[rank ${rank}] {`));
    assert.ok(line, lines.join("\n"));
    const env = JSON.parse(line.slice(`[rank ${rank}] `.length));
    assert.equal(env.RANK, `${rank}`);
    assert.equal(env.LOCAL_RANK, `${rank}`);
    assert.equal(env.WORLD_SIZE, "2");
    assert.equal(env.MASTER, result.master);
    assert.equal(env.LP_NUM_THREADS, Deno.env.get("LP_NUM_THREADS") ? null : `${lpThreads(2)}`);
    assert.equal(env.DRI_PRIME, null); // software adapter: no pinning
    assert.equal(env.LDM3D_LAUNCHER_PID, `${Deno.pid}`, "ranks can watch the launcher");
    assert.ok(lines.includes(`[rank ${rank}] hello from rank ${rank}`));
  }
});

Deno.test("launch: a rank that dies ends the others and the job fails with its error", async () => {
  const { result, lines, seconds } = await job("die", { ms: 30_000 });
  assert.notEqual(result.code, 0);
  assert.equal(result.failedRank, 1, lines.join("\n"));
  assert.match(result.error ?? "", /boom from rank 1/);
  assert.ok(lines.some((l) => l.startsWith("[rank 1] ") && l.includes("boom from rank 1")));
  assert.ok(seconds < 20, `took ${seconds} s`);
});

Deno.test("launch: an interrupt reaches every rank once; a rank's early exit 130 cuts no one short; the job exits 130", async () => {
  const abort = new AbortController();
  let ready = 0;
  const { result, lines } = await job("interruptible", {
    signal: abort.signal,
    onLine: (line) => {
      if (line.endsWith("] ready") && ++ready === 2) abort.abort();
    },
  });
  assert.equal(result.code, 130, lines.join("\n"));
  assert.equal(result.failedRank, null);
  assert.equal(result.error, null);
  for (const rank of [0, 1]) {
    const got = lines.filter((l) => l.startsWith(`[rank ${rank}] interrupt (SIGTERM)`));
    assert.equal(got.length, 1, lines.join("\n"));
  }
  // Rank 1 exited at once; rank 0 still finished "saving" (it was not sent a second signal).
  assert.ok(lines.includes("[rank 0] rank 0 saved (SIGTERM)"), lines.join("\n"));
});

Deno.test("launch: with 2 GPUs ranks are pinned to different GPUs and report them", async () => {
  const { result, lines } = await job("report", { software: false, gpus: TWO_GPUS });
  assert.equal(result.code, 0, lines.join("\n"));
  const pins = result.gpus.sort((a, b) => a.rank - b.rank).map((r) => r.pin);
  assert.deepEqual(pins, ["pci-0000_18_00_0", "pci-0000_3b_00_0"]);
});

Deno.test("launch: ranks sharing a GPU while 2 are present fail the job", async () => {
  const { result, lines, seconds } = await job("report-unpinned", { software: false, gpus: TWO_GPUS });
  assert.notEqual(result.code, 0, lines.join("\n"));
  assert.match(result.error ?? "", /ranks 0, 1 share GPU default although 2 GPUs are present/);
  assert.ok(seconds < 20);
});

Deno.test("launch: launcher flags are split from the script and its own flags", () => {
  assert.deepEqual(splitLauncherArgs(["-g", "2", "--dist", "mpi", "train.ts", "-c", "x.json", "-g", "2"]), {
    own: ["-g", "2", "--dist", "mpi"],
    script: "train.ts",
    rest: ["-c", "x.json", "-g", "2"],
  });
  assert.deepEqual(splitLauncherArgs(["-g", "4", "--", "-weird.ts", "a"]), {
    own: ["-g", "4"],
    script: "-weird.ts",
    rest: ["a"],
  });
  assert.deepEqual(splitLauncherArgs(["-g", "2"]), { own: ["-g", "2"], script: null, rest: [] });
  assert.equal(lpThreads(2, 2), 1);
  assert.equal(lpThreads(4, 2), 1);
  assert.equal(lpThreads(2, 16), 8);
});
