import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { assertClose, randomArray, strides } from "./_helpers.ts";

await T.init();

/** Plain-TS reduction over axes with keepDim shape. */
function refReduce(x: Float32Array, shape: number[], axes: number[], f: (vals: number[]) => number) {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const so = strides(outShape), sx = strides(shape);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / sx[d]) % shape[d];
      if (!axes.includes(d)) o += c * so[d];
    }
    if (!groups.has(o)) groups.set(o, []);
    groups.get(o)!.push(x[i]);
  }
  const n = outShape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, o) => f(groups.get(o)!));
}

const sumF = (v: number[]) => v.reduce((a, b) => a + b, 0);
const meanF = (v: number[]) => sumF(v) / v.length;
const varF = (v: number[]) => {
  const m = meanF(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
};

const cases: [number[], number[]][] = [[[5], [0]], [[3, 4], [1]], [[3, 4], [0]], [[2, 3, 5], [0, 2]], [[
  2,
  3,
  4,
  5,
], [1, 2]], [[3, 7], [0, 1]]];

Deno.test("sum, mean, max, min, var over any axes match the TS reference", async () => {
  for (const [shape, axes] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = randomArray(n, n);
    const x = T.tensor(v, shape);
    assertClose(
      await T.sum(x, axes, true).data(),
      refReduce(v, shape, axes, sumF),
      1e-5,
      1e-5,
      `sum ${shape}/${axes}`,
    );
    assertClose(await T.mean(x, axes).data(), refReduce(v, shape, axes, meanF), 1e-5, 1e-6, "mean");
    assertClose(await T.max(x, axes).data(), refReduce(v, shape, axes, (g) => Math.max(...g)), 0, 0, "max");
    assertClose(await T.min(x, axes).data(), refReduce(v, shape, axes, (g) => Math.min(...g)), 0, 0, "min");
    assertClose(await T.variance(x, axes).data(), refReduce(v, shape, axes, varF), 1e-4, 1e-6, "var");
  }
});

Deno.test("reductions: shapes with and without keepDim", () => {
  const x = T.zeros([2, 3, 4] as const);
  assert.deepEqual([...T.sum(x, [1], true).shape], [2, 1, 4]);
  assert.deepEqual([...T.sum(x, [1]).shape], [2, 4]);
  assert.deepEqual([...T.sum(x).shape], [1]);
  assert.deepEqual([...T.mean(x, -1).shape], [2, 3]);
  assert.throws(() => T.sum(x, [3]), /axis 3 out of range/);
});

Deno.test("a large full sum uses the two-pass path and stays accurate", async () => {
  const n = 1 << 20;
  const v = randomArray(n, 3, 0, 1);
  let ref = 0;
  for (const a of v) ref += a;
  const s = await T.sum(T.tensor(v, [n])).item();
  assert.ok(Math.abs(s - ref) / ref < 1e-5, `${s} vs ${ref}`);
});

Deno.test("argmax / argmin return int32 indices (first on ties)", async () => {
  const x = T.tensor([1, 5, 5, 2, -1, 0, -1, 3], [2, 4]);
  assert.deepEqual([...await T.argmax(x, 1).data()], [1, 3]);
  assert.deepEqual([...await T.argmin(x, 1).data()], [0, 0]);
  assert.deepEqual([...await T.argmax(x, 0).data()], [0, 0, 0, 1]);
});

Deno.test("reduction gradients pass gradcheck", async () => {
  const v = randomArray(24, 4);
  for (
    const f of [
      (t: T.Tensor) => T.sum(t, [1]),
      (t: T.Tensor) => T.mean(t, [0, 2], true),
      (t: T.Tensor) => T.max(t, [2]),
      (t: T.Tensor) => T.min(t, [0]),
      (t: T.Tensor) => T.variance(t, [1, 2]),
      (t: T.Tensor) => T.softmax(t, 1),
      (t: T.Tensor) => T.logSoftmax(t, -1),
    ]
  ) {
    const r = await T.gradcheck(f, [v], [[2, 3, 4]]);
    assert.ok(r.maxRelError < 2e-2, `gradcheck ${f} → ${r.maxRelError}`);
  }
});

Deno.test("softmax / logSoftmax are stable for large logits", async () => {
  const x = T.tensor([1000, 1001, 1002, -5, 0, 5], [2, 3]);
  const s = await T.softmax(x, 1).data();
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const z = e[0] + e[1] + e[2];
  assertClose(s.slice(0, 3), e.map((v) => v / z), 1e-5);
  const ls = await T.logSoftmax(x, 1).data();
  assertClose(ls.slice(0, 3), e.map((v) => Math.log(v / z)), 1e-5, 1e-5);
});

Deno.test("permute / transpose / reshape match the TS reference", async () => {
  const shape = [2, 3, 4, 5];
  const v = randomArray(120, 9);
  const x = T.tensor(v, shape);
  const perm = [2, 0, 3, 1];
  const y = T.permute(x, perm as [number, number, number, number]);
  assert.deepEqual([...y.shape], [4, 2, 5, 3]);
  const sx = strides(shape), sy = strides([...y.shape]);
  const ref = new Float32Array(120);
  for (let i = 0; i < 120; i++) {
    const c = [...y.shape].map((d, k) => Math.floor(i / sy[k]) % d);
    let off = 0;
    c.forEach((ci, k) => (off += ci * sx[perm[k]]));
    ref[i] = v[off];
  }
  assertClose(await y.data(), ref, 0, 0);
  const t = T.transpose(T.tensor(v.slice(0, 6), [2, 3]), 0, 1);
  assertClose(await t.data(), [v[0], v[3], v[1], v[4], v[2], v[5]], 0, 0);
  assert.deepEqual([...T.reshape(x, [6, -1]).shape], [6, 20]);
  assert.throws(() => T.reshape(x, [7, -1]), /cannot view \[2,3,4,5\]/);
  assert.throws(() => T.permute(x, [0, 1, 1, 2] as number[]), /not a permutation/);
  for (
    const f of [
      (a: T.Tensor) => T.permute(a, [2, 0, 3, 1] as number[]),
      (a: T.Tensor) => T.reshape(a, [6, 20]),
    ]
  ) {
    const r = await T.gradcheck(f, [v], [shape]);
    assert.ok(r.maxRelError < 1e-2);
  }
});

Deno.test("slice, pad (asymmetric), concat, expand, indexSelect: values and gradients", async () => {
  const v = randomArray(60, 2);
  const shape = [3, 4, 5];
  const x = T.tensor(v, shape);
  const s = T.slice(x, [1, 0, 2], [3, 3, 5]);
  assert.deepEqual([...s.shape], [2, 3, 3]);
  const sd = await s.data();
  assert.equal(sd[0], v[1 * 20 + 0 * 5 + 2]);
  assert.equal(sd[sd.length - 1], v[2 * 20 + 2 * 5 + 4]);
  const p = T.pad(T.tensor([1, 2, 3, 4], [2, 2]), [0, 1], [1, 0], 9);
  assert.deepEqual([...await p.data()], [9, 1, 2, 9, 3, 4, 9, 9, 9]);
  const c = T.concat([T.tensor([1, 2], [1, 2]), T.tensor([3, 4, 5, 6], [2, 2])], 0);
  assert.deepEqual([...await c.data()], [1, 2, 3, 4, 5, 6]);
  const c1 = T.concat([T.tensor([1, 2], [2, 1]), T.tensor([3, 4, 5, 6], [2, 2])], 1);
  assert.deepEqual([...await c1.data()], [1, 3, 4, 2, 5, 6]);
  const e = T.expand(T.tensor([1, 2], [2, 1]), [3, 2, 2]);
  assert.deepEqual([...await e.data()], [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2]);
  const g = T.indexSelect(x, 1, [3, 0, 3]);
  assert.deepEqual([...g.shape], [3, 3, 5]);
  assert.equal((await g.data())[5], v[0]);
  assert.throws(() => T.indexSelect(x, 1, [4]), /index 4 out of range/);
  assert.throws(() => T.concat([T.zeros([2, 2]), T.zeros([3, 3])], 0), /differ outside axis/);
  const checks: [(...a: T.Tensor[]) => T.Tensor, Float32Array[], number[][]][] = [
    [(a) => T.slice(a, [1, 0, 2], [3, 3, 5]), [v], [shape]],
    [(a) => T.pad(a, [0, 1, 0], [1, 0, 2]), [v], [shape]],
    [(a, b) => T.concat([a, b], 1), [v, randomArray(15, 3)], [shape, [3, 1, 5]]],
    [(a) => T.expand(a, [2, 3, 4, 5]), [v], [[3, 1, 5]].map((s) => s).length ? [[3, 1, 5]] : [shape]],
    [(a) => T.indexSelect(a, 1, [3, 0, 3]), [v], [shape]],
  ];
  checks[3][1] = [randomArray(15, 4)];
  for (const [f, vals, shapes] of checks) {
    const r = await T.gradcheck(f, vals, shapes);
    assert.ok(r.maxRelError < 1e-2, `gradcheck ${r.maxRelError}`);
  }
});
