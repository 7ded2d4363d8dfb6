/**
 * Diffusion scheduler benchmarks (`deno bench -A bench/diffusion_bench.ts`) on the recipe's latent
 * 1×8×36×44×28 (SPEC §10.1): the fused DDPM / DDIM step (one kernel), the same step composed from
 * elementwise ops (what fusion saves), and add_noise with device timesteps on a training batch of 3.
 * "×20" entries record 20 steps before one sync, so per-step cost = reported time / 20.
 */
import * as T from "../tensor/mod.ts";
import { DDIMScheduler, DDPMScheduler } from "../diffusion/mod.ts";

await T.init();

const shape = [1, 8, 36, 44, 28] as const;
const schedule = { schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 } as const;
const ddpm = new DDPMScheduler(schedule);
const ddim = new DDIMScheduler({ ...schedule, clipSample: false });
ddim.setTimesteps(50);
const sample = T.randn(shape, { seed: 1, stream: "bench/x" });
const modelOutput = T.randn(shape, { seed: 1, stream: "bench/m" });
const noise = T.randn(shape, { seed: 1, stream: "bench/z" });

function fusedSteps(n: number, withNoise: "injected" | "drawn"): void {
  for (let i = 0; i < n; i++) {
    const t = 999 - i;
    const o = withNoise === "injected" ? { noise } : { generator: { seed: 1, step: i } };
    const r = ddpm.step(modelOutput, t, sample, o);
    r.prevSample.dispose();
    r.predOriginalSample.dispose();
  }
}

/** The DDPM ε step written with generic ops (≈ 9 kernels), for comparison with the fused one. */
function composedStep(t: number): void {
  T.scope(() => {
    const { coefficients: k } = ddpm.stepCoefficients(t);
    const x0 = T.clamp(T.affine(T.add(sample, T.affine(modelOutput, k.b)), 1 / k.c), k.lo, k.hi);
    return T.add(T.add(T.affine(x0, k.p), T.affine(sample, k.q)), T.affine(noise, k.s));
  }).dispose();
}

for (const n of [1, 20]) {
  Deno.bench(`DDPM fused step, injected noise ×${n}`, { group: `step×${n}`, baseline: true }, async () => {
    fusedSteps(n, "injected");
    await T.backend().sync();
  });
  Deno.bench(`DDPM fused step + GPU randn noise ×${n}`, { group: `step×${n}` }, async () => {
    fusedSteps(n, "drawn");
    await T.backend().sync();
  });
  Deno.bench(`DDIM fused step (eta 0) ×${n}`, { group: `step×${n}` }, async () => {
    for (let i = 0; i < n; i++) {
      const r = ddim.step(modelOutput, 980 - 20 * (i % 49), sample);
      r.prevSample.dispose();
      r.predOriginalSample.dispose();
    }
    await T.backend().sync();
  });
  Deno.bench(`DDPM step composed from elementwise ops ×${n}`, { group: `step×${n}` }, async () => {
    for (let i = 0; i < n; i++) composedStep(999 - i);
    await T.backend().sync();
  });
}

const batch = [3, ...shape.slice(1)] as const;
const latents = T.randn(batch, { seed: 2, stream: "bench/latent" });
const batchNoise = T.randn(batch, { seed: 2, stream: "bench/noise" });
const timesteps = T.randint([3], { seed: 2, stream: "bench/t" }, 0, 1000);
Deno.bench("addNoise 3×8×36×44×28, int32 device timesteps ×20", { group: "addNoise" }, async () => {
  for (let i = 0; i < 20; i++) ddpm.addNoise(latents, batchNoise, timesteps).dispose();
  await T.backend().sync();
});
Deno.bench("addNoise 3×8×36×44×28, host timesteps ×20", { group: "addNoise" }, async () => {
  for (let i = 0; i < 20; i++) ddpm.addNoise(latents, batchNoise, [10, 500, 999]).dispose();
  await T.backend().sync();
});
