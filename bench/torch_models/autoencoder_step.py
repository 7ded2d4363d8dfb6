"""One autoencoder training step after the warm-up, as nn/train/autoencoder_step.ts runs it: generator losses
(L1 + KL + perceptual + adversarial), backward, Adam step; then the discriminator on the pre-update
reconstruction, backward, Adam step. Two optimizer steps.
"""
import torch
import torch.nn.functional as F

from .losses import kl_loss, least_squares_adversarial


class AutoencoderStep:
    def __init__(self, autoencoder, discriminator, perceptual, lr=1e-4, kl_weight=1e-7, perceptual_weight=0.001,
                 adv_weight=0.01):
        self.ae, self.disc, self.perceptual = autoencoder, discriminator, perceptual
        self.opt_g = torch.optim.Adam(autoencoder.parameters(), lr=lr)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr)
        self.kl_weight, self.perceptual_weight, self.adv_weight = kl_weight, perceptual_weight, adv_weight

    def __call__(self, x, eps=None, slice_indices=None):
        """Returns (loss_g, loss_d) as floats-in-tensors (detached)."""
        self.opt_g.zero_grad(set_to_none=True)
        # Like ours: the generator loss passes gradients through D to the reconstruction only (the
        # reference computes D's parameter gradients here and then discards them).
        self.disc.requires_grad_(False)
        recon, mu, sigma = self.ae(x, eps)
        loss_g = (F.l1_loss(recon, x) + self.kl_weight * kl_loss(mu, sigma)
                  + self.perceptual_weight * self.perceptual(recon, x, slice_indices)
                  + self.adv_weight * least_squares_adversarial(self.disc(recon)[-1], True))
        loss_g.backward()
        self.disc.requires_grad_(True)
        self.opt_g.step()

        self.opt_d.zero_grad(set_to_none=True)
        fake = least_squares_adversarial(self.disc(recon.detach())[-1], False)
        real = least_squares_adversarial(self.disc(x)[-1], True)
        loss_d = self.adv_weight * 0.5 * (fake + real)
        loss_d.backward()
        self.opt_d.step()
        return loss_g.detach(), loss_d.detach()
