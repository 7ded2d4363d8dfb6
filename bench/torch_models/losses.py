"""The reference's losses as nn/losses/basic.ts and adversarial.ts compute them."""
import torch
import torch.nn.functional as F


def kl_loss(mu, sigma):
    """Per sample 0.5 * sum(mu^2 + sigma^2 - ln sigma^2 - 1) over every latent element, mean over the batch."""
    s2 = sigma * sigma
    return (0.5 * torch.sum(mu * mu + s2 - torch.log(s2) - 1, dim=list(range(1, mu.dim())))).mean()


def least_squares_adversarial(logits, target_is_real):
    """MONAI PatchAdversarialLoss(least_squares): LeakyReLU(0.05) on the logits, then MSE to all ones / zeros."""
    act = F.leaky_relu(logits, 0.05)
    return F.mse_loss(act, torch.full_like(act, 1.0 if target_is_real else 0.0))
