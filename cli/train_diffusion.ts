/** `deno task train-diffusion`: flag parsing; the work is `recipe/train_diffusion.ts`. */
import type { CommandSpec } from "./args.ts";
import { trainDiffusion } from "../recipe/train_diffusion.ts";

/** The `train_diffusion` command line (besides the training flags every training command takes). */
export const TRAIN_DIFFUSION_COMMAND = {
  name: "train_diffusion",
  description:
    "Trains the latent diffusion UNet (stage 2) on the frozen autoencoder, as the reference's train_diffusion.py.",
  flags: {
    "autoencoder-checkpoint": {
      type: "string",
      description:
        "autoencoder weights (when not given: model_dir/autoencoder.safetensors; reference .pt accepted)",
      valueName: "file",
    },
    "synth-every": {
      type: "string",
      description: "epochs between preview syntheses (the reference's 100; 0 = never)",
      default: "100",
      valueName: "n",
      kind: "non-negative-integer",
    },
  },
} as const satisfies CommandSpec;

if (import.meta.main) {
  const { runTrainingCommand } = await import("./command.ts");
  await runTrainingCommand(
    TRAIN_DIFFUSION_COMMAND,
    Deno.args,
    async ({ args, config, env }, { maxEpochs, seed, dist }) => {
      const r = await trainDiffusion({
        config,
        env,
        downloadData: args.downloadData,
        maxEpochs,
        seed,
        autoencoderWeights: args.flags["autoencoder-checkpoint"] as string | undefined,
        synthEvery: Number(args.flags["synth-every"]),
        rank: dist.rank,
        worldSize: dist.worldSize,
        comm: dist.comm,
        gradHook: dist.gradHook,
        stop: dist.stop,
        log: dist.log,
      });
      dist.log(
        `done: ${r.epochsDone} epochs, ${r.steps} steps, best val loss ${
          r.bestValLoss.toFixed(5)
        }, scale factor ${r.scaleFactor.toFixed(5)}`,
      );
    },
  );
}
