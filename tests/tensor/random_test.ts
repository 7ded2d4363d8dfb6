import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { assertClose } from "./_helpers.ts";

await T.init();

Deno.test("GPU Philox matches the plain-TS Philox bit for bit (uniform draws)", async () => {
  const u = await T.rand([3, 5], { seed: 42, stream: "test/u", step: 7, sampleOffset: 10 }).data();
  const key: [number, number] = [42, T.streamId("test/u")];
  const ref = Array.from(
    { length: 15 },
    (_, i) => T.toUnit(T.philox4x32([i % 5, 10 + Math.floor(i / 5), 7, 0], key)[0]),
  );
  assertClose(u, ref, 0, 0);
});

Deno.test("draws are keyed by (seed, stream, step, global sample), not by call order", async () => {
  const opts = { seed: 1, stream: "noise", step: 3 };
  const full = await T.randn([4, 6], opts).data();
  const _other = T.randn([10], { seed: 9, stream: "other" }); // an unrelated draw in between changes nothing
  const first = await T.randn([2, 6], { ...opts, sampleOffset: 0 }).data();
  const second = await T.randn([2, 6], { ...opts, sampleOffset: 2 }).data();
  assertClose([...first, ...second], full, 0, 0);
  const again = await T.randn([4, 6], opts).data();
  assertClose(again, full, 0, 0);
  const nextStep = await T.randn([4, 6], { ...opts, step: 4 }).data();
  assert.notDeepEqual([...nextStep], [...full]);
  const otherStream = await T.randn([4, 6], { ...opts, stream: "noise2" }).data();
  assert.notDeepEqual([...otherStream], [...full]);
});

Deno.test("normal draws have the right moments; randint stays in range; randperm is a permutation", async () => {
  const n = 200000;
  const z = await T.randn([n], { seed: 5, stream: "moments" }, 2, 3).data();
  let m = 0, v = 0;
  for (const x of z) m += x;
  m /= n;
  for (const x of z) v += (x - m) ** 2;
  v /= n;
  assert.ok(Math.abs(m - 2) < 0.03, `mean ${m}`);
  assert.ok(Math.abs(Math.sqrt(v) - 3) < 0.03, `std ${Math.sqrt(v)}`);
  const r = await T.randint([1000], { seed: 5, stream: "ints" }, 3, 9).data();
  assert.ok(r.every((x) => x >= 3 && x < 9));
  assert.equal(new Set(r).size, 6);
  const p = await T.randperm(50, { seed: 2, stream: "perm" }).data();
  assert.deepEqual([...p].sort((a, b) => a - b), [...Array(50).keys()]);
  assert.deepEqual([...await T.randperm(50, { seed: 2, stream: "perm" }).data()], [...p]);
});
