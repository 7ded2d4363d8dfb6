import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { randomArray } from "../_helpers.ts";

await T.init();

Deno.test("3-D ops release every buffer they allocate (forward + backward, repeated)", async () => {
  const t = (shape: number[], seed: number) =>
    T.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape).requireGrad();
  const x = t([2, 8, 6, 7, 9], 1), w = t([8, 8, 3, 3, 3], 2), g = t([8], 3), b = t([8], 4);
  const q = t([1, 2, 30, 8], 5), x2 = t([2, 8, 9, 11], 6), w2 = t([8, 8, 3, 3], 7);
  const ops: [string, () => T.Tensor][] = [
    ["conv3d", () => T.conv3d(x, w, b, { padding: 1, stride: 2 })],
    ["conv2d", () => T.conv2d(x2, w2, null, { padding: 1 })],
    ["convTranspose3d", () => T.convTranspose3d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 })],
    ["groupNorm", () => T.groupNorm(x, 4, g, b)],
    ["instanceNorm", () => T.instanceNorm(x)],
    ["upsampleNearest3d", () => T.upsampleNearest3d(x, 2)],
    ["upsampleTrilinear3d", () => T.upsampleTrilinear3d(x, 2)],
    ["maxPool2d", () => T.maxPool2d(x2, 3, 2, { ceilMode: true })],
    ["avgPool3d", () => T.avgPool3d(x, 2)],
    ["maxPool3d", () => T.maxPool3d(x, 2)],
    ["attention", () => T.attention(q, q, q, 0.3)],
    ["checkpoint", () => T.checkpoint((h) => T.silu(T.conv3d(h, w, null, { padding: 1 })), x)],
  ];
  for (const [name, f] of ops) {
    const before = T.stats().liveBuffers;
    for (let i = 0; i < 2; i++) {
      const y = f();
      const l = T.sum(y);
      l.backward();
      l.dispose();
      y.dispose();
      for (const p of [x, w, g, b, q, x2, w2]) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
    await T.backend().sync();
    assert.equal(T.stats().liveBuffers, before, `${name} leaked buffers`);
  }
});
