/**
 * The denoising loss of a diffusion model on held-out data with fixed draws: noise, timesteps and VAE
 * sampling noise are keyed by (seed, batch index, repeat) alone, so every evaluation of the same data sees
 * the same draws and a change of the loss measures the model, not the luck of the draw. Reports the
 * overall MSE and the MSE per timestep bucket.
 */
import { mean, noGrad, randint, randn, scope, square, sub, type Tensor } from "../tensor/mod.ts";
import type { DiffusionModel, LatentDiffusionInferer, Stage2Autoencoder } from "./inferer.ts";
import { bucketMse, type TimestepBucket, timestepBucketEdges } from "./timestep_buckets.ts";

/** Options of {@link denoisingLoss}. */
export interface DenoisingLossOptions {
  /** Seed of the draws. */
  seed: number;
  /** Latent shape of an image batch shape. */
  latentShape: (imageShape: readonly number[]) => number[];
  /** Evaluations per batch, each with its own draws (default 1). */
  repeats?: number;
  /** Global index of this process's first sample (multi-process runs; default 0). */
  sampleOffset?: number;
  /** Stream prefix of the draws (default "diffusion/val"). */
  stream?: string;
  /** Bucket edges (default {@link timestepBucketEdges} of the scheduler's T). */
  edges?: number[];
}

/** What {@link denoisingLoss} measured. */
export interface DenoisingLoss {
  /** Mean per-sample MSE over every evaluation (the training loss's estimate). */
  loss: number;
  /** Per timestep bucket. */
  buckets: TimestepBucket[];
  /** Evaluations (samples × repeats). */
  count: number;
}

/** Evaluates `unet` on every image batch of `batches` (see the module doc). Reads back once per batch. */
export async function denoisingLoss(
  batches: AsyncIterable<Tensor> | Iterable<Tensor>,
  autoencoder: Stage2Autoencoder,
  unet: DiffusionModel,
  inferer: LatentDiffusionInferer,
  o: DenoisingLossOptions,
): Promise<DenoisingLoss> {
  const repeats = o.repeats ?? 1;
  const stream = o.stream ?? "diffusion/val";
  const T = inferer.scheduler.numTrainTimesteps;
  const ts: number[] = [], losses: number[] = [];
  let i = 0;
  for await (const images of batches) {
    const shape = o.latentShape(images.shape);
    for (let r = 0; r < repeats; r++) {
      const key = { seed: o.seed, step: i * repeats + r, sampleOffset: o.sampleOffset ?? 0 };
      const [t, perSample] = noGrad(() =>
        scope(() => {
          const noise = randn(shape, { ...key, stream: `${stream}/noise` });
          const t = randint([shape[0]], { ...key, stream: `${stream}/timesteps` }, 0, T);
          const eps = randn(shape, { ...key, stream: `${stream}/vae_eps` });
          const pass = inferer.predict(images, autoencoder, unet, noise, t, { eps });
          const target = inferer.target(pass.latent, noise, t);
          const axes = shape.slice(1).map((_, k) => k + 1);
          return [t, mean(square(sub(pass.prediction, target)), axes)];
        })
      );
      const [th, lh] = await Promise.all([t.data(), perSample.data()]);
      ts.push(...th);
      losses.push(...lh);
      t.dispose();
      perSample.dispose();
    }
    i++;
  }
  if (losses.length === 0) throw new Error("denoisingLoss: no validation batch");
  return {
    loss: losses.reduce((a, b) => a + b, 0) / losses.length,
    buckets: bucketMse(ts, losses, o.edges ?? timestepBucketEdges(T)),
    count: losses.length,
  };
}
