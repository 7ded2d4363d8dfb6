import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { assertClose, randomArray } from "../_helpers.ts";

await T.init();

function refGroupNorm(
  x: Float32Array,
  shape: number[],
  G: number,
  w: Float32Array | null,
  b: Float32Array | null,
  eps: number,
) {
  const [B, C] = shape, S = x.length / (B * C), Cg = C / G, y = new Float32Array(x.length);
  for (let n = 0; n < B; n++) {
    for (let g = 0; g < G; g++) {
      const start = (n * C + g * Cg) * S, len = Cg * S;
      let mean = 0;
      for (let i = 0; i < len; i++) mean += x[start + i];
      mean /= len;
      let v = 0;
      for (let i = 0; i < len; i++) v += (x[start + i] - mean) ** 2;
      const r = 1 / Math.sqrt(v / len + eps);
      for (let i = 0; i < len; i++) {
        const c = g * Cg + Math.floor(i / S);
        y[start + i] = (x[start + i] - mean) * r * (w ? w[c] : 1) + (b ? b[c] : 0);
      }
    }
  }
  return y;
}

Deno.test("groupNorm / instanceNorm match the TS reference on odd shapes", async () => {
  const shape = [2, 6, 3, 5, 7];
  const x = randomArray(2 * 6 * 105, 1, -2, 3), w = randomArray(6, 2), b = randomArray(6, 3);
  const y = T.groupNorm(T.tensor(x, shape), 3, T.tensor(w, [6]), T.tensor(b, [6]), 1e-6);
  assertClose(await y.data(), refGroupNorm(x, shape, 3, w, b, 1e-6), 1e-4, 1e-5, "groupNorm");
  const yi = T.instanceNorm(T.tensor(x, shape), 1e-5);
  assertClose(await yi.data(), refGroupNorm(x, shape, 6, null, null, 1e-5), 1e-4, 1e-5, "instanceNorm");
  const y2 = T.groupNorm(T.tensor(x, [2, 6, 105]), 2, null, T.tensor(b, [6]));
  assertClose(
    await y2.data(),
    refGroupNorm(x, shape, 2, null, b, 1e-5),
    1e-4,
    1e-5,
    "groupNorm rank 3, bias only",
  );
});

Deno.test("groupNorm / instanceNorm gradcheck (x, weight, bias)", async () => {
  const shape = [2, 4, 3, 2, 3];
  const n = 2 * 4 * 18;
  const r = await T.gradcheck(
    (x, w, b) => T.groupNorm(x, 2, w, b, 1e-5),
    [randomArray(n, 4, -1, 2), randomArray(4, 5), randomArray(4, 6)],
    [shape, [4], [4]],
    { eps: 1e-2, maxProbes: 16 },
  );
  assert.ok(r.maxRelError < 5e-3, `groupNorm gradcheck ${r.maxRelError}`);
  const ri = await T.gradcheck((x) => T.instanceNorm(x, 1e-5), [randomArray(n, 7)], [shape], {
    eps: 1e-2,
    maxProbes: 16,
  });
  assert.ok(ri.maxRelError < 5e-3, `instanceNorm gradcheck ${ri.maxRelError}`);
  const rw = await T.gradcheck(
    (x, w) => T.instanceNorm(x, 1e-5, w, null),
    [randomArray(n, 8), randomArray(4, 9)],
    [shape, [4]],
    { eps: 1e-2, maxProbes: 16 },
  );
  assert.ok(rw.maxRelError < 5e-3, `instanceNorm affine gradcheck ${rw.maxRelError}`);
});

Deno.test("groupNorm statistics are stable for a 1e6-element group with a large mean offset", async () => {
  // One group of 2^20 values: 1000 + small noise (std ≈ 0.577). Σx² − (Σx)²/n in float32 would lose it all.
  const n = 1 << 20, x = randomArray(n, 11, -1, 1);
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - m) ** 2;
  v /= n;
  const shifted = x.map((t) => t + 1000);
  const y = T.groupNorm(T.tensor(shifted, [1, 4, 64, 64, 64]), 1, null, null, 1e-6);
  const yd = await y.data();
  // Compare with the exact normalisation of the unshifted data (float32 input rounding at 1000 is ~3e-5).
  let maxErr = 0, sum = 0, sq = 0;
  for (let i = 0; i < n; i += 97) {
    maxErr = Math.max(maxErr, Math.abs(yd[i] - (x[i] - m) / Math.sqrt(v + 1e-6)));
  }
  for (let i = 0; i < n; i++) {
    sum += yd[i];
    sq += yd[i] * yd[i];
  }
  assert.ok(maxErr < 2e-3, `max error ${maxErr}`);
  assert.ok(Math.abs(sum / n) < 1e-3, `output mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1) < 1e-3, `output variance ${sq / n}`);
});

Deno.test("groupNorm rejects bad input with clear errors", () => {
  const x = T.zeros([1, 6, 2, 2, 2]);
  assert.throws(
    () => T.groupNorm(x, 4),
    /groupNorm: 6 channels cannot be split into 4 groups.*\[1,6,2,2,2\]/,
  );
  assert.throws(() => T.groupNorm(x, 3, T.zeros([5])), /groupNorm: weight must be float32 \[6\]/);
  assert.throws(() => T.instanceNorm(T.zeros([6])), /instanceNorm: input must be \[B, C/);
});
