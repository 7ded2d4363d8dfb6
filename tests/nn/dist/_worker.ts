/**
 * Worker of the multi-process all-reduce tests (not a test itself), started like a training process
 * (RANK/WORLD_SIZE/MASTER from the launcher or the test, or by mpirun).
 * `<shm|mpi> reduce <outDir>`: runs the collectives and writes results; `shm timeout`: waits alone;
 * `shm peer-dies`: rank 1 exits inside the job; `shm mismatch`: ranks pass different lengths.
 */
import { meanScalar } from "../../../nn/dist/allreduce.ts";
import { ShmAllReduce } from "../../../nn/dist/allreduce_shm.ts";
import { initDistributed } from "../../../nn/dist/init.ts";
import { concat, rankArrays } from "./_data.ts";

const [dist, mode, outDir] = Deno.args;

if (mode === "timeout") {
  const rank = Number(Deno.env.get("RANK")), worldSize = Number(Deno.env.get("WORLD_SIZE"));
  try {
    await ShmAllReduce.open({
      rank,
      worldSize,
      name: Deno.env.get("MASTER")!,
      timeoutMs: 300,
      bucketBytes: 4096,
    });
    console.log("unexpected: init barrier passed");
  } catch (e) {
    console.log(`ERROR ${(e as Error).message}`);
  }
} else if (mode === "peer-dies" || mode === "mismatch") {
  const comm = await initDistributed({ dist: "shm", bucketBytes: 4096, timeoutMs: 20_000 });
  try {
    if (mode === "peer-dies") {
      if (comm.rank === 1) Deno.exit(3); // leaves without a word; rank 0 must notice rather than wait 20 s
      await comm.barrier("after-exit");
    } else {
      await comm.allReduceMean([new Float32Array(5 + comm.rank)]);
    }
    console.log("unexpected: collective passed");
  } catch (e) {
    console.log(`ERROR ${(e as Error).message}`);
  }
} else {
  // 4 KiB buckets (1024 floats) so that the 39,344 elements take many buckets.
  const comm = await initDistributed({ dist: dist as "shm" | "mpi", bucketBytes: 4096, timeoutMs: 20_000 });
  const { rank, worldSize } = comm;
  const grads = rankArrays(rank, 1);
  await comm.allReduceMean(grads);
  await Deno.writeFile(`${outDir}/reduce-${rank}.bin`, new Uint8Array(concat(grads).buffer));
  const weights = rankArrays(rank, 2);
  await comm.broadcast(weights, worldSize - 1);
  await Deno.writeFile(`${outDir}/broadcast-${rank}.bin`, new Uint8Array(concat(weights).buffer));
  const scalar = await meanScalar(comm, rank + 1.5);
  await comm.allReduceMean([]); // an empty call keeps ranks in step
  await comm.barrier("end");
  await Deno.writeTextFile(
    `${outDir}/scalar-${rank}.json`,
    JSON.stringify({ scalar, kind: comm.kind, worldSize }),
  );
  await comm.close();
}
