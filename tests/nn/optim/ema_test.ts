import assert from "node:assert/strict";
import { backend, stats, type Tensor, tensor } from "../../../tensor/mod.ts";
import { ExponentialMovingAverage } from "../../../nn/optim/ema.ts";
import { randomArray, setup } from "../_helpers.ts";

await setup();

/** Uploads `data` into `t` in place (a parameter changing between updates, as an optimizer step does). */
function overwrite(t: Tensor, data: Float32Array) {
  backend().upload(t.buffer(), data);
}

Deno.test("EMA: matches d·shadow + (1 − d)·param over updates, with and without the warm-up decay", async () => {
  for (const warmup of [false, true]) {
    const shapes = [[3, 5], [7], [2, 2, 2]];
    const values = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b, 1), 10 + i));
    const params = values.map((v, i) => tensor(v, shapes[i]));
    const shadow = values.map((v, i) => tensor(randomArray(v.length, 50 + i), shapes[i]));
    const ema = new ExponentialMovingAverage(params, shadow, { decay: 0.9, warmup });
    ema.copyFromSource();
    const host = values.map((v) => v.slice());
    for (let n = 0; n < 6; n++) {
      const d = warmup ? Math.min(0.9, (1 + n) / (10 + n)) : 0.9;
      assert.equal(ema.currentDecay(), d);
      const next = values.map((v, i) => randomArray(v.length, 100 * n + i));
      next.forEach((v, i) => overwrite(params[i], v));
      ema.update();
      host.forEach((h, i) => {
        for (let k = 0; k < h.length; k++) h[k] = d * h[k] + (1 - d) * next[i][k];
      });
    }
    assert.equal(ema.updates, 6);
    for (let i = 0; i < shadow.length; i++) {
      const got = (await shadow[i].data()) as Float32Array;
      for (let k = 0; k < got.length; k++) {
        assert.ok(
          Math.abs(got[k] - host[i][k]) <= 1e-6,
          `warmup ${warmup} tensor ${i}[${k}]: ${got[k]} vs ${host[i][k]}`,
        );
      }
    }
    for (const t of [...params, ...shadow]) t.dispose();
  }
});

Deno.test("EMA: copyFromSource is exact; an update is one kernel per tensor and reads nothing back", async () => {
  const values = [randomArray(1000, 1), randomArray(33, 2)];
  const params = values.map((v) => tensor(v, [v.length]));
  const shadow = values.map((v) => tensor(new Float32Array(v.length).fill(123.456), [v.length]));
  const ema = new ExponentialMovingAverage(params, shadow, { decay: 0.999 });
  ema.copyFromSource();
  for (let i = 0; i < values.length; i++) assert.deepEqual(await shadow[i].data(), values[i]);
  const before = stats();
  ema.update();
  const after = stats();
  assert.equal(after.dispatches - before.dispatches, params.length);
  assert.equal(after.readbacks, before.readbacks);
  // Unchanged parameters leave an exact copy unchanged.
  for (let i = 0; i < values.length; i++) {
    const got = (await shadow[i].data()) as Float32Array;
    for (let k = 0; k < got.length; k++) {
      assert.ok(Math.abs(got[k] - values[i][k]) <= 1e-6 * Math.abs(values[i][k]) + 1e-7);
    }
  }
  for (const t of [...params, ...shadow]) t.dispose();
});

Deno.test("EMA: bad input names the problem", () => {
  const a = tensor([1, 2, 3], [3]), b = tensor([1, 2], [2]);
  assert.throws(
    () => new ExponentialMovingAverage([a], [b], { decay: 0.9 }),
    /tensor 0 is float32 \[3\] but its shadow is float32 \[2\]/,
  );
  assert.throws(() => new ExponentialMovingAverage([a], [a], { decay: 1 }), /decay must be in \[0, 1\)/);
  assert.throws(() => new ExponentialMovingAverage([a], [], { decay: 0.5 }), /1 source tensors but 0 shadow/);
  a.dispose();
  b.dispose();
});
