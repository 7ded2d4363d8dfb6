import assert from "node:assert/strict";
import {
  Adam,
  AutoencoderKL,
  type AutoencoderKLOptions,
  camelizeKeys,
  DiffusionTrainer,
} from "../../../nn/mod.ts";
import { DiffusionModelUNet, type DiffusionModelUNetOptions } from "../../../diffusion/unet.ts";
import { LatentDiffusionInferer } from "../../../diffusion/inferer.ts";
import { loadStateDictFile } from "../../../nn/serialization/mod.ts";
import { loadCase } from "../../fixtures.ts";
import { schedulerFromEntry } from "../../diffusion/_helpers.ts";
import { assertGradient, fixtureTensor, gradientScale, setup } from "../_helpers.ts";

await setup();

const fx = loadCase("ldm_inferer_tiny");

async function build() {
  const cfg = fx!.meta.config;
  const ae = new AutoencoderKL(camelizeKeys<AutoencoderKLOptions>(cfg.autoencoder));
  ae.loadStateDict(await loadStateDictFile(fx!.file(fx!.meta.weights_from.autoencoder)));
  ae.eval();
  const unet = new DiffusionModelUNet(camelizeKeys<DiffusionModelUNetOptions>(cfg.unet));
  unet.loadStateDict(await loadStateDictFile(fx!.file(fx!.meta.weights_from.unet)));
  const scheduler = schedulerFromEntry(cfg.schedulers.train);
  const inferer = new LatentDiffusionInferer(scheduler, { scaleFactor: fx!.scalar(cfg.train.scale_factor) });
  return { ae, unet, inferer };
}

Deno.test({
  name: "diffusion training step: loss and UNet gradients at the hook match the reference (ldm_inferer_tiny)",
  ignore: !fx,
  fn: async () => {
    const { ae, unet, inferer } = await build();
    const optimizer = new Adam(unet.parameters(), { lr: 1e-4 });
    const trainer = new DiffusionTrainer({ unet, autoencoder: ae, inferer, optimizer });
    const names = new Map(unet.namedParameters().map(([k, p]) => [p, k]));
    const grads = new Map<string, Float32Array>();
    const tr = fx!.meta.config.train;
    const x = fixtureTensor(fx!, tr.x),
      eps = fixtureTensor(fx!, tr.eps),
      noise = fixtureTensor(fx!, tr.noise);
    const timesteps = [...fx!.tensor(tr.timesteps).data];
    const before = await unet.stateDict();
    const { loss } = await trainer.step(x, {
      step: 0,
      eps,
      noise,
      timesteps,
      gradHook: async (params, which) => {
        assert.equal(which, "unet");
        const data = await Promise.all(params.map((p) => p.grad!.data()));
        params.forEach((p, i) => grads.set(names.get(p)!, data[i] as Float32Array));
      },
    });
    const lv = await loss.item(), want = fx!.scalar(tr.loss);
    const report: Record<string, number> = { loss: Math.abs(lv - want) / want };
    assert.ok(report.loss <= 1e-4, `loss ${lv} vs ${want}`);
    const ref = await loadStateDictFile(fx!.file(tr.grads));
    const scale = gradientScale([...ref.values()].map((g) => g.data));
    let worst = 0;
    for (const [k, g] of grads) {
      assert.ok(ref.get(k), `no reference gradient for ${k}`);
      worst = Math.max(worst, (await assertGradient(g, ref.get(k)!.data, scale, 5e-4, `grad ${k}`)).error);
    }
    report.unet_grads_worst = worst;
    const after = await unet.stateDict();
    assert.notDeepEqual(after.get("conv_in.conv.weight")!.data, before.get("conv_in.conv.weight")!.data);
    console.log("diffusion step (ldm_inferer_tiny):", JSON.stringify(report));
    for (const t of [x, eps, noise, loss]) t.dispose();
    optimizer.dispose();
    ae.dispose();
    unet.dispose();
  },
});

Deno.test({
  name: "diffusion training step draws its own noise and timesteps reproducibly from (seed, step)",
  ignore: !fx,
  fn: async () => {
    const losses: number[] = [];
    for (let run = 0; run < 2; run++) {
      const { ae, unet, inferer } = await build();
      const optimizer = new Adam(unet.parameters(), { lr: 1e-4 });
      const trainer = new DiffusionTrainer({ unet, autoencoder: ae, inferer, optimizer, seed: 5 });
      const x = fixtureTensor(fx!, fx!.meta.config.train.x);
      const { loss } = await trainer.step(x, { step: 3 });
      losses.push(await loss.item());
      for (const t of [x, loss]) t.dispose();
      optimizer.dispose();
      ae.dispose();
      unet.dispose();
    }
    assert.ok(Number.isFinite(losses[0]));
    assert.equal(losses[0], losses[1]);
  },
});
