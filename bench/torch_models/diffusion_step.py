"""One latent-diffusion UNet training step as bench/run_train_steps.ts runs it (identity autoencoder):
noisy = add_noise(latent, noise, t); loss = MSE(unet(noisy, t), noise); backward; Adam step.
"""
import torch
import torch.nn.functional as F


class DiffusionStep:
    def __init__(self, unet, noise_schedule, lr=1e-4):
        self.unet, self.schedule = unet, noise_schedule
        self.opt = torch.optim.Adam(unet.parameters(), lr=lr)

    def __call__(self, latent, noise=None, timesteps=None):
        self.opt.zero_grad(set_to_none=True)
        noise = torch.randn_like(latent) if noise is None else noise
        if timesteps is None:
            timesteps = torch.randint(0, self.schedule.num_train_timesteps, (latent.shape[0],))
        with torch.no_grad():
            noisy = self.schedule.add_noise(latent, noise, timesteps)
        loss = F.mse_loss(self.unet(noisy, timesteps), noise)
        loss.backward()
        self.opt.step()
        return loss.detach()
