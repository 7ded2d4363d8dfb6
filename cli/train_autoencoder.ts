/** `deno task train-autoencoder`: flag parsing; the work is `recipe/train_autoencoder.ts`. */
import type { CommandSpec } from "./args.ts";
import { trainAutoencoder } from "../recipe/train_autoencoder.ts";

/** The `train_autoencoder` command line (besides the training flags every training command takes). */
export const TRAIN_AUTOENCODER_COMMAND = {
  name: "train_autoencoder",
  description: "Trains the AutoencoderKL (stage 1) as the reference's train_autoencoder.py.",
  flags: {
    "perceptual-weights": {
      type: "string",
      description:
        "torchvision SqueezeNet-1.1 and LPIPS v0.1 head files, comma-separated (else the perceptual term is off)",
      valueName: "trunk,heads",
    },
  },
  epilog:
    "example: deno task train-autoencoder -c config/config_train_32g.json -e config/environment.json -g 1",
} as const satisfies CommandSpec;

if (import.meta.main) {
  const { runTrainingCommand, perceptualFiles } = await import("./command.ts");
  await runTrainingCommand(
    TRAIN_AUTOENCODER_COMMAND,
    Deno.args,
    async ({ args, config, env }, { maxEpochs, seed, dist }) => {
      const r = await trainAutoencoder({
        config,
        env,
        downloadData: args.downloadData,
        maxEpochs,
        seed,
        perceptualWeights: perceptualFiles(args.flags["perceptual-weights"] as string | undefined),
        rank: dist.rank,
        worldSize: dist.worldSize,
        gradHook: dist.gradHook,
        stop: dist.stop,
        log: dist.log,
      });
      dist.log(
        `done: ${r.epochsDone} epochs, ${r.steps} steps, best val loss ${r.bestValLoss.toFixed(5)}${
          r.interrupted ? " (interrupted)" : ""
        }`,
      );
    },
  );
}
