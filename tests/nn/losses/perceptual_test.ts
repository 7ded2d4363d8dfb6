import assert from "node:assert/strict";
import { noGrad, type Tensor } from "../../../tensor/mod.ts";
import { PerceptualLoss, type SliceIndices } from "../../../nn/mod.ts";
import { loadStateDictFile, type StateDict } from "../../../nn/serialization/mod.ts";
import { loadCase } from "../../fixtures.ts";
import { assertRel, fixtureTensor, setup } from "../_helpers.ts";

await setup();

const fx = loadCase("perceptual_loss");

async function loaded(ratio: number): Promise<PerceptualLoss> {
  const p = new PerceptualLoss({
    spatialDims: 3,
    networkType: "squeeze",
    isFake3d: true,
    fake3dRatio: ratio,
  });
  assert.deepEqual(p.stateDictShapes(), fx!.meta.param_keys.model);
  p.loadStateDict(await loadStateDictFile(fx!.file("model.safetensors")), { file: "model.safetensors" });
  return p;
}

Deno.test({
  name: "LPIPS (SqueezeNet trunk) features, per-layer terms and values match the reference on 2-D slices",
  ignore: !fx,
  fn: async () => {
    const cfg = fx!.meta.config.lpips2d;
    const p = await loaded(1);
    const in0 = fixtureTensor(fx!, cfg.in0), in1 = fixtureTensor(fx!, cfg.in1);
    const report: Record<string, number> = {};
    await noGrad(async () => {
      const feats = p.perceptualFunction.features(in0);
      for (const [i, name] of (cfg.features_in0 as string[]).entries()) {
        assert.deepEqual(feats[i].shape, fx!.tensor(name).shape);
        report[name] = await assertRel(feats[i], fx!.tensor(name).data, 5e-4, name);
      }
      const out = p.perceptualFunction.forward(in0, in1);
      for (const [i, name] of (cfg.layers as string[]).entries()) {
        report[name] = await assertRel(out.layers[i], fx!.tensor(name).data, 1e-4, name);
      }
      report.value = await assertRel(out.value, fx!.tensor(cfg.value).data, 1e-4, "value");
      for (const t of [...feats, out.value, ...out.layers]) t.dispose();
    });
    console.log("perceptual lpips2d rel errors:", JSON.stringify(report));
    in0.dispose();
    in1.dispose();
    p.dispose();
  },
});

Deno.test({
  name: "fake-3D perceptual loss with recorded slice indices: per-axis terms, total and input gradient",
  ignore: !fx,
  fn: async () => {
    for (const run of fx!.meta.config.ratio_runs) {
      const p = await loaded(run.fake_3d_ratio);
      const x = fixtureTensor(fx!, "input").requireGrad();
      const y = fixtureTensor(fx!, "target");
      const idx = (run.slice_indices as string[]).map((n) => fx!.tensor(n).data) as unknown as SliceIndices;
      const out = p.forward(x, y, idx);
      const report: Record<string, number> = {};
      for (const [i, name] of (run.loss_axis as string[]).entries()) {
        const v = await out.perAxis[i].item(), want = fx!.scalar(name);
        report[name] = Math.abs(v - want) / Math.abs(want);
        assert.ok(report[name] <= 1e-4, `${name}: ${v} vs ${want}`);
      }
      const v = await out.loss.item(), want = fx!.scalar(run.loss);
      report[run.loss] = Math.abs(v - want) / Math.abs(want);
      assert.ok(report[run.loss] <= 1e-4, `${run.loss}: ${v} vs ${want}`);
      out.loss.backward();
      report[run.grad_input] = await assertRel(
        x.grad!,
        fx!.tensor(run.grad_input).data,
        5e-4,
        run.grad_input,
      );
      assert.ok(p.parameters().every((q) => q.grad === null), "the LPIPS weights are frozen");
      console.log(`perceptual ${run.tag} rel errors:`, JSON.stringify(report));
      for (const t of [x, y, out.loss, ...out.perAxis] as Tensor[]) t.dispose();
      p.dispose();
    }
  },
});

Deno.test({
  name: "perceptual loss draws ⌊n·ratio⌋ distinct slices per axis from the seeded generator, reproducibly",
  ignore: !fx,
  fn: async () => {
    const p = await loaded(0.2);
    const x = fixtureTensor(fx!, "input"), y = fixtureTensor(fx!, "target");
    const a = noGrad(() => p.forward(x, y));
    assert.deepEqual(a.indices.map((i) => i.length), [6, 8, 7]);
    for (const [k, n] of [32, 40, 36].entries()) {
      assert.equal(new Set(a.indices[k]).size, a.indices[k].length);
      assert.ok(a.indices[k].every((i) => i >= 0 && i < n));
    }
    const q = await loaded(0.2);
    const b = noGrad(() => q.forward(x, y));
    assert.deepEqual(a.indices, b.indices);
    assert.equal(await a.loss.item(), await b.loss.item());
    for (const t of [x, y, a.loss, b.loss, ...a.perAxis, ...b.perAxis]) t.dispose();
    p.dispose();
    q.dispose();
  },
});

Deno.test({
  name:
    "torchvision SqueezeNet (features.N.*) and LPIPS head (linK.model.1.weight) files map onto the MONAI keys",
  ignore: !fx,
  fn: async () => {
    const ref = await loadStateDictFile(fx!.file("model.safetensors"));
    const trunk: StateDict = new Map(), heads: StateDict = new Map();
    for (const [k, v] of ref) {
      const t = /^perceptual_function\.net\.slice\d+\.(\d+\..+)$/.exec(k);
      if (t) trunk.set(`features.${t[1]}`, v);
      const h = /^perceptual_function\.(lin\d+\.model\.1\.weight)$/.exec(k);
      if (h) heads.set(h[1], v);
    }
    trunk.set("classifier.1.weight", { dtype: "float32", shape: [1], data: new Float32Array(1) });
    const p = new PerceptualLoss({ fake3dRatio: 0.2 });
    assert.equal(p.weightsLoaded, false);
    p.loadTorchvisionWeights(trunk, heads, "squeezenet1_1.pth");
    assert.equal(p.weightsLoaded, true);
    const sd = await p.stateDict();
    for (const [k, v] of ref) assert.deepEqual(sd.get(k)!.data, v.data, k);
    heads.delete("lin3.model.1.weight");
    assert.throws(
      () => new PerceptualLoss().loadTorchvisionWeights(trunk, heads, "heads.pth"),
      /lin3\.model\.1\.weight/,
    );
    p.dispose();
  },
});
