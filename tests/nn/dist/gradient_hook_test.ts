import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { averageGradients } from "../../../nn/dist/gradient_hook.ts";
import type { AllReduce } from "../../../nn/dist/allreduce.ts";
import { StopControl } from "../../../recipe/stop.ts";

/** A fake 2-rank transport whose other rank holds gradients 1 higher: the mean adds 0.5 everywhere. */
function fakePeer(): AllReduce & { calls: number[] } {
  const calls: number[] = [];
  return {
    rank: 0,
    worldSize: 2,
    kind: "fake",
    calls,
    allReduceMean(buffers: Float32Array[]) {
      for (const b of buffers) {
        calls.push(b.length);
        for (let i = 0; i < b.length; i++) b[i] += 0.5;
      }
      return Promise.resolve();
    },
    broadcast: () => Promise.resolve(),
    barrier: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("averageGradients: buckets, zero-filled missing gradients, values written back in place of the grads", async () => {
  await T.init();
  const params = [T.zeros([3, 2]), T.zeros([5]), T.zeros([4])].map((p) => p.requireGrad());
  params[0].grad = T.tensor([1, 2, 3, 4, 5, 6], [3, 2]).keep() as typeof params[0]["grad"];
  params[2].grad = T.tensor([7, 8, 9, 10], [4]).keep() as typeof params[2]["grad"];
  const comm = fakePeer();
  await averageGradients(comm, params, 32); // 8 floats per bucket: [p0], [p1], [p2]
  assert.deepEqual(comm.calls, [6, 5, 4], "every parameter is sent, in buckets");
  assert.deepEqual([...await params[0].grad!.data()], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  assert.equal(params[1].grad, null, "a parameter without a gradient keeps none");
  assert.deepEqual([...await params[2].grad!.data()], [7.5, 8.5, 9.5, 10.5]);
  assert.deepEqual([...params[0].grad!.shape], [3, 2]);
});

Deno.test("averageGradients: the stop vote rides in the last bucket; a partner's vote stops this rank too", async () => {
  await T.init();
  const params = [T.zeros([6]), T.zeros([5])].map((p) => p.requireGrad());
  for (const p of params) p.grad = T.ones(p.shape).keep() as typeof p.grad;
  // The fake partner's values are 0.5 higher: as if it voted to stop while this rank did not (mean 0.5).
  const comm = fakePeer();
  const stop = new StopControl(2);
  await averageGradients(comm, params, 32, stop);
  assert.deepEqual(
    comm.calls,
    [6, 5, 1],
    "no extra collective: the vote is one more element of the last one",
  );
  assert.ok(stop.vote === 0 && stop.shouldStop, "the partner's vote is enough");

  // Both ranks quiet: no stop. A local request alone does not stop a rank before the vote has carried it.
  const quiet: AllReduce = { ...fakePeer(), allReduceMean: () => Promise.resolve() };
  const calm = new StopControl(2);
  await averageGradients(quiet, params, 32, calm);
  assert.ok(!calm.shouldStop);
  calm.request("SIGINT");
  assert.ok(!calm.shouldStop);
  await averageGradients(quiet, params, 32, calm); // the vote now carries 1 (mean over "both" ranks: 1)
  assert.ok(calm.shouldStop);
});

Deno.test("StopControl: a single process stops on its own request", () => {
  const stop = new StopControl();
  assert.ok(!stop.shouldStop);
  stop.request("SIGTERM");
  stop.request("later");
  assert.equal(stop.reason, "SIGTERM");
  assert.ok(stop.shouldStop && stop.vote === 1);
});
