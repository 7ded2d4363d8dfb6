/** Seeded model files for the browser test and bench: what the page opens from a models folder. */
import { join } from "node:path";
import { AutoencoderKL } from "../../nn/mod.ts";
import { manualSeed } from "../../nn/init.ts";
import { saveCheckpoint } from "../../nn/checkpoint.ts";
import { DiffusionModelUNet } from "../../diffusion/unet.ts";
import { loadTrainConfig, type TrainConfig } from "../../recipe/config.ts";

/** A seeded (untrained) autoencoder + UNet of `configPath` saved as our checkpoints, with config.json, in `dir`. */
export async function writeSeededModels(
  dir: string,
  configPath: string,
  scaleFactor: number,
): Promise<TrainConfig> {
  const config = await loadTrainConfig(configPath);
  await Deno.copyFile(configPath, join(dir, "config.json"));
  manualSeed(123);
  const autoencoder = new AutoencoderKL({ ...config.autoencoder });
  const unet = new DiffusionModelUNet({ ...config.diffusion, includeFc: true });
  // MONAI zero-initialises the UNet's output convolution; give it (and any other all-zero tensor) small seeded
  // values, so the UNet's output is not 0 and the comparison exercises it.
  const sd = await unet.stateDict();
  let state = 12345;
  for (const t of sd.values()) {
    const d = t.data as Float32Array;
    if (d.every((v) => v === 0)) {
      for (let i = 0; i < d.length; i++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        d[i] = 0.05 * (state / 2 ** 32 - 0.5);
      }
    }
  }
  unet.loadStateDict(sd);
  const info = { configHash: "test", epoch: 1, step: 1 };
  await saveCheckpoint(join(dir, "autoencoder.safetensors"), { models: { autoencoder } }, {
    ...info,
    kind: "autoencoder",
  });
  await saveCheckpoint(join(dir, "diffusion_unet.safetensors"), { models: { unet } }, {
    ...info,
    kind: "diffusion",
    extra: { scaleFactor },
  });
  autoencoder.dispose();
  unet.dispose();
  return config;
}
