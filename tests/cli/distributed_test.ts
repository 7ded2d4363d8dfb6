import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { averageGradients } from "../../cli/distributed.ts";
import type { AllReduce } from "../../nn/dist/allreduce.ts";

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
