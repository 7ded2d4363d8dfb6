import assert from "node:assert/strict";
import { mseLoss } from "../../../nn/mod.ts";
import { camelizeKeys } from "../../../nn/config.ts";
import { type Tensor, tensor } from "../../../tensor/mod.ts";
import {
  DiffusionModelUNet,
  type DiffusionModelUNetOptions,
  timestepEmbedding,
} from "../../../diffusion/unet.ts";
import { loadStateDictFile } from "../../../nn/serialization/mod.ts";
import { loadCase } from "../../fixtures.ts";
import { assertGradient, assertRel, fixtureTensor, gradientScale, setup } from "../_helpers.ts";

await setup();

const fx = loadCase("diffusion_unet_tiny");

Deno.test("timestep embedding golden values (SPEC §13: cos half first)", () => {
  const e = timestepEmbedding([1, 999], 256);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 2e-6, `${a} vs ${b}`);
  close(e[0], 0.54030234);
  close(e[1], 0.59737533);
  close(e[2], 0.64790589);
  close(e[128], 0.84147096);
  close(e[129], 0.80196178);
  close(e[130], 0.76172036);
  close(e[256 + 127], 0.99424314);
  close(e[256 + 255], 0.10714722);
});

Deno.test({
  name:
    "DiffusionModelUNet hidden states, output, loss and gradients match the reference (diffusion_unet_tiny)",
  ignore: !fx,
  fn: async () => {
    const unet = new DiffusionModelUNet(camelizeKeys<DiffusionModelUNetOptions>(fx!.meta.config));
    assert.deepEqual(unet.stateDictShapes(), fx!.meta.param_keys.model);
    unet.loadStateDict(await loadStateDictFile(fx!.file("model.pt")), { file: "model.pt" });
    unet.loadStateDict(await loadStateDictFile(fx!.file("model.safetensors")));
    const x = fixtureTensor(fx!, "x").requireGrad();
    const t = [...fx!.tensor("timesteps").data];
    const hidden = new Map<string, Tensor>();
    const out = unet.forward(x, t, undefined, (name, h) => hidden.set(name, h.detach().keep()));
    const report: Record<string, number> = {};
    report.t_emb = await assertRel(hidden.get("t_emb")!, fx!.tensor("t_emb").data, 1e-4, "t_emb");
    report.emb = await assertRel(hidden.get("emb")!, fx!.tensor("emb").data, 1e-4, "emb");
    for (const [name, h] of hidden) {
      const key = `hidden/${name}`;
      if (fx!.meta.tensors[key]) report[key] = await assertRel(h, fx!.tensor(key).data, 5e-4, key);
    }
    report.out = await assertRel(out, fx!.tensor("out").data, 5e-4, "out");
    const target = fixtureTensor(fx!, "target");
    const loss = mseLoss(out, target);
    const lv = await loss.item(), want = fx!.scalar("loss");
    assert.ok(Math.abs(lv - want) <= 1e-4 * want, `loss ${lv} vs ${want}`);
    loss.backward();
    report.grad_x = await assertRel(x.grad!, fx!.tensor("grad_x").data, 5e-4, "grad_x");
    const grads = await loadStateDictFile(fx!.file("grads.safetensors"));
    const scale = gradientScale([...grads.values()].map((g) => g.data));
    let worst = 0, worstKey = "", zero = 0;
    for (const [k, p] of unet.namedParameters()) {
      assert.ok(p.grad, `no gradient for ${k}`);
      assert.ok(grads.get(k), `no reference gradient for ${k}`);
      const r = await assertGradient(p.grad!, grads.get(k)!.data, scale, 5e-4, `grad ${k}`);
      if (r.zero) zero++;
      if (r.error > worst) [worst, worstKey] = [r.error, k];
    }
    report.param_grads_zero = zero;
    report[`param_grads_worst (${worstKey})`] = worst;
    console.log("diffusion_unet_tiny rel errors:", JSON.stringify(report));

    // int32 timestep tensors go through the tabulated embedding and give the same output.
    const tt = tensor(Int32Array.from(t), [t.length], "int32");
    const out2 = unet.forward(x, tt);
    await assertRel(out2, await out.data(), 1e-6, "out (int32 timesteps)");
    // float32 timestep tensors are embedded on the device.
    const tf = tensor(Float32Array.from(t), [t.length]);
    const out3 = unet.forward(x, tf);
    await assertRel(out3, await out.data(), 1e-4, "out (float32 timesteps)");
    for (const h of [x, out, target, loss, tt, out2, tf, out3, ...hidden.values()]) h.dispose();
    unet.dispose();
  },
});

Deno.test("DiffusionModelUNet zero-initialises every conv2 and the output conv", async () => {
  const unet = new DiffusionModelUNet({
    inChannels: 8,
    outChannels: 8,
    channels: [32, 32, 64],
    attentionLevels: [false, true, true],
    numHeadChannels: [0, 16, 16],
    numResBlocks: 1,
    normNumGroups: 8,
  });
  for (const [k, p] of unet.namedParameters()) {
    if (/conv2\.conv|^out\.2\./.test(k)) assert.ok((await p.data()).every((v) => v === 0), k);
  }
  unet.dispose();
});

Deno.test("DiffusionModelUNet class conditioning adds a learned class embedding to the time embedding", async () => {
  const unet = new DiffusionModelUNet({
    inChannels: 2,
    outChannels: 2,
    channels: [8, 8],
    attentionLevels: [false, true],
    numHeadChannels: [0, 4],
    numResBlocks: 1,
    normNumGroups: 4,
    numClassEmbeds: 3,
  });
  const keys = unet.stateDictShapes().map(([k]) => k);
  assert.equal(keys.indexOf("class_embedding.weight"), keys.indexOf("time_embed.2.bias") + 1);
  const x = tensor(new Float32Array(2 * 2 * 4 * 4 * 4).map((_, i) => Math.sin(i)), [2, 2, 4, 4, 4]);
  const hidden = new Map<string, Tensor>();
  const y = unet.forward(x, [3, 3], [0, 2], (n, h) => {
    if (n === "emb") hidden.set(n, h.detach().keep());
  });
  assert.deepEqual(y.shape, [2, 2, 4, 4, 4]);
  const emb = await hidden.get("emb")!.data();
  assert.notDeepEqual(emb.slice(0, 32), emb.slice(32, 64));
  assert.throws(() => unet.forward(x, [3, 3]), /classLabels are required/);
  for (const t of [x, y, ...hidden.values()]) t.dispose();
  unet.dispose();
});
