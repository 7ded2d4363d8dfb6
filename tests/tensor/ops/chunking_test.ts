/**
 * Tensors larger than one storage binding: the test hook lowers the binding limit so the chunked paths
 * (sub-range bindings) run on small data, and results must equal the unchunked ones exactly.
 */
import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import type { WebGpuBackend } from "../../../tensor/webgpu/backend.ts";
import { randomArray } from "../_helpers.ts";

await T.init();
const be = T.backend() as WebGpuBackend;
// The binding limit is a WebGPU notion; the WASM backend has no sub-range bindings to test.
const webgpuOnly = { ignore: be.kind !== "webgpu" };
const LIMIT = 64 << 10; // 64 KiB = 16,384 floats per binding

/** Runs `f` unchunked and with the lowered limit; every output must match exactly (or within tol · max|out|). */
async function same(what: string, f: () => T.Tensor[], tol = 0): Promise<void> {
  const d0 = T.stats().dispatches;
  const plain = f();
  const d1 = T.stats().dispatches;
  const want = await Promise.all(plain.map((t) => t.data()));
  be.setBindingLimitForTests(LIMIT);
  let got: ArrayLike<number>[];
  let d2 = 0, d3 = 0;
  try {
    d2 = T.stats().dispatches;
    const chunked = f();
    d3 = T.stats().dispatches;
    got = await Promise.all(chunked.map((t) => t.data()));
  } finally {
    be.setBindingLimitForTests(null);
  }
  // The lowered limit must actually have split the work.
  assert.ok(
    d3 - d2 > d1 - d0,
    `${what}: ${d3 - d2} dispatches chunked vs ${d1 - d0} plain: nothing was chunked`,
  );
  want.forEach((w, k) => {
    // Chunking may change the summation order: compare relative to the output's largest magnitude.
    let scale = 0;
    for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i]));
    for (let i = 0; i < w.length; i++) {
      const ok = tol === 0 ? Object.is(got[k][i], w[i]) : Math.abs(got[k][i] - w[i]) <= tol * scale;
      if (!ok) assert.fail(`${what}: output ${k} element ${i}: chunked ${got[k][i]} vs ${w[i]}`);
    }
  });
}

Deno.test(
  "elementwise and reductions over tensors larger than the binding limit [WebGPU only: storage-binding limits]",
  webgpuOnly,
  async () => {
    const a = T.tensor(randomArray(100_003, 1), [100_003]), b = T.tensor(randomArray(100_003, 2), [100_003]);
    // Broadcast operands must fit one binding (the output and same-shape operands need not).
    const m = T.tensor(randomArray(30 * 4000, 3), [30, 4000]), r = T.tensor(randomArray(4000, 4), [1, 4000]);
    const v = T.tensor(randomArray(4 * 50_000, 5), [4, 50_000]);
    await same(
      "map",
      () => [T.add(a, b), T.exp(a), T.mul(m, r), T.add(v, T.tensor(randomArray(4, 6), [4, 1]))],
    );
    await same(
      "reduce",
      () => [T.sum(v, 1), T.max(v, 1), T.sum(m, 0), T.mean(v), T.sum(T.reshape(a, [1, 100_003]), 1)],
      1e-5,
    );
  },
);

Deno.test(
  "conv3d (forward, input and weight gradients) and convTranspose3d over tensors larger than the binding limit [WebGPU only: storage-binding limits]",
  webgpuOnly,
  async () => {
    // x [2, 6, 12, 12, 11] is 74 KiB: chunked per sample, per channel group and per output-channel tile.
    const xs = [2, 6, 12, 12, 11], ws = [20, 6, 3, 3, 3];
    const x = T.tensor(randomArray(2 * 6 * 1584, 7), xs),
      w = T.tensor(randomArray(20 * 6 * 27, 8), ws),
      b = T.tensor(randomArray(20, 9), [20]);
    const grads = (opts: T.ConvOptions) => () => {
      const xg = x.detach().requireGrad(), wg = w.detach().requireGrad(), bg = b.detach().requireGrad();
      const y = T.conv3d(xg, wg, bg, opts);
      y.backward(T.tensor(randomArray(y.size, 10), [...y.shape]));
      return [y, xg.grad!, wg.grad!, bg.grad!];
    };
    await same("conv3d s1", grads({ padding: 1 }), 1e-5);
    await same("conv3d s2", grads({ stride: 2, padding: { before: [0, 0, 0], after: [1, 1, 1] } }), 1e-5);
    // Output [2, 10, 10, 12, 10] (94 KiB): chunked over output channels (a 4-channel tile must fit a binding).
    const xt = T.tensor(randomArray(2 * 12 * 150, 13), [2, 12, 5, 6, 5]),
      wt = T.tensor(randomArray(12 * 10 * 8, 11), [12, 10, 2, 2, 2]);
    await same("convTranspose3d", () => {
      const xg = xt.detach().requireGrad(), wg = wt.detach().requireGrad();
      const y = T.convTranspose3d(xg, wg, null, { stride: 2 });
      y.backward(T.tensor(randomArray(y.size, 12), [...y.shape]));
      return [y, xg.grad!, wg.grad!];
    }, 1e-5);
  },
);

Deno.test(
  "upsampling and pooling over tensors larger than the binding limit (chunks of whole planes) [WebGPU only: storage-binding limits]",
  webgpuOnly,
  async () => {
    const x = T.tensor(randomArray(8 * 6 * 7 * 8, 14), [2, 4, 6, 7, 8]); // upsampled ×2: 84 KiB
    const x2 = T.tensor(randomArray(2 * 8 * 33 * 35, 15), [2, 8, 33, 35]);
    const run = (f: (t: T.Tensor) => T.Tensor, src: T.Tensor) => () => {
      const t = src.detach().requireGrad();
      const y = f(t);
      y.backward(T.tensor(randomArray(y.size, 16), [...y.shape]));
      return [y, t.grad!];
    };
    await same("upsampleNearest3d", run((t) => T.upsampleNearest3d(t, 2), x));
    await same("upsampleTrilinear3d", run((t) => T.upsampleTrilinear3d(t, 2), x), 1e-6);
    await same("maxPool2d", run((t) => T.maxPool2d(t, 3, 2, { ceilMode: true }), x2));
    await same("avgPool3d", run((t) => T.avgPool3d(T.upsampleNearest3d(t, 2), 2), x), 1e-6);
  },
);

Deno.test(
  "groupNorm / instanceNorm forward and backward over tensors larger than the binding limit [WebGPU only: storage-binding limits]",
  webgpuOnly,
  async () => {
    const x = T.tensor(randomArray(2 * 8 * 1584, 17, -1, 3), [2, 8, 12, 12, 11]); // 99 KiB
    const xo = T.tensor(randomArray(2 * 6 * 1485, 18), [2, 6, 11, 15, 9]); // odd plane size: scalar kernels
    const run = (f: (t: T.Tensor, w: T.Tensor, b: T.Tensor) => T.Tensor, src: T.Tensor) => () => {
      const C = src.shape[1];
      const t = src.detach().requireGrad();
      const w = T.tensor(randomArray(C, 19), [C]).requireGrad(),
        b = T.tensor(randomArray(C, 20), [C]).requireGrad();
      const y = f(t, w, b);
      y.backward(T.tensor(randomArray(y.size, 21), [...y.shape]));
      return [y, t.grad!, w.grad!, b.grad!];
    };
    await same("groupNorm", run((t, w, b) => T.groupNorm(t, 4, w, b, 1e-6), x), 1e-5);
    await same("instanceNorm odd", run((t, w, b) => T.instanceNorm(t, 1e-5, w, b), xo), 1e-5);
  },
);

Deno.test(
  "fused attention over tensors larger than the binding limit (chunks of whole heads) [WebGPU only: storage-binding limits]",
  webgpuOnly,
  async () => {
    const shape = [2, 3, 300, 16]; // 37.5 KiB per tensor, 19 KiB per head
    const vals = [randomArray(28_800, 22), randomArray(28_800, 23), randomArray(28_800, 24)];
    await same("attention", () => {
      const [q, k, v] = vals.map((x) => T.tensor(x, shape).requireGrad());
      const y = T.attention(q, k, v, 0.25);
      y.backward(T.tensor(randomArray(y.size, 25), [...y.shape]));
      return [y, q.grad!, k.grad!, v.grad!];
    }, 1e-6);
  },
);
