import assert from "node:assert/strict";
import {
  forEachPiece,
  meanScalar,
  meanScalars,
  SingleProcess,
  totalLength,
} from "../../../nn/dist/allreduce.ts";
import { initDistributed, rankFromEnv } from "../../../nn/dist/init.ts";

const envOf = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

Deno.test("allreduce: pieces of a range over concatenated buffers", () => {
  const bufs: Float32Array[] = [
    new Float32Array(3),
    new Float32Array(0),
    new Float32Array(5),
    new Float32Array(2),
  ];
  assert.equal(totalLength(bufs), 10);
  const pieces: [number, number, number, number][] = [];
  forEachPiece(bufs, 2, 6, (b, from, to, at) => pieces.push([bufs.indexOf(b), from, to, at]));
  assert.deepEqual(pieces, [[0, 2, 3, 0], [2, 0, 5, 1]]);
  pieces.length = 0;
  forEachPiece(bufs, 8, 2, (b, from, to, at) => pieces.push([bufs.indexOf(b), from, to, at]));
  assert.deepEqual(pieces, [[3, 0, 2, 0]]);
});

Deno.test("allreduce: a single process averages over itself", async () => {
  const comm = new SingleProcess();
  assert.equal(await meanScalar(comm, 0.25), 0.25);
  assert.deepEqual(await meanScalars(comm, [1, 2]), [1, 2]);
  await assert.rejects(comm.broadcast([], 1), /root 1 out of range/);
});

Deno.test("init: rank and world size from the launcher's or mpirun's variables", async () => {
  assert.deepEqual(rankFromEnv(envOf({})), { rank: 0, worldSize: 1, localRank: 0 });
  assert.deepEqual(rankFromEnv(envOf({ RANK: "1", WORLD_SIZE: "2", LOCAL_RANK: "1" })), {
    rank: 1,
    worldSize: 2,
    localRank: 1,
  });
  assert.deepEqual(
    rankFromEnv(
      envOf({ OMPI_COMM_WORLD_RANK: "3", OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_LOCAL_RANK: "1" }),
    ),
    { rank: 3, worldSize: 4, localRank: 1 },
  );
  assert.throws(
    () => rankFromEnv(envOf({ RANK: "2", WORLD_SIZE: "2" })),
    /rank 2 out of range for world size 2/,
  );
  assert.throws(
    () => rankFromEnv(envOf({ WORLD_SIZE: "two" })),
    /WORLD_SIZE=two is not a non-negative integer/,
  );
  assert.equal((await initDistributed({ env: envOf({}) })).kind, "single");
  await assert.rejects(
    initDistributed({ env: envOf({ LDM3D_DIST_TIMEOUT_S: "soon" }) }),
    /LDM3D_DIST_TIMEOUT_S=soon/,
  );
  await assert.rejects(
    initDistributed({ env: envOf({ RANK: "0", WORLD_SIZE: "2" }) }),
    /MASTER .* is unset; start with cli\/launch.ts/,
  );
});
