import assert from "node:assert/strict";
import { add, affine, noGrad, type Tensor } from "../../../tensor/mod.ts";
import { AutoencoderKL, type AutoencoderKLOptions, camelizeKeys, klLoss, l1Loss } from "../../../nn/mod.ts";
import { loadStateDictFile } from "../../../nn/serialization/mod.ts";
import { loadCase } from "../../fixtures.ts";
import { assertGradient, assertRel, fixtureTensor, gradientScale, setup } from "../_helpers.ts";

await setup();

const fx = loadCase("autoencoderkl_tiny");
const TOL = 1e-4, DEEP = 5e-4;

Deno.test({
  name:
    "AutoencoderKL state dict keys, order and shapes match the reference; strict load of safetensors and .pt",
  ignore: !fx,
  fn: async () => {
    const ae = new AutoencoderKL(camelizeKeys<AutoencoderKLOptions>(fx!.meta.config));
    const expected: [string, number[]][] = fx!.meta.param_keys.model;
    assert.deepEqual(ae.stateDictShapes(), expected);
    assert.deepEqual(ae.namedParameters().map(([k]) => k), expected.map(([k]) => k));
    for (const file of ["model.safetensors", "model.pt"]) {
      const path = fx!.file(file);
      ae.loadStateDict(await loadStateDictFile(path), { file: path });
    }
    const sd = await ae.stateDict();
    const ref = await loadStateDictFile(fx!.file("model.safetensors"));
    for (const [k, v] of ref) assert.deepEqual(sd.get(k)!.data, v.data, k);
    ae.dispose();
  },
});

Deno.test({
  name: "AutoencoderKL forward, losses and gradients match the reference (autoencoderkl_tiny)",
  ignore: !fx,
  fn: async () => {
    const ae = new AutoencoderKL(camelizeKeys<AutoencoderKLOptions>(fx!.meta.config));
    ae.loadStateDict(await loadStateDictFile(fx!.file("model.safetensors")));
    const inter = await loadStateDictFile(fx!.file("intermediates.safetensors"));
    const x = fixtureTensor(fx!, "x").requireGrad();
    const report: Record<string, number> = {};

    // Encoder blocks and the latent head, without gradients.
    const kept: Tensor[] = [];
    const encOut = noGrad(() =>
      ae.encoder.forward(x, (i, h) => {
        kept[i] = h;
      })
    );
    for (const [i, h] of kept.entries()) {
      const ref = inter.get(`encoder.blocks.${i}`);
      if (ref) report[`encoder.blocks.${i}`] = await assertRel(h, ref.data, DEEP, `encoder.blocks.${i}`);
    }
    report.encoder_out = await assertRel(encOut, fx!.tensor("encoder_out").data, DEEP, "encoder_out");
    for (const t of kept.slice(0, -1)) t.dispose();

    const { zMu, zSigma, zLogVar } = ae.encode(x);
    report.z_mu = await assertRel(zMu, fx!.tensor("z_mu").data, DEEP, "z_mu");
    report.z_log_var = await assertRel(zLogVar, fx!.tensor("z_log_var").data, DEEP, "z_log_var");
    report.z_sigma = await assertRel(zSigma, fx!.tensor("z_sigma").data, DEEP, "z_sigma");

    const decKept: Tensor[] = [];
    const reconMean = noGrad(() =>
      ae.decoder.forward(ae.postQuantConv.forward(zMu), (i, h) => {
        decKept[i] = h;
      })
    );
    for (const [i, h] of decKept.entries()) {
      const ref = inter.get(`decoder.blocks.${i}`);
      if (ref) report[`decoder.blocks.${i}`] = await assertRel(h, ref.data, DEEP, `decoder.blocks.${i}`);
    }
    for (const t of decKept.slice(0, -1)) t.dispose();
    report.recon_mean = await assertRel(reconMean, fx!.tensor("recon_mean").data, DEEP, "recon_mean");

    const eps = fixtureTensor(fx!, "eps");
    const z = ae.sampling(zMu, zSigma, eps);
    report.z_sampled = await assertRel(z, fx!.tensor("z_sampled").data, DEEP, "z_sampled");
    const recon = ae.decode(z);
    report.recon_sampled = await assertRel(recon, fx!.tensor("recon_sampled").data, DEEP, "recon_sampled");

    const l1 = l1Loss(recon, x);
    const kl = klLoss(zMu, zSigma);
    const total = add(l1, affine(kl, fx!.scalar("kl_weight"))) as Tensor;
    const [l1v, klv, tv] = [await l1.item(), await kl.item(), await total.item()];
    assert.ok(Math.abs(l1v - fx!.scalar("loss_l1")) <= TOL * Math.abs(fx!.scalar("loss_l1")), `L1 ${l1v}`);
    assert.ok(Math.abs(klv - fx!.scalar("loss_kl")) <= TOL * Math.abs(fx!.scalar("loss_kl")), `KL ${klv}`);
    assert.ok(
      Math.abs(tv - fx!.scalar("loss_total")) <= TOL * Math.abs(fx!.scalar("loss_total")),
      `total ${tv}`,
    );

    total.backward();
    report.grad_x = await assertRel(x.grad!, fx!.tensor("grad_x").data, DEEP, "grad_x");
    const grads = await loadStateDictFile(fx!.file("grads.safetensors"));
    const scale = gradientScale([...grads.values()].map((g) => g.data));
    let worst = 0, zero = 0;
    for (const [k, p] of ae.namedParameters()) {
      const g = grads.get(k);
      assert.ok(g, `no reference gradient for ${k}`);
      assert.ok(p.grad, `no gradient for ${k}`);
      const r = await assertGradient(p.grad!, g!.data, scale, DEEP, `grad ${k}`);
      worst = Math.max(worst, r.error);
      if (r.zero) zero++;
    }
    report.param_grads_worst = worst;
    report.param_grads_zero = zero;
    console.log("autoencoderkl_tiny rel errors:", JSON.stringify(report));
    for (const t of [x, zMu, zSigma, zLogVar, reconMean, eps, z, recon, l1, kl, total, encOut]) t.dispose();
    ae.dispose();
  },
});

Deno.test({
  name: "AutoencoderKL with useCheckpoint gives the same loss and gradients (blocks recomputed in backward)",
  ignore: !fx,
  fn: async () => {
    const sd = await loadStateDictFile(fx!.file("model.safetensors"));
    const runs: Map<string, Float32Array>[] = [];
    for (const useCheckpoint of [false, true]) {
      const ae = new AutoencoderKL({ ...camelizeKeys<AutoencoderKLOptions>(fx!.meta.config), useCheckpoint });
      ae.loadStateDict(sd);
      const x = fixtureTensor(fx!, "x").requireGrad(), eps = fixtureTensor(fx!, "eps");
      const { reconstruction, zMu, zSigma } = ae.forward(x, eps);
      const total = add(
        l1Loss(reconstruction, x),
        affine(klLoss(zMu, zSigma), fx!.scalar("kl_weight")),
      ) as Tensor;
      total.backward();
      const grads = new Map<string, Float32Array>([["x", (await x.grad!.data()) as Float32Array]]);
      for (const [k, p] of ae.namedParameters()) grads.set(k, (await p.grad!.data()) as Float32Array);
      runs.push(grads);
      for (const t of [x, eps, reconstruction, zMu, zSigma, total]) t.dispose();
      ae.dispose();
    }
    for (const [k, g] of runs[0]) await assertRel(runs[1].get(k)!, g, 1e-5, `checkpointed grad ${k}`);
  },
});
