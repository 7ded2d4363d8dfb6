// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
import assert from "node:assert/strict";
import { loadCase } from "../fixtures.ts";
import { MT19937, splitIndices, splitSection, torchRandperm } from "../../data/mod.ts";

const split = loadCase("data/split");

Deno.test("MT19937 matches the reference generator's first outputs", () => {
  // mt19937ar.c reference: init_genrand(5489) first outputs.
  const rng = new MT19937(5489);
  assert.deepEqual([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()], [
    3499211612,
    581869302,
    3890346734,
  ]);
  // numpy: RandomState(seed).randint(2**32, dtype="uint32") is the first raw output (full_pipeline fixture).
  const fp = loadCase("data/full_pipeline");
  if (fp) {
    const seed = fp.meta.config.example.determinism_seed;
    assert.equal(new MT19937(seed).nextUint32(), fp.meta.example_seed_chain.crop_random_state_seed);
  }
});

Deno.test({
  name: "split fixtures: every subcase (numpy RandomState shuffle + int(n*val_frac))",
  ignore: split === null,
  fn: () => {
    const fx = split!;
    const subs = Object.entries(fx.meta.subcases) as [string, any][];
    assert.ok(subs.length > 0);
    for (const [name, sc] of subs) {
      const s = splitIndices(sc.n, sc.seed, sc.val_frac);
      assert.deepEqual(s.validation, Array.from(fx.tensor(`${name}/val_indices`).data), name);
      assert.deepEqual(s.training, Array.from(fx.tensor(`${name}/train_indices`).data), name);
      assert.equal(s.validation.length, sc.n_val);
      assert.deepEqual(s.validation.slice(0, sc.val_head.length), sc.val_head);
      assert.deepEqual(s.training.slice(0, sc.train_head.length), sc.train_head);
    }
  },
});

Deno.test("split: SPEC §1.2 validation indices for 484 cases", () => {
  const s = splitIndices(484, 0, 0.2);
  assert.equal(s.validation.length, 96);
  assert.equal(s.training.length, 388);
  assert.deepEqual(s.validation.slice(0, 10), [15, 124, 141, 263, 170, 142, 385, 432, 113, 21]);
  assert.deepEqual(s.validation.slice(-4), [419, 107, 466, 188]);
  assert.deepEqual(s.training.slice(0, 8), [375, 264, 235, 200, 213, 278, 59, 298]);
  assert.deepEqual(splitSection(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], "validation"), [
    "c",
    "i",
  ]);
});

Deno.test("torchRandperm is a permutation and deterministic", () => {
  const p = torchRandperm(50, 7);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(torchRandperm(50, 7), p);
  assert.notDeepEqual(torchRandperm(50, 8), p);
});

Deno.test("MT19937 randint / random / shuffle match numpy legacy RandomState (values recorded from numpy)", () => {
  const r = new MT19937(123);
  assert.deepEqual([0, 1, 2, 3, 4].map(() => r.randint(0, 7)), [6, 5, 6, 2, 4]);
  assert.deepEqual([0, 1, 2].map(() => r.randint(5, 1000)), [103, 747, 22]);
  assert.equal(r.random(), 0.7194689697855631);
  assert.equal(r.randint(0, 2 ** 31), 1817228411);
  const a = Array.from({ length: 20 }, (_, i) => i);
  new MT19937(9).shuffle(a);
  assert.deepEqual(a, [3, 6, 7, 5, 16, 15, 2, 4, 9, 10, 18, 11, 14, 0, 12, 13, 19, 17, 8, 1]);
});
