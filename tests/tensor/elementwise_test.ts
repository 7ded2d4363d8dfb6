import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { assertClose, randomArray, refBinary } from "./_helpers.ts";

await T.init();

function erf(x: number): number {
  // High-accuracy series/continued-fraction-free approximation for the reference (|err| < 1e-12 via Taylor for small x)
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = 1 - t * Math.exp(
        -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                      t *
                        (-0.18628806 +
                          t *
                            (0.27886807 +
                              t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}

const unaryRefs: [string, (x: T.Tensor) => T.Tensor, (x: number) => number, number, number][] = [
  ["neg", T.neg, (x) => -x, -2, 2],
  ["exp", T.exp, Math.exp, -2, 2],
  ["log", T.log, Math.log, 0.1, 3],
  ["sin", T.sin, Math.sin, -3, 3],
  ["cos", T.cos, Math.cos, -3, 3],
  ["sqrt", T.sqrt, Math.sqrt, 0.1, 4],
  ["rsqrt", T.rsqrt, (x) => 1 / Math.sqrt(x), 0.1, 4],
  ["abs", T.abs, Math.abs, -2, 2],
  ["square", T.square, (x) => x * x, -2, 2],
  ["relu", T.relu, (x) => Math.max(x, 0), -2, 2],
  ["silu", T.silu, (x) => x / (1 + Math.exp(-x)), -4, 4],
  ["sigmoid", T.sigmoid, (x) => 1 / (1 + Math.exp(-x)), -4, 4],
  ["tanh", T.tanh, Math.tanh, -4, 4],
  ["gelu", T.gelu, (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), -3, 3],
];

for (const [name, op, ref, lo, hi] of unaryRefs) {
  Deno.test(`elementwise ${name} matches the TS reference (odd size, vec4 and scalar paths)`, async () => {
    for (const n of [7, 36]) {
      const v = randomArray(n, n + name.length, lo, hi);
      const y = op(T.tensor(v, [n]));
      assertClose(await y.data(), Array.from(v, ref), 2e-6, 2e-6, name);
    }
  });
  Deno.test(`elementwise ${name} gradient passes gradcheck`, async () => {
    const v = randomArray(9, 3, lo, hi);
    // keep away from kinks for abs / relu
    const safe = v.map((x) => (Math.abs(x) < 0.05 ? x + 0.1 : x));
    const r = await T.gradcheck((x) => op(x), [Float32Array.from(safe)], [[9]], { eps: 1e-2 });
    assert.ok(r.maxRelError < 2e-2, `${name} gradcheck rel error ${r.maxRelError}`);
  });
}

Deno.test("tanh stays finite for large inputs", async () => {
  const y = await T.tanh(T.tensor([-100, 100, 0], [3])).data();
  assertClose(y, [-1, 1, 0]);
});

Deno.test("leakyRelu, clamp, affine, powScalar match references and gradients", async () => {
  const v = randomArray(10, 5, -2, 2);
  const x = T.tensor(v, [10]);
  assertClose(await T.leakyRelu(x, 0.2).data(), Array.from(v, (a) => (a > 0 ? a : 0.2 * a)));
  assertClose(await T.clamp(x, -0.5, 0.7).data(), Array.from(v, (a) => Math.min(0.7, Math.max(-0.5, a))));
  assertClose(await T.affine(x, 3, -1).data(), Array.from(v, (a) => 3 * a - 1), 1e-6);
  assertClose(await T.powScalar(x, 3).data(), Array.from(v, (a) => a ** 3), 1e-5, 1e-6);
  assertClose(await T.powScalar(x, 2).data(), Array.from(v, (a) => a ** 2), 1e-5, 1e-6);
  for (
    const f of [
      (t: T.Tensor) => T.leakyRelu(t, 0.2),
      (t: T.Tensor) => T.clamp(t, -0.5, 0.7),
      (t: T.Tensor) => T.powScalar(t, 3),
    ]
  ) {
    const r = await T.gradcheck(f, [
      Float32Array.from(
        v,
        (a) => (Math.abs(a) < 0.1 || Math.abs(a + 0.5) < 0.05 || Math.abs(a - 0.7) < 0.05 ? a + 0.13 : a),
      ),
    ], [[10]]);
    assert.ok(r.maxRelError < 2e-2, `gradcheck ${r.maxRelError}`);
  }
});

const binaryRefs: [string, T.Binary, (a: number, b: number) => number][] = [
  ["add", T.add, (a, b) => a + b],
  ["sub", T.sub, (a, b) => a - b],
  ["mul", T.mul, (a, b) => a * b],
  ["div", T.div, (a, b) => a / b],
  ["maximum", T.maximum, Math.max],
  ["minimum", T.minimum, Math.min],
  ["pow", T.pow, (a, b) => Math.pow(a, b)],
];
const shapePairs: [number[], number[]][] = [[[3, 5], [3, 5]], [[2, 3, 4], [4]], [[2, 1, 5], [3, 1]], [[7], [
  1,
]], [[1, 3], [4, 1]]];

for (const [name, op, ref] of binaryRefs) {
  Deno.test(`binary ${name} broadcasts like NumPy and passes gradcheck`, async () => {
    for (const [sa, sb] of shapePairs) {
      const na = sa.reduce((x, y) => x * y), nb = sb.reduce((x, y) => x * y);
      const positive = name === "pow" || name === "div";
      const va = randomArray(na, 11, positive ? 0.5 : -2, 2),
        vb = randomArray(nb, 12, positive ? 0.5 : -2, 2);
      if (name === "maximum" || name === "minimum") {
        // Keep a and b at least 0.05 apart so finite differences never straddle a tie.
        va.forEach((v, i) => (va[i] = Math.round(v * 10) / 10 + 0.03));
        vb.forEach((v, i) => (vb[i] = Math.round(v * 10) / 10 + 0.08));
      }
      const y = op(T.tensor(va, sa), T.tensor(vb, sb));
      const r = refBinary(va, sa, vb, sb, ref);
      assert.deepEqual([...y.shape], r.shape);
      assertClose(await y.data(), r.data, 1e-5, 1e-6, `${name} [${sa}] [${sb}]`);
      const g = await T.gradcheck((a, b) => op(a, b), [va, vb], [sa, sb], { eps: 1e-2 });
      assert.ok(g.maxRelError < 2e-2, `${name} [${sa}]x[${sb}] gradcheck ${g.maxRelError}`);
    }
  });
}

Deno.test("pow follows PyTorch for negative bases", async () => {
  const y = await T.pow(T.tensor([-2, -2, -2, 0, 0], [5]), T.tensor([2, 3, 0.5, 0, 2], [5])).data();
  assert.equal(y[0], 4);
  assert.equal(y[1], -8);
  assert.ok(Number.isNaN(y[2]));
  assert.equal(y[3], 1);
  assert.equal(y[4], 0);
});

Deno.test("comparisons and where", async () => {
  const a = T.tensor([1, 2, 3, 4], [4]), b = T.tensor([2, 2, 2, 2], [4]);
  assertClose(await T.lt(a, b).data(), [1, 0, 0, 0]);
  assertClose(await T.le(a, b).data(), [1, 1, 0, 0]);
  assertClose(await T.gt(a, b).data(), [0, 0, 1, 1]);
  assertClose(await T.ge(a, b).data(), [0, 1, 1, 1]);
  assertClose(await T.eq(a, b).data(), [0, 1, 0, 0]);
  assertClose(await T.ne(a, b).data(), [1, 0, 1, 1]);
  const w = T.where(T.gt(a, b), a, T.tensor([-1], [1]));
  assertClose(await w.data(), [-1, -1, 3, 4]);
  const g = await T.gradcheck((x, y) => T.where(T.tensor([1, 0, 1], [3]), x, y), [
    randomArray(3, 1),
    randomArray(3, 2),
  ], [[3], [3]]);
  assert.ok(g.maxRelError < 1e-2);
});

Deno.test("casts between float32, int32 and float16", async () => {
  const x = T.tensor([1.7, -2.2, 3.5, 65504, 1e-3], [5]);
  assert.deepEqual([...await T.cast(x, "int32").data()], [1, -2, 3, 65504, 0]);
  const h = T.cast(x, "float16");
  assert.equal(h.dtype, "float16");
  assertClose(await h.data(), [1.7001953125, -2.19921875, 3.5, 65504, 0.0010004043579101562]);
  const back = T.cast(h, "float32");
  assertClose(await back.data(), [1.7001953125, -2.19921875, 3.5, 65504, 0.0010004043579101562]);
  const f16 = T.tensor([0.1, 2.5], [2], "float16");
  assertClose(await f16.data(), [0.0999755859375, 2.5]);
});

Deno.test("bad input: shape mismatch, dtype mismatch, disposed tensor, zero-size dims", () => {
  assert.throws(
    () => T.add(T.zeros([2, 3]), T.zeros([4]) as T.Tensor),
    /add: shapes \[2,3\] and \[4\] cannot be broadcast/,
  );
  assert.throws(() => T.add(T.zeros([2]), T.zeros([2], "int32") as T.Tensor), /dtypes differ/);
  assert.throws(() => T.exp(T.zeros([2], "int32")), /needs a float tensor/);
  const t = T.zeros([2]);
  t.dispose();
  assert.throws(() => T.exp(t), /used after dispose/);
  assert.throws(() => T.zeros([2, 0]), /zero-size dims/);
  assert.throws(() => T.tensor([1, 2, 3], [2, 2]), /do not fill shape/);
});
