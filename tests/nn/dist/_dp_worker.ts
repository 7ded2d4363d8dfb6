/**
 * Worker of the data-parallel equivalence test (not a test itself): `<ae|unet> <outDir>`. Runs 3 training
 * steps of a tiny model on its share of a fixed global batch of 2, averaging gradients through the
 * transport the environment selects (none when run alone). Rank 0 writes the averaged gradients of step 0
 * and the weights after step 3. Every random draw is keyed by the global sample index.
 */
import * as T from "../../../tensor/mod.ts";
import {
  Adam,
  AutoencoderKL,
  AutoencoderTrainer,
  DiffusionTrainer,
  PatchDiscriminator,
} from "../../../nn/mod.ts";
import { manualSeed } from "../../../nn/init.ts";
import { DDPMScheduler, DiffusionModelUNet, LatentDiffusionInferer } from "../../../diffusion/mod.ts";
import { initDistributed } from "../../../nn/dist/init.ts";
import { averageGradients } from "../../../nn/dist/gradient_hook.ts";

const [model, outDir] = Deno.args;
await T.init();
const comm = await initDistributed({ timeoutMs: 120_000 });
const { rank, worldSize } = comm;
const GLOBAL = 2, local = GLOBAL / worldSize, offset = rank * local;
manualSeed(7);
const flat = async (ts: T.Tensor[]) => {
  const parts = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
};
let stepGrads: Float32Array | null = null;
const hook = async (params: T.Tensor[]) => {
  if (worldSize > 1) await averageGradients(comm, params);
  if (!stepGrads) stepGrads = await flat(params.map((p) => p.grad!));
};
const x = T.randn([GLOBAL, 1, 16, 16, 16], { seed: 1, stream: "dp/x" });
const mine = T.slice(x, [offset], [offset + local]);
let params: T.Tensor[];
if (model === "ae") {
  const ae = new AutoencoderKL({
    channels: [4, 8],
    numResBlocks: 1,
    normNumGroups: 4,
    latentChannels: 2,
    attentionLevels: [false, false],
  });
  const disc = new PatchDiscriminator({ channels: 4, numLayersD: 2, norm: "INSTANCE" });
  const trainer = new AutoencoderTrainer({
    autoencoder: ae,
    discriminator: disc,
    perceptual: null,
    warn: () => {},
    optimizerG: new Adam(ae.parameters(), { lr: 1e-3 }),
    optimizerD: new Adam(disc.parameters(), { lr: 1e-3 }),
  }, { autoencoderWarmUpNEpochs: 0 });
  for (let step = 0; step < 3; step++) {
    const eps = T.randn([local, 2, 8, 8, 8], { seed: 1, stream: "dp/eps", step, sampleOffset: offset });
    const r = await trainer.step(mine, { epoch: 1, eps, gradHook: (p) => hook(p) });
    for (const v of Object.values(r)) if (v instanceof T.Tensor) v.dispose();
    eps.dispose();
  }
  params = [...ae.parameters(), ...disc.parameters()];
} else {
  const unet = new DiffusionModelUNet({
    inChannels: 1,
    outChannels: 1,
    channels: [8, 8],
    attentionLevels: [false, true],
    numHeadChannels: [0, 4],
    numResBlocks: 1,
    normNumGroups: 4,
  });
  const identity = {
    encodeStage2Inputs: (z: T.Tensor) => z.detach(),
    decodeStage2Outputs: (z: T.Tensor) => z.detach(),
  };
  const trainer = new DiffusionTrainer({
    unet,
    autoencoder: identity,
    inferer: new LatentDiffusionInferer(
      new DDPMScheduler({ schedule: "scaled_linear_beta", betaStart: 0.0015, betaEnd: 0.0195 }),
    ),
    optimizer: new Adam(unet.parameters(), { lr: 1e-3 }),
    latentShape: (s) => [...s],
    seed: 3,
  });
  for (let step = 0; step < 3; step++) {
    (await trainer.step(mine, { step, sampleOffset: offset, gradHook: (p) => hook(p) })).loss.dispose();
  }
  params = unet.parameters();
}
if (rank === 0) {
  await Deno.writeFile(`${outDir}/grads-${worldSize}.bin`, new Uint8Array(stepGrads!.buffer));
  await Deno.writeFile(`${outDir}/weights-${worldSize}.bin`, new Uint8Array((await flat(params)).buffer));
}
await comm.close();
