import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { assertClose, randomArray } from "../_helpers.ts";

await T.init();

function refUpsample(x: Float32Array, shape: number[], s: number, mode: "nearest" | "trilinear") {
  const [B, C, D, H, W] = shape, O = [D, H, W].map((d) => Math.floor(d * s));
  const y = new Float32Array(B * C * O[0] * O[1] * O[2]);
  const lin = (o: number, n: number): [number, number, number] => {
    const src = Math.max((o + 0.5) / s - 0.5, 0), i0 = Math.min(Math.floor(src), n - 1);
    return [i0, Math.min(i0 + 1, n - 1), src - i0];
  };
  let k = 0;
  for (let bc = 0; bc < B * C; bc++) {
    const at = (d: number, h: number, w: number) => x[((bc * D + d) * H + h) * W + w];
    for (let od = 0; od < O[0]; od++) {
      for (let oh = 0; oh < O[1]; oh++) {
        for (let ow = 0; ow < O[2]; ow++) {
          if (mode === "nearest") {
            y[k++] = at(
              Math.min(Math.floor(od / s), D - 1),
              Math.min(Math.floor(oh / s), H - 1),
              Math.min(Math.floor(ow / s), W - 1),
            );
            continue;
          }
          const [d0, d1, ld] = lin(od, D), [h0, h1, lh] = lin(oh, H), [w0, w1, lw] = lin(ow, W);
          let v = 0;
          for (const [d, wd] of [[d0, 1 - ld], [d1, ld]]) {
            for (const [h, wh] of [[h0, 1 - lh], [h1, lh]]) {
              for (const [w, ww] of [[w0, 1 - lw], [w1, lw]]) v += wd * wh * ww * at(d, h, w);
            }
          }
          y[k++] = v;
        }
      }
    }
  }
  return y;
}

Deno.test("upsampleNearest3d / upsampleTrilinear3d match the TS reference and pass gradcheck", async () => {
  const shape = [1, 2, 3, 4, 5], x = randomArray(120, 1);
  for (const mode of ["nearest", "trilinear"] as const) {
    const f = mode === "nearest" ? T.upsampleNearest3d : T.upsampleTrilinear3d;
    for (const s of [2, 3]) {
      const y = f(T.tensor(x, shape), s);
      assert.deepEqual([...y.shape], [1, 2, 3 * s, 4 * s, 5 * s]);
      assertClose(await y.data(), refUpsample(x, shape, s, mode), 1e-5, 1e-6, `${mode} ×${s}`);
    }
    const r = await T.gradcheck((t) => f(t, 2), [randomArray(2 * 2 * 3 * 2, 2)], [[1, 2, 2, 3, 2]], {
      maxProbes: 24,
    });
    assert.ok(r.maxRelError < 2e-3, `${mode} gradcheck ${r.maxRelError}`);
  }
  assert.throws(
    () => T.upsampleNearest3d(T.zeros([2, 3, 4])),
    /upsampleNearest3d: input must be 5-D.*\[2,3,4\]/,
  );
});

function refMaxPool2d(x: Float32Array, shape: number[], k: number, s: number, p: number, out: number[]) {
  const [B, C, H, W] = shape, y = new Float32Array(B * C * out[0] * out[1]);
  let i = 0;
  for (let bc = 0; bc < B * C; bc++) {
    for (let oh = 0; oh < out[0]; oh++) {
      for (let ow = 0; ow < out[1]; ow++) {
        let m = -Infinity;
        for (let h = oh * s - p; h < oh * s - p + k; h++) {
          for (let w = ow * s - p; w < ow * s - p + k; w++) {
            if (h >= 0 && h < H && w >= 0 && w < W) m = Math.max(m, x[(bc * H + h) * W + w]);
          }
        }
        y[i++] = m;
      }
    }
  }
  return y;
}

Deno.test("maxPool2d: kernel 3 stride 2 ceil mode (SqueezeNet) and padding match PyTorch's sizes and values", async () => {
  const shape = [2, 3, 8, 11], x = randomArray(2 * 3 * 88, 3);
  const y = T.maxPool2d(T.tensor(x, shape), 3, 2, { ceilMode: true });
  assert.deepEqual([...y.shape], [2, 3, 4, 5]); // PyTorch: ceil((8-3)/2)+1 = 4, ceil((11-3)/2)+1 = 5
  assertClose(await y.data(), refMaxPool2d(x, shape, 3, 2, 0, [4, 5]), 0, 0, "ceil mode");
  const y2 = T.maxPool2d(T.tensor(x, shape), 3, 2, { padding: 1 });
  assert.deepEqual([...y2.shape], [2, 3, 4, 6]);
  assertClose(await y2.data(), refMaxPool2d(x, shape, 3, 2, 1, [4, 6]), 0, 0, "padding 1");
  const r = await T.gradcheck(
    (t) => T.maxPool2d(t, 3, 2, { ceilMode: true }),
    [randomArray(1 * 2 * 5 * 6, 4)],
    [[1, 2, 5, 6]],
    {
      eps: 1e-3,
      maxProbes: 30,
    },
  );
  assert.ok(r.maxRelError < 2e-3, `maxPool2d gradcheck ${r.maxRelError}`);
});

Deno.test("maxPool3d / avgPool3d values and gradients", async () => {
  const shape = [1, 2, 4, 5, 3], x = randomArray(120, 5);
  const y = T.avgPool3d(T.tensor(x, shape), 2);
  assert.deepEqual([...y.shape], [1, 2, 2, 2, 1]);
  const yd = await y.data();
  let s = 0;
  for (const d of [0, 1]) for (const h of [0, 1]) for (const w of [0, 1]) s += x[(d * 5 + h) * 3 + w];
  assert.ok(Math.abs(yd[0] - s / 8) < 1e-6);
  const m = T.maxPool3d(T.tensor(x, shape), 2, 1);
  assert.deepEqual([...m.shape], [1, 2, 3, 4, 2]);
  for (
    const f of [(t: T.Tensor) => T.avgPool3d(t, 3, 2, { padding: 1 }), (t: T.Tensor) => T.maxPool3d(t, 2, 1)]
  ) {
    const r = await T.gradcheck(f, [x], [shape], { eps: 1e-3, maxProbes: 24 });
    assert.ok(r.maxRelError < 2e-3, `pool3d gradcheck ${r.maxRelError}`);
  }
  assert.throws(
    () => T.maxPool2d(T.zeros([1, 1, 2, 2]), 3),
    /maxPool2d: kernel \[3,3\] is larger than the padded input \[2,2\]/,
  );
});
