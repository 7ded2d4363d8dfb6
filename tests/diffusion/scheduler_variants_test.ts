/**
 * Scheduler configurations no fixture covers (other numbers of train / inference steps, steps_offset, DDIM η,
 * set_alpha_to_one, prediction types, clipping, variance types), checked against a float64 plain-TS transcription
 * of MONAI 1.4's DDPMScheduler / DDIMScheduler (`set_timesteps`, `step`, `_get_variance`).
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { DDIMScheduler, DDPMScheduler, type Scheduler } from "../../diffusion/mod.ts";
import { relError } from "../fixtures.ts";
import { randomArray } from "../nn/_helpers.ts";

await T.init();

type Pred = "epsilon" | "sample" | "v_prediction";

interface Variant {
  kind: "ddpm" | "ddim";
  T: number;
  schedule: "linear_beta" | "scaled_linear_beta";
  betaStart: number;
  betaEnd: number;
  N: number | null;
  pred: Pred;
  clip: boolean;
  varianceType?: "fixed_small" | "fixed_large";
  stepsOffset?: number;
  eta?: number;
  setAlphaToOne?: boolean;
}

/** torch.linspace(a, b, n) (float64 here). */
const linspace = (a: number, b: number, n: number) =>
  Array.from({ length: n }, (_, i) => (n === 1 ? a : a + (b - a) * i / (n - 1)));

/** The float32 arrays MONAI holds (torch.linspace, 1 − β and torch.cumprod, all in float32). */
function refSchedule(v: Variant): { betas: number[]; alphas: number[]; acp: number[] } {
  const f = Math.fround;
  const betas = v.schedule === "linear_beta"
    ? linspace(v.betaStart, v.betaEnd, v.T).map(f)
    : linspace(Math.sqrt(v.betaStart), Math.sqrt(v.betaEnd), v.T).map((b) => f(f(b) * f(b)));
  const alphas = betas.map((b) => f(1 - b));
  const acp: number[] = [];
  alphas.reduce((p, a) => (acp.push(f(p * a)), f(p * a)), 1);
  return { betas, alphas, acp };
}

/** set_timesteps: (arange(N)·(T // N)) reversed (+ steps_offset for DDIM); before it, arange(T) reversed. */
function refTimesteps(v: Variant): number[] {
  if (v.N === null) return Array.from({ length: v.T }, (_, i) => v.T - 1 - i);
  const ratio = Math.floor(v.T / v.N);
  const off = v.kind === "ddim" ? v.stepsOffset ?? 0 : 0;
  return Array.from({ length: v.N }, (_, i) => (v.N! - 1 - i) * ratio + off);
}

/** One MONAI step on the host: returns [prev_sample, pred_original_sample]. */
function refStep(
  v: Variant,
  s: ReturnType<typeof refSchedule>,
  t: number,
  x: number[],
  m: number[],
  z: number[],
) {
  // 1 − ᾱ is formed in float32 as MONAI does: near t = 0 (ᾱ ≈ 1) its rounding is visible at 1e-4.
  const a = s.acp[t], b = Math.fround(1 - a);
  const x0 = x.map((xi, i) =>
    v.pred === "epsilon"
      ? (xi - Math.sqrt(b) * m[i]) / Math.sqrt(a)
      : v.pred === "sample"
      ? m[i]
      : Math.sqrt(a) * xi - Math.sqrt(b) * m[i]
  );
  const clip = (u: number) => (v.clip ? Math.min(Math.max(u, -1), 1) : u);
  if (v.kind === "ddpm") {
    const ap = t > 0 ? s.acp[t - 1] : 1, bp = Math.fround(1 - ap);
    const c0 = Math.sqrt(ap) * s.betas[t] / b, ct = Math.sqrt(s.alphas[t]) * bp / b;
    let variance = 0;
    if (t > 0) {
      variance = v.varianceType === "fixed_large" ? s.betas[t] : Math.max(bp / b * s.betas[t], 1e-20);
    }
    const prev = x.map((xi, i) => c0 * clip(x0[i]) + ct * xi + Math.sqrt(variance) * z[i]);
    return [prev, x0.map(clip)];
  }
  const prevT = t - Math.floor(v.T / v.N!);
  const ap = prevT >= 0 ? s.acp[prevT] : (v.setAlphaToOne ?? true) ? 1 : s.acp[0];
  // pred_epsilon comes from the unclipped x̂0 (MONAI 1.4 does not recompute it after clipping).
  const eps = x.map((xi, i) =>
    v.pred === "epsilon"
      ? m[i]
      : v.pred === "sample"
      ? (xi - Math.sqrt(a) * m[i]) / Math.sqrt(b)
      : Math.sqrt(a) * m[i] + Math.sqrt(b) * xi
  );
  const variance = (1 - ap) / b * (1 - a / ap);
  const std = (v.eta ?? 0) * Math.sqrt(variance);
  const prev = x.map((_, i) =>
    Math.sqrt(ap) * clip(x0[i]) + Math.sqrt(1 - ap - std * std) * eps[i] + ((v.eta ?? 0) > 0 ? std * z[i] : 0)
  );
  return [prev, x0.map(clip)];
}

function build(v: Variant): Scheduler {
  const common = {
    numTrainTimesteps: v.T,
    schedule: v.schedule,
    betaStart: v.betaStart,
    betaEnd: v.betaEnd,
    predictionType: v.pred,
    clipSample: v.clip,
  };
  const s = v.kind === "ddpm"
    ? new DDPMScheduler({ ...common, varianceType: v.varianceType ?? "fixed_small" })
    : new DDIMScheduler({
      ...common,
      stepsOffset: v.stepsOffset ?? 0,
      eta: v.eta ?? 0,
      setAlphaToOne: v.setAlphaToOne ?? true,
    });
  if (v.N !== null) s.setTimesteps(v.N);
  return s;
}

const base = { betaStart: 0.0015, betaEnd: 0.0195, clip: false };
const variants: Variant[] = [
  { kind: "ddpm", T: 600, schedule: "linear_beta", N: null, pred: "epsilon", ...base },
  { kind: "ddpm", T: 1000, schedule: "scaled_linear_beta", N: 37, pred: "v_prediction", ...base, clip: true },
  {
    kind: "ddpm",
    T: 250,
    schedule: "linear_beta",
    N: 250,
    pred: "sample",
    ...base,
    varianceType: "fixed_large",
  },
  {
    kind: "ddpm",
    T: 1000,
    schedule: "scaled_linear_beta",
    N: 3,
    pred: "epsilon",
    betaStart: 1e-4,
    betaEnd: 0.02,
    clip: true,
  },
  { kind: "ddim", T: 1000, schedule: "scaled_linear_beta", N: 50, pred: "epsilon", ...base, stepsOffset: 1 },
  {
    kind: "ddim",
    T: 600,
    schedule: "linear_beta",
    N: 7,
    pred: "epsilon",
    ...base,
    eta: 0.3,
    setAlphaToOne: false,
  },
  {
    kind: "ddim",
    T: 1000,
    schedule: "scaled_linear_beta",
    N: 13,
    pred: "v_prediction",
    ...base,
    eta: 1,
    clip: true,
  },
  { kind: "ddim", T: 333, schedule: "linear_beta", N: 20, pred: "sample", ...base, eta: 0.5, stepsOffset: 2 },
  { kind: "ddim", T: 1000, schedule: "linear_beta", N: 1000, pred: "epsilon", ...base, eta: 0.7, clip: true },
];

const label = (v: Variant) =>
  `${v.kind} T${v.T} ${v.schedule} N${v.N} ${v.pred}${v.clip ? " clip" : ""}${
    v.stepsOffset ? ` offset ${v.stepsOffset}` : ""
  }${v.eta ? ` eta ${v.eta}` : ""}${v.setAlphaToOne === false ? " acp0-final" : ""}${
    v.varianceType === "fixed_large" ? " fixed_large" : ""
  }`;

for (const [vi, v] of variants.entries()) {
  Deno.test(`scheduler variant ${label(v)}: schedule, timesteps and chained steps match the MONAI transcription`, async () => {
    const s = build(v), ref = refSchedule(v);
    assert.ok(relError(s.betas, ref.betas) <= 1e-6, "betas");
    assert.ok(relError(s.alphasCumprod, ref.acp) <= 1e-5, "alphas_cumprod");
    const ts = refTimesteps(v);
    assert.deepEqual(Array.from(s.timesteps), ts, "timesteps");
    // Chain the first three and the last two timesteps (the last reaches t − ratio < 0: the final alpha).
    const picked = ts.length <= 5 ? ts : [...ts.slice(0, 3), ...ts.slice(-2)];
    const shape = [2, 1, 3, 2, 3], n = 36;
    let x = Array.from(randomArray(n, 100 + vi, -1.5, 1.5));
    let sample: T.Tensor = T.tensor(Float32Array.from(x), shape);
    for (const [k, t] of picked.entries()) {
      const m = Array.from(randomArray(n, 200 + 10 * vi + k, -2, 2));
      const z = Array.from(randomArray(n, 300 + 10 * vi + k, -1, 1));
      const [prevRef, x0Ref] = refStep(v, ref, t, x, m, z);
      const mt = T.tensor(Float32Array.from(m), shape), zt = T.tensor(Float32Array.from(z), shape);
      const out = s.step(mt, t, sample, { noise: zt });
      const prev = await out.prevSample.data() as Float32Array;
      const e0 = relError(await out.predOriginalSample.data(), x0Ref), e1 = relError(prev, prevRef);
      assert.ok(e0 <= 1e-4, `t=${t}: pred_original_sample rel error ${e0}`);
      assert.ok(e1 <= 1e-4, `t=${t}: prev_sample rel error ${e1}`);
      for (const u of [mt, zt, sample, out.predOriginalSample]) u.dispose();
      sample = out.prevSample;
      x = Array.from(prev); // chain on our own output, as sampling does
    }
    sample.dispose();
    s.dispose();
  });
}
