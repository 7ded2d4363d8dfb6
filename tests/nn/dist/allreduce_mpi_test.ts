import assert from "node:assert/strict";
import { launch } from "../../../recipe/launcher.ts";
import { mpiEnv } from "../../../nn/dist/mpi_env.ts";
import { checkWorkerOutputs } from "./_data.ts";
import { here } from "./_spawn.ts";

/** mpirun's path, or null when Open MPI is not installed (Debian: openmpi-bin libopenmpi3). */
function findMpirun(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin").split(":")) {
    try {
      if (Deno.statSync(`${dir}/mpirun`).isFile) return `${dir}/mpirun`;
    } catch { /* not here */ }
  }
  return null;
}

const mpirun = findMpirun();
if (!mpirun) {
  console.log("allreduce_mpi_test: skipped: mpirun not found (apt-get install openmpi-bin libopenmpi3)");
}

Deno.test({
  name: "mpi all-reduce: mpirun -np 2 average, broadcast and scalar mean match the host",
  ignore: !mpirun,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const child = new Deno.Command(mpirun!, {
        args: [
          "--allow-run-as-root",
          "--oversubscribe",
          "-np",
          "2",
          Deno.execPath(),
          "run",
          "-A",
          here("./_worker.ts"),
          "mpi",
          "reduce",
          dir,
        ],
        env: { ...mpiEnv(), XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const out = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `mpirun failed:\n${text}`);
      assert.deepEqual(checkWorkerOutputs(dir), []);
      for (const rank of [0, 1]) {
        assert.equal(JSON.parse(Deno.readTextFileSync(`${dir}/scalar-${rank}.json`)).kind, "mpi");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mpi all-reduce: launch --dist mpi ends the job when a rank dies",
  ignore: !mpirun,
  async fn() {
    const lines: string[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      launch({
        worldSize: 2,
        script: here("./_launch_worker.ts"),
        args: ["die"],
        dist: "mpi",
        softwareAdapter: true,
        gpuLister: () => Promise.resolve([]),
        output: (l) => lines.push(l),
      }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error("mpirun job hung")), 30_000)
      ),
    ]).finally(() => clearTimeout(timer));
    assert.notEqual(result.code, 0);
    assert.match(result.error ?? "", /boom from rank 1/);
    assert.ok(lines.some((l) => l.includes("rank 0 waiting forever")), lines.join("\n"));
  },
});
