/**
 * One autoencoder training step as the reference's train_autoencoder.py does it (SPEC §5): generator losses
 * (reconstruction + KL + perceptual, + adversarial after the warm-up), backward, Adam step; then — after the
 * warm-up — the discriminator step on the reconstruction computed before the generator update.
 * Losses stay on the device; read them back only when logging.
 */
import { add, affine, detach, noGrad, scope, type Tensor } from "./_ops.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { klLoss, l1Loss, mseLoss } from "../losses/basic.ts";
import { PatchAdversarialLoss } from "../losses/adversarial.ts";
import type { PerceptualLoss, SliceIndices } from "../losses/perceptual.ts";
import type { AutoencoderKL } from "../models/autoencoder_kl.ts";
import type { PatchDiscriminator } from "../models/patch_discriminator.ts";

/** Called between backward and the optimizer step with the parameters about to be updated (e.g. gradient all-reduce). */
export type GradHook = (
  params: Tensor[],
  which: "generator" | "discriminator" | "unet",
) => void | Promise<void>;

/** Loss weights and schedule of the autoencoder stage (reference values as defaults). */
export interface AutoencoderStepConfig {
  /** Default 1e-7 (the reference's config). */
  klWeight?: number;
  /** Default 0.001. */
  perceptualWeight?: number;
  /** Default 0.01 (hard-coded in the reference script). */
  advWeight?: number;
  /** "l1" (reference) or "l2". */
  reconLoss?: "l1" | "l2";
  /** Adversarial terms start when epoch > this (reference 5, i.e. from epoch index 6). */
  autoencoderWarmUpNEpochs?: number;
}

/** What the trainer works on. */
export interface AutoencoderTrainerParts {
  autoencoder: AutoencoderKL;
  optimizerG: Optimizer;
  discriminator?: PatchDiscriminator | null;
  optimizerD?: Optimizer | null;
  /** Null (or absent) switches the perceptual term off, with a loud warning. */
  perceptual?: PerceptualLoss | null;
  /** Where warnings go (default console.warn). */
  warn?: (message: string) => void;
}

/** Per-step inputs besides the images. */
export interface AutoencoderStepOptions {
  /** 0-based epoch (decides whether the adversarial terms are on). */
  epoch: number;
  /** Injected VAE sampling noise (else the autoencoder draws its own). */
  eps?: Tensor;
  /** Injected perceptual slice indices (else the perceptual loss draws them). */
  sliceIndices?: SliceIndices;
  gradHook?: GradHook;
  /** Keep the reconstruction in the result (default false: it is disposed). */
  keepReconstruction?: boolean;
}

/** Device scalars of one step (the caller disposes them; absent terms are null). */
export interface AutoencoderStepResult {
  recon: Tensor;
  kl: Tensor;
  perceptual: Tensor | null;
  /** Unweighted generator adversarial term. */
  generatorAdv: Tensor | null;
  /** loss_g = recon + klW·kl + percW·p (+ advW·adv). */
  generatorTotal: Tensor;
  /** Unweighted discriminator terms and the weighted total advW·0.5·(fake + real). */
  discFake: Tensor | null;
  discReal: Tensor | null;
  discriminatorTotal: Tensor | null;
  /** Whether the adversarial terms were on. */
  adversarial: boolean;
  reconstruction: Tensor | null;
}

/** Runs the reference's autoencoder training step; holds the models, optimizers and loss objects. */
export class AutoencoderTrainer {
  readonly klWeight: number;
  readonly perceptualWeight: number;
  readonly advWeight: number;
  readonly reconLoss: "l1" | "l2";
  readonly warmUp: number;
  readonly adversarialLoss: PatchAdversarialLoss = new PatchAdversarialLoss({ criterion: "least_squares" });
  #warned = false;

  constructor(readonly parts: AutoencoderTrainerParts, config: AutoencoderStepConfig = {}) {
    this.klWeight = config.klWeight ?? 1e-7;
    this.perceptualWeight = config.perceptualWeight ?? 0.001;
    this.advWeight = config.advWeight ?? 0.01;
    this.reconLoss = config.reconLoss ?? "l1";
    this.warmUp = config.autoencoderWarmUpNEpochs ?? 5;
    if (parts.discriminator && !parts.optimizerD) {
      throw new Error("AutoencoderTrainer: a discriminator needs optimizerD");
    }
    if (parts.perceptual && !parts.perceptual.weightsLoaded) {
      throw new Error(
        "AutoencoderTrainer: the perceptual loss has no weights loaded (load SqueezeNet + LPIPS weights, or pass perceptual: null to train without it)",
      );
    }
  }

  /** Whether the adversarial terms are on at `epoch` (reference: epoch > warm-up). */
  adversarialAt(epoch: number): boolean {
    return !!this.parts.discriminator && epoch > this.warmUp;
  }

  #warnOnce(): void {
    if (this.#warned || this.parts.perceptual || this.perceptualWeight === 0) return;
    this.#warned = true;
    (this.parts.warn ?? console.warn)(
      "WARNING: perceptual loss is OFF — no SqueezeNet/LPIPS weights were given, so the generator loss lacks the " +
        `perceptual term (perceptual_weight ${this.perceptualWeight} is ignored). Results will differ from the reference recipe.`,
    );
  }

  /** One training step on `images` [B, C, X, Y, Z]. */
  async step(images: Tensor, options: AutoencoderStepOptions): Promise<AutoencoderStepResult> {
    const { autoencoder, optimizerG, discriminator, optimizerD, perceptual } = this.parts;
    this.#warnOnce();
    const adversarial = this.adversarialAt(options.epoch);
    optimizerG.zeroGrad();
    // The discriminator only passes gradients through to the reconstruction in the generator step.
    const dParams = discriminator?.parameters() ?? [];
    for (const p of dParams) p.requiresGrad = false;
    let g;
    try {
      g = scope(() => {
        const { reconstruction, zMu, zSigma } = autoencoder.forward(images, options.eps);
        const recon = this.reconLoss === "l1"
          ? l1Loss(reconstruction, images)
          : mseLoss(reconstruction, images);
        const kl = klLoss(zMu, zSigma);
        const p = perceptual ? perceptual.forward(reconstruction, images, options.sliceIndices).loss : null;
        let total = add(recon, affine(kl, this.klWeight)) as Tensor;
        if (p) total = add(total, affine(p, this.perceptualWeight)) as Tensor;
        let generatorAdv: Tensor | null = null;
        if (adversarial) {
          const outs = discriminator!.forward(reconstruction);
          generatorAdv = this.adversarialLoss.forward(outs[outs.length - 1], true, false);
          total = add(total, affine(generatorAdv, this.advWeight)) as Tensor;
        }
        return { reconstruction, recon, kl, p, generatorAdv, total };
      });
      // Reference behaviour: D's parameter gradients from this loss are discarded (zero_grad before D's
      // backward), so they are not computed at all; gradients still flow through D to the reconstruction.
      g.total.backward();
    } finally {
      for (const p of dParams) p.requiresGrad = true;
    }
    const aeParams = optimizerG.params;
    if (options.gradHook) await options.gradHook(aeParams, "generator");
    optimizerG.step();

    let discFake: Tensor | null = null,
      discReal: Tensor | null = null,
      discriminatorTotal: Tensor | null = null;
    if (adversarial) {
      optimizerD!.zeroGrad();
      const d = scope(() => {
        // Reference behaviour: D sees the reconstruction from before the generator update.
        const fakeIn = detach(g.reconstruction);
        const fakeOuts = discriminator!.forward(fakeIn);
        const fake = this.adversarialLoss.forward(fakeOuts[fakeOuts.length - 1], false, true);
        const realOuts = discriminator!.forward(images);
        const real = this.adversarialLoss.forward(realOuts[realOuts.length - 1], true, true);
        const total = affine(add(fake, real) as Tensor, 0.5 * this.advWeight);
        return { fake, real, total };
      });
      d.total.backward();
      if (options.gradHook) await options.gradHook(optimizerD!.params, "discriminator");
      optimizerD!.step();
      [discFake, discReal, discriminatorTotal] = [d.fake, d.real, d.total];
    }
    const detachAll = (t: Tensor | null) => t && noGrad(() => detachAndFree(t));
    const reconstruction = options.keepReconstruction ? detachAll(g.reconstruction) : null;
    if (!options.keepReconstruction) g.reconstruction.dispose();
    return {
      recon: detachAll(g.recon)!,
      kl: detachAll(g.kl)!,
      perceptual: detachAll(g.p),
      generatorAdv: detachAll(g.generatorAdv),
      generatorTotal: detachAll(g.total)!,
      discFake: detachAll(discFake),
      discReal: detachAll(discReal),
      discriminatorTotal: detachAll(discriminatorTotal),
      adversarial,
      reconstruction,
    };
  }
}

/** A history-free handle on t's values; t itself is disposed (releasing any graph it still holds). */
function detachAndFree(t: Tensor): Tensor {
  const d = detach(t);
  t.dispose();
  return d;
}
