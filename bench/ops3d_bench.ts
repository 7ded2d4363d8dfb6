/**
 * `deno bench` for the 3-D network ops: conv3d (forward, forward + backward), convTranspose3d, GroupNorm,
 * attention. Every iteration ends with a device sync so timings include execution. On unload a summary
 * with GFLOP/s and conv peak memory (vs input + output + weight + their gradients) is printed.
 * The 1×64×64³ 64→64 conv is heavy on a CPU rasteriser (≈58 GFLOP per forward): set OPS3D_HEAVY=1 to run it.
 */
import * as T from "../tensor/mod.ts";

await T.init();

const heavy = Deno.env.get("OPS3D_HEAVY") === "1";
const summary = new Map<string, { flops: number; times: number[]; note?: string }>();

function bench(
  name: string,
  group: string,
  flops: number,
  fn: () => Promise<void>,
  opts: { n?: number; ignore?: boolean } = {},
) {
  const entry = { flops, times: [] as number[], note: undefined as string | undefined };
  summary.set(name, entry);
  Deno.bench({
    name,
    group,
    n: opts.n ?? 3,
    warmup: 1,
    ignore: opts.ignore,
    async fn() {
      const t0 = performance.now();
      await fn();
      entry.times.push(performance.now() - t0);
    },
  });
  return entry;
}

const rand = (shape: number[], seed: number, scale = 1) => {
  const t = T.randn(shape, { seed, stream: "ops3d" });
  if (scale === 1) return t;
  const s = T.affine(t, scale);
  t.dispose();
  return s;
};

function convCase(
  label: string,
  C: number,
  S: number,
  Co: number,
  k: number,
  stride: number,
  padding: number,
  ignore = false,
) {
  const x = rand([1, C, S, S, S], 1).requireGrad();
  const w = rand([Co, C, k, k, k], 2, 0.05).requireGrad();
  const b = rand([Co], 3).requireGrad();
  const out = Math.floor((S + 2 * padding - k) / stride) + 1;
  const flops = 2 * Co * C * k ** 3 * out ** 3;
  bench(`conv3d fwd ${label}`, "conv3d", flops, async () => {
    T.conv3d(x, w, b, { stride, padding }).dispose();
    await T.backend().sync();
  }, { ignore });
  const gy = rand([1, Co, out, out, out], 4);
  const e = bench(`conv3d fwd+bwd ${label}`, "conv3d", 3 * flops, async () => {
    T.backend().flush();
    const base = T.stats().current;
    T.backend().resetPeak();
    const y = T.conv3d(x, w, b, { stride, padding });
    y.backward(gy);
    await T.backend().sync();
    const extra = T.stats().peak - base;
    // The brief's budget: input + output + weight (+ bias) and all their gradients (dy included).
    const resident = 4 * (x.size + w.size + b.size + gy.size); // already allocated before the step
    const budget = 4 * 2 * (x.size + y.size + w.size + b.size);
    e.note =
      `peak ${((resident + extra) / 2 ** 20).toFixed(1)} MiB = ${
        ((resident + extra) / budget).toFixed(2)
      }× ` +
      `(input + output + weight + grads)`;
    y.dispose();
    for (const t of [x, w, b]) {
      t.grad?.dispose();
      t.grad = null;
    }
  }, { ignore });
}

convCase("1×32×32³ 32→32 k3", 32, 32, 32, 3, 1, 1);
convCase("1×256×16³ 256→256 k3", 256, 16, 256, 3, 1, 1);
convCase("1×64×65³ 64→64 k3 s2", 64, 65, 64, 3, 2, 0);
convCase("1×64×64³ 64→64 k3", 64, 64, 64, 3, 1, 1, !heavy);

{
  const x = rand([1, 64, 32, 32, 32], 5).requireGrad(), w = rand([64, 64, 2, 2, 2], 6, 0.05).requireGrad();
  const flops = 2 * 64 * 64 * 8 * 32 ** 3;
  bench("convTranspose3d fwd 1×64×32³ 64→64 k2 s2 (×2)", "convTranspose3d", flops, async () => {
    T.convTranspose3d(x, w, null, { stride: 2 }).dispose();
    await T.backend().sync();
  });
  const gy = rand([1, 64, 64, 64, 64], 7);
  bench("convTranspose3d fwd+bwd 1×64×32³ 64→64 k2 s2 (×2)", "convTranspose3d", 3 * flops, async () => {
    const y = T.convTranspose3d(x, w, null, { stride: 2 });
    y.backward(gy);
    await T.backend().sync();
    y.dispose();
    for (const t of [x, w]) {
      t.grad?.dispose();
      t.grad = null;
    }
  });
}

{
  const x = rand([1, 64, 64, 64, 64], 8).requireGrad(),
    g = rand([64], 9).requireGrad(),
    b = rand([64], 10).requireGrad();
  const gy = rand([1, 64, 64, 64, 64], 11);
  bench("groupNorm fwd 1×64×64³ 32 groups", "groupNorm", 0, async () => {
    T.groupNorm(x, 32, g, b, 1e-6).dispose();
    await T.backend().sync();
  });
  bench("groupNorm fwd+bwd 1×64×64³ 32 groups", "groupNorm", 0, async () => {
    const y = T.groupNorm(x, 32, g, b, 1e-6);
    y.backward(gy);
    await T.backend().sync();
    y.dispose();
    for (const t of [x, g, b]) {
      t.grad?.dispose();
      t.grad = null;
    }
  });
}

{
  // 5,544 tokens (e.g. 22×18×14 latent), 64 channels as 4 heads of 16.
  const shape = [1, 4, 5544, 16];
  const q = rand(shape, 12).requireGrad(),
    k = rand(shape, 13).requireGrad(),
    v = rand(shape, 14).requireGrad();
  const gy = rand(shape, 15);
  const flops = 4 * 4 * 5544 * 5544 * 16;
  bench("attention fwd 5,544 tokens × 4 heads × 16", "attention", flops, async () => {
    T.attention(q, k, v, 0.25).dispose();
    await T.backend().sync();
  }, { n: 2 });
  bench("attention fwd+bwd 5,544 tokens × 4 heads × 16", "attention", 3.5 * flops, async () => {
    const y = T.attention(q, k, v, 0.25);
    y.backward(gy);
    await T.backend().sync();
    y.dispose();
    for (const t of [q, k, v]) {
      t.grad?.dispose();
      t.grad = null;
    }
  }, { n: 2 });
}

globalThis.addEventListener("unload", () => {
  console.log(`\nops3d summary (${T.backend().description}); median ms per iteration:`);
  for (const [name, e] of summary) {
    if (!e.times.length) continue;
    const t = [...e.times].sort((a, b) => a - b)[Math.floor(e.times.length / 2)];
    const gf = e.flops ? ` ${(e.flops / t / 1e6).toFixed(1)} GFLOP/s` : "";
    console.log(`  ${name}: ${t.toFixed(1)} ms${gf}${e.note ? `; ${e.note}` : ""}`);
  }
});
