import assert from "node:assert/strict";
import { distributedIndices } from "../../data/loader.ts";

const shards = (n: number, world: number, o: { shuffle?: boolean; dropLast?: boolean } = {}) =>
  Array.from(
    { length: world },
    (_, rank) => distributedIndices(n, { worldSize: world, rank, shuffle: false, ...o }),
  );

// Expected values worked out by hand from torch/utils/data/distributed.py (shuffle=False).
Deno.test("sampler: pads by repeating from the start and strides by world size (PyTorch DistributedSampler)", () => {
  assert.deepEqual(shards(10, 4), [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]);
  assert.deepEqual(shards(2, 5), [[0], [1], [0], [1], [0]]);
  assert.deepEqual(shards(6, 3), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(shards(5, 1), [[0, 1, 2, 3, 4]]);
  assert.deepEqual(shards(10, 4, { dropLast: true }), [[0, 4], [1, 5], [2, 6], [3, 7]]);
});

Deno.test("sampler: shuffled shards partition the padded permutation; every rank agrees on the order", () => {
  const n = 37, world = 4;
  for (const epoch of [0, 1]) {
    const parts = Array.from(
      { length: world },
      (_, rank) => distributedIndices(n, { worldSize: world, rank, seed: 5, epoch }),
    );
    const all = parts.flat();
    assert.equal(all.length, 40);
    assert.deepEqual([...new Set(all)].sort((a, b) => a - b), [...Array(n).keys()]);
  }
  const e0 = distributedIndices(n, { seed: 5, epoch: 0 }), e1 = distributedIndices(n, { seed: 5, epoch: 1 });
  assert.notDeepEqual(e0, e1);
  assert.throws(() => distributedIndices(10, { worldSize: 2, rank: 2 }), /rank 2/);
});
