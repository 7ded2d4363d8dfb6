/**
 * All-reduce benchmark: the mean of a float32 vector (100 MB by default) across 2 and 4 processes, over shared
 * memory (`nn/dist/allreduce_shm.ts`, processes spawned like `cli/launch.ts` does) and over Open MPI
 * (`nn/dist/allreduce_mpi.ts` under `mpirun`, skipped when mpirun is absent). Prints one JSON object per line
 * ({name, shape, ms, gflops, gbps, adapter, …}); `gbps` is the algorithm bandwidth, vector bytes / time.
 * `--out file` also appends the lines to a file.
 *
 *     deno run -A bench/run_allreduce.ts [--mb 100] [--ranks 2,4] [--runs 5] [--dist shm,mpi] [--bucket-mb 4] [--out f]
 *
 * `--vote` also times the stop vote of `recipe/stop.ts` both ways: riding in the same all-reduce as the vector
 * (one more element, what training does) and as a separate one-element all-reduce per step.
 *
 * Target (2-core CI machine): shm, 100 MB, 2 ranks ≤ 80 ms.
 */
import { parseArgs } from "node:util";
import { mpiEnv } from "../nn/dist/mpi_env.ts";
import { initDistributed } from "../nn/dist/init.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mb: { type: "string", default: "100" },
    ranks: { type: "string", default: "2,4" },
    runs: { type: "string", default: "5" },
    dist: { type: "string", default: "shm,mpi" },
    out: { type: "string" },
    "bucket-mb": { type: "string", default: "4" },
    worker: { type: "boolean", default: false },
    vote: { type: "boolean", default: false },
  },
});
const bytes = Math.round(Number(values.mb) * 1e6 / 4) * 4;
const runs = Number(values.runs);

if (values.worker) {
  // One rank: time `runs` all-reduces after one warm-up; rank 0 prints its times as one JSON line.
  const bucketBytes = Math.round(Number(values["bucket-mb"]) * (1 << 20) / 64) * 64;
  const comm = await initDistributed({ dist: values.dist as "shm" | "mpi", bucketBytes });
  const data = new Float32Array(bytes / 4).fill(comm.rank + 1);
  await comm.allReduceMean([data]);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await comm.barrier("bench");
    const t0 = performance.now();
    await comm.allReduceMean([data]);
    times.push(performance.now() - t0);
  }
  const want = (comm.worldSize + 1) / 2;
  if (data[0] !== want || data[data.length - 1] !== want) {
    throw new Error(`wrong result ${data[0]}, expected ${want}`);
  }
  const series: Record<string, number[]> = { "": times };
  if (values.vote) {
    // The same vector plus the one-element stop vote in one call, and the vote alone as its own call.
    const vote = Float32Array.of(comm.rank === 0 ? 1 : 0);
    for (const [name, buffers] of [["_with_vote", [data, vote]], ["_vote_alone", [vote]]] as const) {
      series[name] = [];
      for (let i = 0; i < runs; i++) {
        await comm.barrier("bench");
        const t0 = performance.now();
        await comm.allReduceMean([...buffers]);
        series[name].push(performance.now() - t0);
      }
    }
  }
  await comm.barrier("done");
  if (comm.rank === 0) console.log(JSON.stringify(series));
  await comm.close();
  Deno.exit(0);
}

const script = new URL(import.meta.url).pathname;
const workerArgs = (
  dist: string,
) => [
  "run",
  "-A",
  script,
  "--worker",
  "--dist",
  dist,
  "--mb",
  values.mb!,
  "--runs",
  values.runs!,
  "--bucket-mb",
  values["bucket-mb"]!,
  ...(values.vote ? ["--vote"] : []),
];

async function runShm(n: number): Promise<string> {
  const master = `ldm3d-bench-${Deno.pid}-${n}`;
  const children = Array.from({ length: n }, (_, rank) =>
    new Deno.Command(Deno.execPath(), {
      args: workerArgs("shm"),
      env: { RANK: `${rank}`, LOCAL_RANK: `${rank}`, WORLD_SIZE: `${n}`, MASTER: master },
      stdout: "piped",
      stderr: "piped",
    }).output());
  const outs = await Promise.all(children);
  try {
    Deno.removeSync(`/dev/shm/${master}`);
  } catch { /* rank 0 unlinked it */ }
  for (const [rank, o] of outs.entries()) {
    if (o.code !== 0) throw new Error(`shm rank ${rank} failed: ${new TextDecoder().decode(o.stderr)}`);
  }
  return new TextDecoder().decode(outs[0].stdout);
}

async function runMpi(n: number): Promise<string | null> {
  const o = await new Deno.Command("mpirun", {
    args: ["--allow-run-as-root", "--oversubscribe", "-np", `${n}`, Deno.execPath(), ...workerArgs("mpi")],
    env: mpiEnv(),
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  });
  if (o === null) return null;
  if (o.code !== 0) throw new Error(`mpirun -np ${n} failed: ${new TextDecoder().decode(o.stderr)}`);
  return new TextDecoder().decode(o.stdout);
}

const lines: string[] = [];
for (const dist of values.dist!.split(",")) {
  for (const n of values.ranks!.split(",").map(Number)) {
    const stdout = dist === "mpi" ? await runMpi(n) : await runShm(n);
    if (stdout === null) {
      console.error(
        `run_allreduce: mpi skipped: mpirun not found (apt-get install openmpi-bin libopenmpi3)`,
      );
      break;
    }
    const series = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, number[]>;
    for (const [suffix, times] of Object.entries(series)) {
      const sorted = [...times].sort((a, b) => a - b), ms = sorted[Math.floor(sorted.length / 2)];
      const vectorBytes = suffix === "_vote_alone" ? 4 : bytes;
      const line = JSON.stringify({
        name: `allreduce_${dist}${suffix}`,
        shape: `${vectorBytes / 1e6}MB x${n}`,
        ms: Number(ms.toFixed(3)),
        gflops: null,
        gbps: Number((vectorBytes / ms / 1e6).toFixed(3)),
        adapter: "host",
        ranks: n,
        bucket_mb: dist === "shm" || dist === "mpi" ? Number(values["bucket-mb"]) : null,
        min_ms: Number(sorted[0].toFixed(3)),
        cores: navigator.hardwareConcurrency,
      });
      console.log(line);
      lines.push(line);
    }
  }
}
if (values.out) await Deno.writeTextFile(values.out, lines.join("\n") + "\n", { append: true });
