import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { attentionLimits } from "../../../tensor/ops/attention.ts";
import { assertClose, randomArray } from "../_helpers.ts";

await T.init();

function refAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  BH: number,
  Tq: number,
  Tk: number,
  d: number,
  dv: number,
  scale: number,
) {
  const o = new Float32Array(BH * Tq * dv);
  for (let s = 0; s < BH; s++) {
    for (let i = 0; i < Tq; i++) {
      const row = new Float64Array(Tk);
      let m = -Infinity;
      for (let j = 0; j < Tk; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(s * Tq + i) * d + c] * k[(s * Tk + j) * d + c];
        row[j] = dot * scale;
        m = Math.max(m, row[j]);
      }
      let z = 0;
      for (let j = 0; j < Tk; j++) z += row[j] = Math.exp(row[j] - m);
      for (let c = 0; c < dv; c++) {
        let acc = 0;
        for (let j = 0; j < Tk; j++) acc += (row[j] / z) * v[(s * Tk + j) * dv + c];
        o[(s * Tq + i) * dv + c] = acc;
      }
    }
  }
  return o;
}

// [B, H, Tq, Tk, d, dv, scale]: odd T, cross-attention lengths, keys past one 64-column block, large logits.
const REF_CASES = [
  [1, 2, 7, 7, 5, 5, 5 ** -0.5],
  [2, 3, 5, 9, 4, 6, 0.5],
  [2, 2, 9, 70, 8, 12, 0.4],
  [1, 1, 6, 6, 3, 3, 40],
];

for (const fused of [true, false]) {
  Deno.test(`attention (${fused ? "fused kernels" : "composed, chunked"}) matches the TS reference (odd T, cross-attention lengths, large logits)`, async () => {
    attentionLimits.fused = fused;
    for (
      const [B, H, Tq, Tk, d, dv, scale] of REF_CASES
    ) {
      const q = randomArray(B * H * Tq * d, 1),
        k = randomArray(B * H * Tk * d, 2),
        v = randomArray(B * H * Tk * dv, 3);
      const o = T.attention(
        T.tensor(q, [B, H, Tq, d]),
        T.tensor(k, [B, H, Tk, d]),
        T.tensor(v, [B, H, Tk, dv]),
        scale,
      );
      assert.deepEqual([...o.shape], [B, H, Tq, dv]);
      const od = await o.data();
      assert.ok(od.every(Number.isFinite), "finite with large logits");
      assertClose(
        od,
        refAttention(q, k, v, B * H, Tq, Tk, d, dv, scale),
        1e-4,
        1e-5,
        `attention ${[B, H, Tq, Tk, d, dv]}`,
      );
    }
    attentionLimits.fused = true;
  });
}

Deno.test("attention gradcheck (fused and composed); chunked composed heads and fused kernels agree", async () => {
  const shape = [2, 2, 5, 3];
  const vals = [randomArray(60, 4), randomArray(60, 5), randomArray(60, 6)];
  // Head size 3 and 4: the WASM backend's row-at-a-time and blocked fused kernels.
  const shape4 = [1, 2, 5, 4];
  const vals4 = [randomArray(40, 8), randomArray(40, 9), randomArray(40, 10)];
  for (const [s, v] of [[shape, vals], [shape4, vals4]] as const) {
    for (const fused of [true, false]) {
      attentionLimits.fused = fused;
      const r = await T.gradcheck((q, k, v) => T.attention(q, k, v, 0.7), [...v], [s, s, s], {
        eps: 1e-2,
        maxProbes: 16,
      });
      attentionLimits.fused = true;
      assert.ok(r.maxRelError < 3e-3, `attention gradcheck [${s}] (fused ${fused}) ${r.maxRelError}`);
    }
  }
  const run = async () => {
    const ts = vals.map((v) => T.tensor(v, shape).requireGrad());
    const o = T.attention(ts[0], ts[1], ts[2], 0.7);
    T.sum(T.mul(o, T.tensor(randomArray(60, 7), shape))).backward();
    return [await o.data(), ...(await Promise.all(ts.map((t) => t.grad!.data())))];
  };
  const fusedResult = await run();
  attentionLimits.fused = false;
  const whole = await run();
  const saved = attentionLimits.scoreBytes;
  attentionLimits.scoreBytes = 5 * 5 * 4; // one (batch, head) score matrix at a time
  try {
    const chunked = await run();
    whole.forEach((w, i) => assertClose(chunked[i], w, 1e-6, 1e-7, `chunked ${i}`));
  } finally {
    attentionLimits.scoreBytes = saved;
    attentionLimits.fused = true;
  }
  whole.forEach((w, i) => assertClose(fusedResult[i], w, 1e-5, 1e-6, `fused vs composed ${i}`));
  assert.throws(
    () => T.attention(T.zeros([1, 2, 3]), T.zeros([1, 2, 3]), T.zeros([1, 2, 3]), 1),
    /attention: q must be 4-D/,
  );
  assert.throws(
    () => T.attention(T.zeros([1, 2, 3, 4]), T.zeros([1, 2, 3, 5]), T.zeros([1, 2, 3, 4]), 1),
    /attention: shapes/,
  );
});
