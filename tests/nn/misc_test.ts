import assert from "node:assert/strict";
import { noGrad, tensor } from "../../tensor/mod.ts";
import {
  AutoencoderKL,
  camelizeKeys,
  Dropout,
  HostRng,
  klLoss,
  l1Loss,
  Linear,
  mseLoss,
  Sequential,
  SiLU,
} from "../../nn/mod.ts";
import { DiffusionModelUNet } from "../../diffusion/unet.ts";
import { toCoreNames, toGMNames } from "../../nn/serialization/mod.ts";
import { setup } from "./_helpers.ts";

await setup();

Deno.test("camelizeKeys maps MONAI kwargs onto constructor options", () => {
  assert.deepEqual(
    camelizeKeys({ _target_: "x", num_res_blocks: [1], with_encoder_nonlocal_attn: false, norm_eps: 1e-6 }),
    {
      numResBlocks: [1],
      withEncoderNonlocalAttn: false,
      normEps: 1e-6,
    },
  );
});

Deno.test("L1, MSE and the per-sample-sum KL term", async () => {
  const a = tensor([1, 2, 3, 4], [2, 2]), b = tensor([0, 2, 5, 4], [2, 2]);
  const l1 = l1Loss(a, b), l2 = mseLoss(a, b);
  assert.equal(await l1.item(), 0.75);
  assert.equal(await l2.item(), 1.25);
  // KL per element 0.5(μ² + σ² − ln σ² − 1); summed per sample, averaged over the batch.
  const mu = tensor([0.5, -1, 0, 2], [2, 2, 1, 1, 1]), sigma = tensor([1, 2, 0.5, 1], [2, 2, 1, 1, 1]);
  const kl = klLoss(mu, sigma);
  const terms = [[0.5, 1], [-1, 2], [0, 0.5], [2, 1]].map(([m, s]) =>
    0.5 * (m * m + s * s - Math.log(s * s) - 1)
  );
  const want = ((terms[0] + terms[1]) + (terms[2] + terms[3])) / 2;
  assert.ok(Math.abs(await kl.item() - want) < 1e-6);
  for (const t of [a, b, l1, l2, mu, sigma, kl]) t.dispose();
});

Deno.test("Dropout: identity in eval or with p = 0, inverted scaling in training", async () => {
  const x = tensor(new Float32Array(4000).fill(1), [4000]);
  const d = new Dropout(0.25, 7);
  const y = d.forward(x);
  const v = await y.data();
  const zeros = v.filter((e) => e === 0).length;
  assert.ok(zeros > 850 && zeros < 1150, `${zeros} zeros`);
  assert.ok(v.every((e) => e === 0 || Math.abs(e - 1 / 0.75) < 1e-6));
  d.eval();
  const z = d.forward(x);
  assert.deepEqual(await z.data(), await x.data());
  for (const t of [x, y, z]) t.dispose();
});

Deno.test("Sequential chains layers and names children 0, 1, …", () => {
  const rng = new HostRng(1);
  const s = new Sequential([new Linear(2, 3, { rng }), new SiLU(), new Linear(3, 1, { rng })]);
  assert.deepEqual(s.namedParameters().map(([k]) => k), ["0.weight", "0.bias", "2.weight", "2.bias"]);
  const x = tensor([1, -1], [1, 2]);
  const y = noGrad(() => s.forward(x));
  assert.deepEqual(y.shape, [1, 1]);
  for (const t of [x, y]) t.dispose();
  s.dispose();
});

Deno.test("AutoencoderKL with the reference's config has 21,000,353 parameters (130 tensors, as SPEC appendix A lists)", () => {
  const ae = new AutoencoderKL({
    spatialDims: 3,
    inChannels: 1,
    outChannels: 1,
    latentChannels: 8,
    channels: [64, 128, 256],
    numResBlocks: 2,
    normNumGroups: 32,
    normEps: 1e-6,
    attentionLevels: [false, false, false],
    withEncoderNonlocalAttn: false,
    withDecoderNonlocalAttn: false,
  });
  assert.equal(ae.numParameters(), 21_000_353);
  assert.equal(ae.stateDictShapes().length, 130);
  ae.dispose();
});

Deno.test("GenerativeModels checkpoints load after key conversion (UNet without out_proj = GM's forward)", async () => {
  const opts = {
    inChannels: 2,
    outChannels: 2,
    channels: [8, 8],
    attentionLevels: [false, true],
    numHeadChannels: [0, 4],
    numResBlocks: 1,
    normNumGroups: 4,
  };
  const core = new DiffusionModelUNet({ ...opts, includeFc: true });
  const gm = toGMNames(await core.stateDict(), "diffusion_unet");
  assert.ok([...gm.keys()].some((k) => k.endsWith("proj_attn.weight")));
  assert.ok([...gm.keys()].some((k) => k.includes("upsampler.conv.conv")));
  const noFc = new DiffusionModelUNet({ ...opts, includeFc: false });
  assert.ok(!noFc.stateDictShapes().some(([k]) => k.includes("out_proj")));
  noFc.loadStateDict(toCoreNames(gm, "diffusion_unet", { projection: "drop" }), { file: "gm.pt" });
  core.loadStateDict(toCoreNames(gm, "diffusion_unet", { projection: "rename" }));
  const ae = new AutoencoderKL({
    channels: [4, 4],
    numResBlocks: 1,
    normNumGroups: 2,
    attentionLevels: [false, false],
    latentChannels: 2,
  });
  const aeGm = toGMNames(await ae.stateDict(), "autoencoderkl");
  assert.ok([...aeGm.keys()].some((k) => /^decoder\.blocks\.\d+\.conv\.conv\.weight$/.test(k)));
  ae.loadStateDict(toCoreNames(aeGm, "autoencoderkl"));
  core.dispose();
  noFc.dispose();
  ae.dispose();
});
