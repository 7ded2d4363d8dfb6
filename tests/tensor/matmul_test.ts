import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { matmulRaw } from "../../tensor/ops/matmul.ts";
import { assertClose, randomArray } from "./_helpers.ts";

await T.init();

function refMatmul(
  a: Float32Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  ta = false,
  tb = false,
) {
  const c = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += (ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
      }
      c[m * N + n] = s;
    }
  }
  return c;
}

Deno.test("matmul matches the TS reference: aligned (vec4) and odd sizes, all transposes", async () => {
  // 263 = the WASM core's K block (256) + 7: the second block accumulates into C with an odd step count.
  for (const [M, K, N] of [[8, 8, 8], [5, 7, 3], [13, 16, 20], [1, 9, 1], [33, 12, 17], [14, 263, 19]]) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = randomArray(M * K, M + K), b = randomArray(K * N, K + N);
      const A = T.tensor(a, ta ? [K, M] : [M, K]), B = T.tensor(b, tb ? [N, K] : [K, N]);
      const c = matmulRaw(A, B, ta, tb);
      assertClose(await c.data(), refMatmul(a, b, M, K, N, ta, tb), 1e-5, 1e-5, `${M}x${K}x${N} ${ta} ${tb}`);
    }
  }
});

Deno.test("batched matmul broadcasts a single matrix over the batch", async () => {
  const a = randomArray(3 * 4 * 5, 1), b = randomArray(5 * 6, 2);
  const c = T.matmul(T.tensor(a, [3, 4, 5] as const), T.tensor(b, [5, 6] as const));
  assert.deepEqual([...c.shape], [3, 4, 6]);
  const d = await c.data();
  for (let i = 0; i < 3; i++) {
    assertClose(
      d.slice(i * 24, i * 24 + 24),
      refMatmul(a.slice(i * 20, i * 20 + 20), b, 4, 5, 6),
      1e-5,
      1e-5,
    );
  }
  assert.throws(() => T.matmul(T.zeros([2, 3]), T.zeros([4, 5]) as T.Tensor), /inner dims differ/);
});

Deno.test("matmul gradients pass gradcheck (2-D and broadcast batch)", async () => {
  const r1 = await T.gradcheck((a, b) => T.matmul(a, b), [randomArray(12, 1), randomArray(20, 2)], [[3, 4], [
    4,
    5,
  ]]);
  assert.ok(r1.maxRelError < 1e-2, `${r1.maxRelError}`);
  const r2 = await T.gradcheck((a, b) => T.matmul(a, b), [randomArray(24, 3), randomArray(20, 4)], [
    [2, 3, 4],
    [4, 5],
  ]);
  assert.ok(r2.maxRelError < 1e-2, `${r2.maxRelError}`);
});
