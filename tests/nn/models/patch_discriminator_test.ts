import assert from "node:assert/strict";
import { tensor } from "../../../tensor/mod.ts";
import {
  camelizeKeys,
  HostRng,
  PatchAdversarialLoss,
  PatchDiscriminator,
  type PatchDiscriminatorOptions,
} from "../../../nn/mod.ts";
import { loadStateDictFile } from "../../../nn/serialization/mod.ts";
import { loadCase } from "../../fixtures.ts";
import { assertRel, fixtureTensor, setup } from "../_helpers.ts";

await setup();

const fx = loadCase("patch_discriminator_tiny");

Deno.test({
  name: "PatchDiscriminator outputs, least-squares losses and gradients match the reference",
  ignore: !fx,
  fn: async () => {
    const d = new PatchDiscriminator(camelizeKeys<PatchDiscriminatorOptions>(fx!.meta.config));
    assert.deepEqual(d.stateDictShapes(), fx!.meta.param_keys.model);
    d.loadStateDict(await loadStateDictFile(fx!.file("model.pt")), { file: "model.pt" });
    d.loadStateDict(await loadStateDictFile(fx!.file("model.safetensors")));
    const x = fixtureTensor(fx!, "x").requireGrad();
    const outs = d.forward(x);
    // forward() lists every child's output: initial_conv, 0 … num_layers_d − 1, final_conv (tensors out_<child>).
    const children = [
      "initial_conv",
      ...Array.from({ length: fx!.meta.config.num_layers_d }, (_, i) => `${i}`),
    ];
    const names = [...children, "final_conv"].map((c) => `out_${c}`);
    assert.equal(outs.length, names.length);
    const report: Record<string, number> = {};
    for (const [i, n] of names.entries()) {
      assert.deepEqual(outs[i].shape, fx!.tensor(n).shape);
      report[n] = await assertRel(outs[i], fx!.tensor(n).data, 5e-4, n);
    }
    const adv = new PatchAdversarialLoss({ criterion: "least_squares" });
    const logits = outs[outs.length - 1];
    const lg = adv.forward(logits, true, false);
    const lr = adv.forward(logits, true, true);
    const lf = adv.forward(logits, false, true);
    for (const [t, s] of [[lg, "loss_generator"], [lr, "loss_disc_real"], [lf, "loss_disc_fake"]] as const) {
      const v = await t.item(), want = fx!.scalar(s);
      assert.ok(Math.abs(v - want) <= 1e-4 * Math.abs(want), `${s}: ${v} vs ${want}`);
    }
    lg.backward();
    report.grad_x = await assertRel(x.grad!, fx!.tensor("grad_x").data, 5e-4, "grad_x");
    const grads = await loadStateDictFile(fx!.file("grads.safetensors"));
    for (const [k, p] of d.namedParameters()) {
      report[`grad ${k}`] = await assertRel(p.grad!, grads.get(k)!.data, 5e-4, k);
    }
    console.log("patch_discriminator_tiny rel errors:", JSON.stringify(report));
    for (const t of [x, ...outs, lg, lr, lf]) t.dispose();
    d.dispose();
  },
});

Deno.test("least-squares adversarial loss golden values (SPEC §13: logits −2, 0.5, 1.5)", async () => {
  const adv = new PatchAdversarialLoss();
  const logits = tensor([-2, 0.5, 1.5], [1, 1, 3, 1, 1]);
  const g = adv.forward(logits, true, false), f = adv.forward(logits, false, true);
  assert.ok(Math.abs(await g.item() - 0.57) < 1e-6);
  assert.ok(Math.abs(await f.item() - 0.836667) < 1e-6);
  for (const t of [logits, g, f]) t.dispose();
});

Deno.test("PatchDiscriminator init: conv weights N(0, 0.02), biases zero; reference parameter count", async () => {
  const d = new PatchDiscriminator({
    channels: 32,
    numLayersD: 3,
    inChannels: 1,
    outChannels: 1,
    norm: "INSTANCE",
    rng: new HostRng(3),
  });
  assert.equal(d.numParameters(), 2_770_977);
  const w = await d.layers[1].conv.weight.data();
  let s = 0, s2 = 0;
  for (const v of w) {
    s += v;
    s2 += v * v;
  }
  const std = Math.sqrt(s2 / w.length - (s / w.length) ** 2);
  assert.ok(Math.abs(std - 0.02) < 0.001, `std ${std}`);
  assert.deepEqual([...await d.layers[0].conv.bias!.data()].every((v) => v === 0), true);
  d.dispose();
});
