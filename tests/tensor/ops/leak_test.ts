/**
 * Every differentiable export of tensor/mod.ts releases every byte it allocates: 100 rounds of forward +
 * backward leave the allocator's current bytes exactly where they were. The exports are enumerated, so a new
 * function must be added either to `differentiable` (with an argument builder) or to `notDifferentiable`.
 */
import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { randomArray } from "../_helpers.ts";

await T.init();

const param = (shape: number[], seed: number, lo = -1, hi = 1) =>
  T.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape).requireGrad();

// Inputs made once; each round only runs the op and its backward.
const a = param([3, 4], 1), b = param([3, 4], 2), row = param([4], 3), pos = param([3, 4], 4, 0.5, 2);
const x5 = param([2, 4, 4, 5, 6], 5), w5 = param([4, 4, 3, 3, 3], 6), c4 = param([4], 7), d4 = param([4], 8);
const w45 = param([4, 5], 13),
  x4 = param([2, 4, 6, 7], 9),
  w4 = param([4, 4, 3, 3], 10),
  q = param([1, 2, 10, 8], 11);
const cond = T.tensor(randomArray(12, 12).map((v) => (v > 0 ? 1 : 0)), [3, 4]);
const params = [a, b, row, pos, w45, x5, w5, c4, d4, x4, w4, q];

/** One builder per differentiable export: it runs the op on the shared inputs. */
const differentiable: Record<string, () => T.Tensor> = {
  neg: () => T.neg(a),
  exp: () => T.exp(a),
  log: () => T.log(pos),
  sin: () => T.sin(a),
  cos: () => T.cos(a),
  sqrt: () => T.sqrt(pos),
  rsqrt: () => T.rsqrt(pos),
  abs: () => T.abs(a),
  sign: () => T.sign(a),
  square: () => T.square(a),
  relu: () => T.relu(a),
  silu: () => T.silu(a),
  sigmoid: () => T.sigmoid(a),
  tanh: () => T.tanh(a),
  gelu: () => T.gelu(a),
  leakyRelu: () => T.leakyRelu(a, 0.2),
  clamp: () => T.clamp(a, -0.3, 0.4),
  affine: () => T.affine(a, 2, 1),
  powScalar: () => T.powScalar(pos, 2.5),
  add: () => T.add(a, row),
  sub: () => T.sub(a, row),
  mul: () => T.mul(a, row),
  div: () => T.div(a, pos),
  pow: () => T.pow(pos, a),
  maximum: () => T.maximum(a, b),
  minimum: () => T.minimum(a, row),
  where: () => T.where(cond, a, row),
  cast: () => T.cast(a, "float32"),
  matmul: () => T.matmul(a, w45),
  reshape: () => T.reshape(a, [2, 6]),
  permute: () => T.permute(x5, [0, 2, 1, 4, 3]),
  transpose: () => T.transpose(a, 0, 1),
  slice: () => T.slice(x5, [0, 1, 0, 1, 2], [2, 3, 4, 5, 5]),
  concat: () => T.concat([a, b, pos], 1),
  pad: () => T.pad(a, [1, 0], [0, 2], 0.5),
  expand: () => T.expand(row, [3, 4]),
  indexSelect: () => T.indexSelect(a, 1, [3, 0, 0]),
  sum: () => T.sum(x5, [1, 3], true),
  mean: () => T.mean(x5, [0, 2]),
  max: () => T.max(a, 1),
  min: () => T.min(a, 0, true),
  variance: () => T.variance(x5, [2, 3, 4]),
  softmax: () => T.softmax(a, -1),
  logSoftmax: () => T.logSoftmax(a, 0),
  conv3d: () => T.conv3d(x5, w5, c4, { padding: 1, stride: 2 }),
  conv2d: () => T.conv2d(x4, w4, null, { padding: 1 }),
  convTranspose3d: () => T.convTranspose3d(x5, w5, c4, { stride: 2, padding: 1, outputPadding: 1 }),
  groupNorm: () => T.groupNorm(x5, 2, c4, d4),
  instanceNorm: () => T.instanceNorm(x5),
  upsampleNearest3d: () => T.upsampleNearest3d(x5, 2),
  upsampleTrilinear3d: () => T.upsampleTrilinear3d(x5, 2),
  maxPool2d: () => T.maxPool2d(x4, 3, 2, { ceilMode: true }),
  avgPool2d: () => T.avgPool2d(x4, 2),
  maxPool3d: () => T.maxPool3d(x5, 2),
  avgPool3d: () => T.avgPool3d(x5, 2),
  attention: () => T.attention(q, q, q, 0.3),
  checkpoint: () => T.checkpoint((h) => T.silu(T.conv3d(h, w5, null, { padding: 1 })), x5),
};

/** Exports that record no autograd node (creation, comparison, raw kernels, host helpers, plumbing). */
const notDifferentiable = new Set([
  "Storage",
  "Tensor",
  "empty",
  "scope",
  "scopeAsync",
  "record",
  "noGrad",
  "enableGrad",
  "isGradEnabled",
  "init",
  "backend",
  "backendSummary",
  "poolOutputSize",
  "stats",
  "getDevice",
  "hasHardwareGpu",
  "parseBackendChoice",
  "gradcheck",
  "tensor",
  "full",
  "zeros",
  "ones",
  "zerosLike",
  "onesLike",
  "arange",
  "narrowF16",
  "rand",
  "randn",
  "randint",
  "randperm",
  "permutationHost",
  "philox4x32",
  "streamId",
  "toUnit",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "argmax",
  "argmin",
  "mapRaw",
  "matmulRaw",
  "sumToShape",
  "sizeOf",
  "stridesOf",
  "broadcastShapes",
  "broadcastStrides",
  "normAxis",
  "checkShape",
  "sameShape",
  "collapseDims",
]); // deno-fmt-ignore

/** One forward + backward round; disposes everything the round made that outlives it. */
function round(f: () => T.Tensor): void {
  const y = f();
  assert.ok(y.requiresGrad, "the output records a gradient");
  const y2 = T.mul(y, y); // a non-constant upstream gradient (sum alone would give softmax a zero one)
  const loss = T.sum(y2);
  loss.backward();
  for (const t of [loss, y2, y]) t.dispose();
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}

Deno.test("every function export of tensor/mod.ts is classified as differentiable (with a builder) or not", () => {
  const fns = Object.entries(T).filter(([, v]) => typeof v === "function").map(([k]) => k);
  const unclassified = fns.filter((k) => !(k in differentiable) && !notDifferentiable.has(k));
  assert.deepEqual(
    unclassified,
    [],
    "add a builder to `differentiable` (or list the export as not differentiable)",
  );
  const both = fns.filter((k) => k in differentiable && notDifferentiable.has(k));
  assert.deepEqual(both, []);
  const stale = [...Object.keys(differentiable), ...notDifferentiable].filter((k) => !fns.includes(k));
  assert.deepEqual(stale, [], "names that are no longer exported");
});

for (const [name, f] of Object.entries(differentiable)) {
  Deno.test(`${name}: current bytes identical after 100 forward+backward rounds`, async () => {
    round(f); // first use may grow pools and caches
    await T.backend().sync();
    const before = T.stats();
    for (let i = 0; i < 100; i++) round(f);
    await T.backend().sync();
    const after = T.stats();
    assert.equal(after.current, before.current, `${name} leaked ${after.current - before.current} bytes`);
    assert.equal(after.liveBuffers, before.liveBuffers, `${name} leaked buffers`);
  });
}

// q holds two (batch, head) slices of [10, 10] scores: one chunk of both, or two chunks of one.
for (const chunks of [1, 2]) {
  Deno.test(`attention on the composed path (${chunks} chunk(s)) releases everything too`, async () => {
    const saved = { ...T.attentionLimits };
    Object.assign(T.attentionLimits, { fused: false, scoreBytes: (2 / chunks) * 10 * 10 * 4 });
    try {
      round(differentiable.attention);
      await T.backend().sync();
      const before = T.stats().current;
      for (let i = 0; i < 100; i++) round(differentiable.attention);
      await T.backend().sync();
      assert.equal(T.stats().current, before);
    } finally {
      Object.assign(T.attentionLimits, saved);
    }
  });
}

Deno.test("backward() frees its own temporaries even when called outside any scope", async () => {
  // sqrt and cos leaked a temporary per backward before backward ran each node in a scope.
  const f = () => T.scope(() => T.sqrt(T.add(T.cos(pos), T.affine(pos, 0, 2))));
  round(f);
  await T.backend().sync();
  const before = T.stats().current;
  for (let i = 0; i < 100; i++) round(f);
  await T.backend().sync();
  assert.equal(T.stats().current, before);
});
