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
