/** `deno bench` for the tensor engine: matmul, elementwise bandwidth, dispatch overhead, readback. */
import * as T from "../tensor/mod.ts";

await T.init();

for (const n of [256, 512, 1024]) {
  const a = T.randn([n, n], { seed: 1, stream: "a" }), b = T.randn([n, n], { seed: 1, stream: "b" });
  Deno.bench(`matmul ${n}³`, { group: "matmul" }, async () => {
    T.matmul(a, b).dispose();
    await T.backend().sync();
  });
}

const big = T.randn([1 << 24], { seed: 2, stream: "x" }), big2 = T.randn([1 << 24], { seed: 2, stream: "y" });
Deno.bench("add 16M floats", async () => {
  T.add(big, big2).dispose();
  await T.backend().sync();
});

const small = T.zeros([256]);
Deno.bench("1000 chained small ops, one sync", async () => {
  let x = T.affine(small, 1, 0);
  for (let i = 0; i < 999; i++) {
    const y = T.affine(x, 1, 1);
    x.dispose();
    x = y;
  }
  await x.data();
  x.dispose();
});

const mb4 = T.zeros([1 << 20]);
Deno.bench("readback 4 MiB", async () => {
  await mb4.data();
});
