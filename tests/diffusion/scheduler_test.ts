// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/** DDPM / DDIM schedulers against the reference fixtures (driven by meta.json `config`) and properties. */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { DDIMScheduler, DDPMScheduler, noiseSchedule } from "../../diffusion/mod.ts";
import { schedulerFromEntry } from "./_helpers.ts";
import { type FixtureCase, loadCase, relError } from "../fixtures.ts";

await T.init();

const TOL = 1e-4;

function fixtureTensor(c: FixtureCase, name: string): T.Tensor {
  const { data, shape } = c.tensor(name);
  return T.tensor(data, shape, data instanceof Int32Array ? "int32" : "float32");
}

for (const caseName of ["ddpm_scheduler", "ddim_scheduler"]) {
  const c = loadCase(caseName);
  if (!c) {
    Deno.test({ name: `${caseName}: fixture absent, skipped`, ignore: true, fn() {} });
    continue;
  }
  const cfg = c.meta.config;

  Deno.test(`${caseName}: schedules match betas / alphas / alphas_cumprod`, () => {
    for (const [prefix, s] of Object.entries<any>(cfg.schedules)) {
      const arrays = noiseSchedule(s.schedule, s.num_train_timesteps, {
        betaStart: s.beta_start,
        betaEnd: s.beta_end,
      });
      const pairs: [string, Float32Array][] = [
        ["betas", arrays.betas],
        ["alphas", arrays.alphas],
        ["alphas_cumprod", arrays.alphasCumprod],
      ];
      for (const [name, ours] of pairs) {
        const ref = c.tensor(`${prefix}${name}`).data;
        assert.ok(relError(ours, ref) <= 1e-6, `${prefix}${name}: rel error ${relError(ours, ref)}`);
      }
    }
  });

  Deno.test(`${caseName}: timesteps tensors match setTimesteps`, () => {
    for (const [name, t] of Object.entries<any>(cfg.timesteps_tensors)) {
      const make = caseName === "ddpm_scheduler"
        ? () => new DDPMScheduler({ numTrainTimesteps: t.num_train_timesteps })
        : () => new DDIMScheduler({ numTrainTimesteps: t.num_train_timesteps, stepsOffset: t.steps_offset });
      const s = make();
      if (t.num_inference_steps !== null) s.setTimesteps(t.num_inference_steps);
      assert.deepEqual(Array.from(s.timesteps), Array.from(c.tensor(name).data), name);
    }
  });

  for (const [seqName, seq] of Object.entries<any>(cfg.sequences)) {
    Deno.test(`${caseName}: step sequence ${seqName} (${seq.timesteps.length} chained steps)`, async () => {
      const s = schedulerFromEntry(seq);
      if (seq.timesteps_tensor !== null) {
        assert.deepEqual(Array.from(s.timesteps), Array.from(c.tensor(seq.timesteps_tensor).data));
      }
      const rows: any[] = cfg[seq.steps_key];
      assert.deepEqual(rows.map((r) => r.timestep), seq.timesteps);
      // Chain on the device: each step's input is our own previous output, as in sampling.
      let sample = fixtureTensor(c, rows[0].sample);
      for (const row of rows) {
        assert.equal(s.previousTimestep(row.timestep), row.prev_timestep, `${seqName} row ${row.i}`);
        const modelOutput = fixtureTensor(c, row.model_output);
        const noise = row.noise_tensor ? fixtureTensor(c, row.noise_tensor) : undefined;
        const { coefficients: _k, noise: drawsNoise } = s.stepCoefficients(row.timestep);
        assert.equal(drawsNoise, row.noise, `${seqName} row ${row.i}: noise drawn`);
        const out = s.step(modelOutput, row.timestep, sample, { noise });
        const prev = relError(await out.prevSample.data(), c.tensor(row.prev_sample).data);
        const pred = relError(await out.predOriginalSample.data(), c.tensor(row.pred_original_sample).data);
        assert.ok(prev <= TOL, `${seqName} step ${row.i} (t=${row.timestep}): prev_sample rel error ${prev}`);
        assert.ok(
          pred <= TOL,
          `${seqName} step ${row.i} (t=${row.timestep}): pred_original_sample rel error ${pred}`,
        );
        modelOutput.dispose();
        noise?.dispose();
        sample.dispose();
        out.predOriginalSample.dispose();
        sample = out.prevSample;
      }
      sample.dispose();
      s.dispose();
    });
  }

  if (cfg.add_noise) {
    Deno.test(`${caseName}: add_noise / get_velocity (host and device timesteps)`, async () => {
      for (const entry of cfg.add_noise) {
        const sched = cfg.schedules[entry.arrays];
        const s = new DDPMScheduler({
          numTrainTimesteps: sched.num_train_timesteps,
          schedule: sched.schedule,
          betaStart: sched.beta_start,
          betaEnd: sched.beta_end,
        });
        const original = fixtureTensor(c, entry.original);
        const noise = fixtureTensor(c, entry.noise);
        const tsHost = c.tensor(entry.timesteps).data as Int32Array;
        const tsDevice = fixtureTensor(c, entry.timesteps);
        const expected = c.tensor(entry.output).data;
        for (const ts of [Array.from(tsHost), tsDevice]) {
          const out = entry.op === "add_noise"
            ? s.addNoise(original, noise, ts)
            : s.getVelocity(original, noise, ts);
          const err = relError(await out.data(), expected);
          assert.ok(err <= TOL, `${entry.op} ${entry.output}: rel error ${err}`);
          out.dispose();
        }
        for (const t of [original, noise, tsDevice]) t.dispose();
        s.dispose();
      }
    });
  }
}

Deno.test("add_noise at t = 0 is nearly the identity; at T−1 nearly the noise", async () => {
  const s = new DDPMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 });
  const x = T.randn([2, 3, 4, 4, 4], { seed: 1, stream: "test/x" });
  const z = T.randn([2, 3, 4, 4, 4], { seed: 1, stream: "test/z" });
  const [xs, zs] = [await x.data(), await z.data()];
  const y0 = await s.addNoise(x, z, [0, 0]).data();
  const a = Math.sqrt(s.alphasCumprod[0]), b = Math.sqrt(1 - s.alphasCumprod[0]);
  for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(y0[i] - (a * xs[i] + b * zs[i])) < 1e-5);
  assert.ok(relError(y0, xs) < 0.2, "t=0 keeps the signal");
  // Per-batch timesteps: element 0 at t=0, element 1 at t=999.
  const y = await s.addNoise(x, z, T.tensor(new Int32Array([0, 999]), [2], "int32")).data();
  const half = xs.length / 2;
  assert.ok(relError(y.slice(0, half), xs.slice(0, half)) < 0.2);
  assert.ok(relError(y.slice(half), zs.slice(half)) < 0.02);
  s.dispose();
});

Deno.test("DDIM with eta 0 is deterministic and draws no noise; DDPM generator draws are reproducible", async () => {
  const ddim = new DDIMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 });
  ddim.setTimesteps(50);
  const x = T.randn([1, 2, 3, 4, 5], { seed: 3, stream: "test/x" });
  const m = T.randn([1, 2, 3, 4, 5], { seed: 3, stream: "test/m" });
  const a = ddim.step(m, 500, x, { generator: { seed: 1 } });
  const b = ddim.step(m, 500, x, { generator: { seed: 2 } });
  assert.deepEqual(await a.prevSample.data(), await b.prevSample.data());
  const ddpm = new DDPMScheduler();
  const g = { seed: 7, stream: "test/noise", step: 4 };
  const c1 = await ddpm.step(m, 500, x, { generator: g }).prevSample.data();
  const c2 = await ddpm.step(m, 500, x, { generator: g }).prevSample.data();
  const c3 = await ddpm.step(m, 500, x, { generator: { ...g, step: 5 } }).prevSample.data();
  assert.deepEqual(c1, c2);
  assert.notDeepEqual(c1, c3);
});

Deno.test("one fused kernel per step and per add_noise, no readback", () => {
  const s = new DDPMScheduler();
  const x = T.randn([1, 2, 4, 4, 4], { seed: 1, stream: "test/x" });
  const m = T.randn([1, 2, 4, 4, 4], { seed: 1, stream: "test/m" });
  const noise = T.randn([1, 2, 4, 4, 4], { seed: 1, stream: "test/z" });
  const before = T.stats();
  const out = s.step(m, 10, x, { noise });
  const mid = T.stats();
  assert.equal(mid.dispatches - before.dispatches, 1);
  s.addNoise(x, noise, T.tensor(new Int32Array([5]), [1], "int32"));
  const after = T.stats();
  assert.equal(after.dispatches - mid.dispatches, 1);
  assert.equal(after.readbacks, before.readbacks);
  out.prevSample.dispose();
});

Deno.test("sigmoid_beta and cosine schedules have the reference's shape", () => {
  const sig = noiseSchedule("sigmoid_beta", 100, { betaStart: 1e-4, betaEnd: 2e-2 });
  assert.ok(Math.abs(sig.betas[50] - (1e-4 + 2e-2) / 2) < 2e-3);
  assert.ok(sig.betas.every((b, i) => i === 0 || b >= sig.betas[i - 1]));
  const cos = noiseSchedule("cosine", 1000);
  assert.equal(cos.alphasCumprod[0], 1);
  assert.ok(cos.alphas.every((a) => a >= Math.fround(1e-4) && a <= Math.fround(0.9999)));
  assert.ok(cos.alphasCumprod[999] < 1e-3);
});

Deno.test("bad input: clear errors naming the valid values", () => {
  assert.throws(
    () => new DDPMScheduler({ schedule: "quadratic" as never }),
    /valid schedules: linear_beta, scaled_linear_beta, sigmoid_beta, cosine/,
  );
  assert.throws(
    () => new DDIMScheduler({ predictionType: "noise" as never }),
    /valid values: epsilon, sample, v_prediction/,
  );
  assert.throws(
    () => new DDPMScheduler({ varianceType: "learned" as never }),
    /valid values: fixed_small, fixed_large/,
  );
  const s = new DDPMScheduler();
  assert.throws(() => s.setTimesteps(1001), /integer in \[1, 1000\]/);
  assert.throws(() => s.setTimesteps(0), /integer in \[1, 1000\]/);
  const x = T.zeros([1, 1, 2, 2, 2]);
  assert.throws(
    () => s.step(x, 1000, x),
    /timestep 1000 is out of range; valid timesteps are the integers 0..999/,
  );
  assert.throws(() => s.step(x, -1, x), /out of range/);
  assert.throws(() => s.addNoise(x, x, [1000]), /out of range/);
  assert.throws(() => s.addNoise(x, x, [1, 2]), /2 timesteps for a batch of 1/);
  assert.throws(() => s.step(T.zeros([1, 1, 2, 2, 3]), 5, x), /same shape/);
});
