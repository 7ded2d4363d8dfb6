import assert from "node:assert/strict";
import { ShmAllReduce } from "../../../nn/dist/allreduce_shm.ts";
import { checkWorkerOutputs, concat, rankArrays } from "./_data.ts";
import { here, runDeno, uniqueName } from "./_spawn.ts";

const WORKER = here("./_worker.ts");

Deno.test("shm all-reduce: 2 processes average, broadcast and scalar mean match the host", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const name = uniqueName("reduce");
    const results = await Promise.all(
      [0, 1].map((rank) =>
        runDeno(WORKER, ["shm", "reduce", dir], { RANK: `${rank}`, WORLD_SIZE: "2", MASTER: name })
      ),
    );
    for (const [rank, r] of results.entries()) assert.equal(r.code, 0, `rank ${rank} failed:\n${r.stderr}`);

    assert.deepEqual(checkWorkerOutputs(dir), []);
    // Rank 0 unlinked the segment after everyone joined.
    assert.throws(() => Deno.statSync(`/dev/shm/${name}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shm all-reduce: a barrier with a missing rank times out with an error naming rank and barrier", async () => {
  const name = uniqueName("timeout");
  const r = await runDeno(WORKER, ["shm", "timeout"], { RANK: "0", WORLD_SIZE: "2", MASTER: name }, 20_000);
  try {
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /ERROR rank 0\/2: barrier "init" \(#1\) timed out after 0\.3 s; rank\(s\) not arrived: 1/,
    );
  } finally {
    try {
      Deno.removeSync(`/dev/shm/${name}`);
    } catch { /* already gone */ }
  }
});

Deno.test("shm all-reduce: a rank that exits is noticed by the one waiting for it", async () => {
  const name = uniqueName("dies");
  const t0 = performance.now();
  const [r0, r1] = await Promise.all(
    [0, 1].map((rank) =>
      runDeno(WORKER, ["shm", "peer-dies"], { RANK: `${rank}`, WORLD_SIZE: "2", MASTER: name }, 20_000)
    ),
  );
  assert.equal(r1.code, 3);
  assert.match(
    r0.stdout,
    /ERROR rank 0\/2: barrier "after-exit" \(#2\) rank 1 \(pid \d+\) has exited; rank\(s\) not arrived: 1/,
  );
  assert.ok(performance.now() - t0 < 10_000);
});

Deno.test("shm all-reduce: ranks calling with different lengths get an error, not a hang", async () => {
  const name = uniqueName("mismatch");
  const results = await Promise.all(
    [0, 1].map((rank) =>
      runDeno(WORKER, ["shm", "mismatch"], { RANK: `${rank}`, WORLD_SIZE: "2", MASTER: name }, 20_000)
    ),
  );
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /ERROR allReduceMean: rank \d called allReduceMean with \d elements but rank \d: allReduceMean of \d/,
    );
  }
});

Deno.test("shm all-reduce: one process with world size 1 is a no-op and leaves no segment", async () => {
  const name = uniqueName("single");
  const comm = await ShmAllReduce.open({ rank: 0, worldSize: 1, name, bucketBytes: 4096 });
  const x = Float32Array.of(1, 2, 3);
  await comm.allReduceMean([x]);
  await comm.broadcast([x]);
  assert.deepEqual(x, Float32Array.of(1, 2, 3));
  // Collectives must be awaited one at a time.
  const first = comm.allReduceMean([x]);
  await assert.rejects(comm.barrier(), /barrier: rank 0: called while allReduceMean is still running/);
  await first;
  await comm.close();
  await assert.rejects(comm.barrier(), /the shm all-reduce is closed/);
  assert.throws(() => Deno.statSync(`/dev/shm/${name}`));
});

Deno.test("shm all-reduce: rejects bad ranks and sizes before touching shared memory", async () => {
  await assert.rejects(ShmAllReduce.open({ rank: 2, worldSize: 2, name: "x" }), /rank 2 out of range/);
  await assert.rejects(
    ShmAllReduce.open({ rank: 0, worldSize: 2, name: "x", bucketBytes: 100 }),
    /bucket size 100/,
  );
});

Deno.test("shm all-reduce: 3 and 4 ranks inside one process (the waits leave the event loop free)", async () => {
  for (const worldSize of [3, 4]) {
    const name = uniqueName(`inproc${worldSize}`);
    const comms = await Promise.all(
      Array.from(
        { length: worldSize },
        (_, rank) => ShmAllReduce.open({ rank, worldSize, name, bucketBytes: 4096, spinMs: 0 }),
      ),
    );
    const grads = comms.map((c) => rankArrays(c.rank, 1));
    const inputs = grads.map(concat);
    await Promise.all(comms.map((c, r) => c.allReduceMean(grads[r])));
    for (const [rank, g] of grads.entries()) {
      const got = concat(g);
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        let mean = 0;
        for (const x of inputs) mean += x[i];
        worst = Math.max(worst, Math.abs(got[i] - mean / worldSize));
      }
      assert.ok(worst <= 1e-6, `world ${worldSize} rank ${rank}: max |error| ${worst}`);
      assert.deepEqual(got, concat(grads[0])); // every rank holds the identical result
    }
    const weights = comms.map((c) => rankArrays(c.rank, 2));
    await Promise.all(comms.map((c, r) => c.broadcast(weights[r], 2)));
    for (const w of weights) assert.deepEqual(concat(w), concat(rankArrays(2, 2)));
    // Ranks that disagree on the root fail instead of silently keeping their own values.
    const results = await Promise.allSettled(
      comms.map((c) => c.broadcast([new Float32Array(4)], c.rank === 0 ? 1 : 0)),
    );
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.match(
        String((r as PromiseRejectedResult).reason),
        /called broadcast from root [01] with 4 elements but rank \d: broadcast from root [01] of 4/,
      );
    }
    await Promise.all(comms.map((c) => c.close()));
  }
});
