/** `deno task generate`: flag parsing; the work is `recipe/generate.ts`. */
import type { CommandSpec } from "./args.ts";
import { generate } from "../recipe/generate.ts";

/** The `generate` command line. */
export const GENERATE_COMMAND = {
  name: "generate",
  description: "Generates brain volumes with the trained autoencoder and diffusion UNet (NIfTI + PNG).",
  common: ["config", "environment", "help", "backend"],
  flags: {
    num: {
      type: "string",
      short: "n",
      description: "number of volumes",
      default: "1",
      valueName: "n",
      kind: "positive-integer",
    },
    scheduler: {
      type: "string",
      description: "ddpm (reference inference.py) or ddim (bundle recipe)",
      default: "ddpm",
      valueName: "name",
      choices: ["ddpm", "ddim"],
    },
    steps: {
      type: "string",
      description: "inference steps (all training steps for ddpm, 50 for ddim when not given)",
      valueName: "n",
      kind: "positive-integer",
    },
    eta: { type: "string", description: "DDIM eta", default: "0", valueName: "x", kind: "number" },
    seed: {
      type: "string",
      description: "random seed",
      default: "42",
      valueName: "n",
      kind: "non-negative-integer",
    },
    output: {
      type: "string",
      description: "output folder (when not given: the environment's output_dir, else model_dir/samples)",
      valueName: "dir",
    },
    "autoencoder-checkpoint": {
      type: "string",
      description: "autoencoder weights (ours, or the reference's .pt/safetensors)",
      valueName: "file",
    },
    "diffusion-checkpoint": {
      type: "string",
      description: "UNet weights (ours, or the reference's .pt/safetensors)",
      valueName: "file",
    },
    "scale-factor": {
      type: "string",
      description: "latent scale factor (when not given: stored with our checkpoint, else 1.0)",
      valueName: "x",
      kind: "positive-number",
    },
    "clip-sample": {
      type: "string",
      description:
        "clip the predicted x0: true ([-1, 1], the reference's setting for its own weights), latent-range (the training latents' range stored with our checkpoint) or false (when not given: the config's clip_sample, else false)",
      valueName: "how",
      choices: ["true", "false", "latent-range"],
    },
    ema: {
      type: "string",
      description: "sample from the EMA weights when the checkpoint has them",
      default: "true",
      valueName: "bool",
      choices: ["true", "false"],
    },
    "include-fc": {
      type: "string",
      description: "UNet attention output projection (when not given: by the weights' key naming)",
      valueName: "bool",
      choices: ["true", "false"],
    },
  },
} as const satisfies CommandSpec;

if (import.meta.main) {
  const { runCommand } = await import("./command.ts");
  await runCommand(GENERATE_COMMAND, Deno.args, async ({ args, config, env }) => {
    const f = args.flags;
    const bool = (v: string | undefined) => (v === undefined ? undefined : v === "true");
    await generate({
      config,
      env,
      num: Number(f.num),
      scheduler: f.scheduler as "ddpm" | "ddim",
      steps: f.steps ? Number(f.steps) : undefined,
      eta: Number(f.eta),
      seed: Number(f.seed),
      output: f.output,
      autoencoderCheckpoint: f["autoencoder-checkpoint"],
      diffusionCheckpoint: f["diffusion-checkpoint"],
      scaleFactor: f["scale-factor"] ? Number(f["scale-factor"]) : undefined,
      clipSample: f["clip-sample"] === "latent-range" ? "latent-range" : bool(f["clip-sample"]),
      useEma: bool(f.ema),
      includeFc: bool(f["include-fc"]),
    });
  });
}
