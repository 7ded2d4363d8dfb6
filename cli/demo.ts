/**
 * `deno task demo`: the end-to-end job on a built-in default. Until the latent diffusion pipeline is
 * wired into it, it trains a small MLP regressor on generated data with the tensor engine and shows the
 * loss falling.
 */
import * as T from "../tensor/mod.ts";

/** Trains y = sin(3x₀)·cos(2x₁) with a 2→64→64→1 SiLU MLP by SGD; returns the first and last losses. */
export async function trainMlpDemo(steps = 300, log = console.log): Promise<{ first: number; last: number }> {
  await T.init();
  const n = 256;
  const xs = new Float32Array(n * 2), ys = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = Math.sin(i * 12.9898) * 0.5 + Math.sin(i * 0.37) * 0.5, b = Math.cos(i * 78.233) * 0.5 + Math.cos(i * 0.11) * 0.5;
    xs[2 * i] = a;
    xs[2 * i + 1] = b;
    ys[i] = Math.sin(3 * a) * Math.cos(2 * b);
  }
  const x = T.tensor(xs, [n, 2] as const), y = T.tensor(ys, [n, 1] as const);
  const init = (shape: [number, number], stream: string) =>
    T.randn(shape, { seed: 0, stream }, 0, Math.sqrt(2 / shape[0])).keep().requireGrad();
  const params = [init([2, 64], "w1"), init([64, 64], "w2"), init([64, 1], "w3")];
  const lr = 0.05;
  let first = NaN, last = NaN;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const loss = T.scope(() => {
      const h1 = T.silu(T.matmul(x, params[0]));
      const h2 = T.silu(T.matmul(h1, params[1]));
      const out = T.matmul(h2, params[2]);
      const l = T.mean(T.square(T.sub(out, y)));
      l.backward();
      T.noGrad(() => {
        for (const p of params) {
          // In-place SGD: p ← p − lr·g, written straight into the parameter's buffer.
          const updated = T.sub(p as T.Tensor, T.affine(p.grad!, lr));
          T.backend().map("copy", [{ buffer: updated.buffer(), dtype: "float32", strides: null }], p.buffer(), [...p.shape], "float32");
          p.grad!.dispose();
          p.grad = null;
        }
      });
      return l;
    });
    if (step === 1 || step % 50 === 0 || step === steps) {
      const v = await loss.item(); // one readback per logging interval
      if (step === 1) first = v;
      last = v;
      const rate = step / ((performance.now() - t0) / 1000);
      log(`step ${String(step).padStart(4)}/${steps}  loss ${v.toFixed(5)}  ${rate.toFixed(1)} it/s`);
    }
    loss.dispose();
  }
  return { first, last };
}

if (import.meta.main) {
  try {
    const { first, last } = await trainMlpDemo();
    console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)} (${last < first ? "falling" : "NOT falling"})`);
    console.log(`device: ${T.backend().description}; ${JSON.stringify(T.stats())}`);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
