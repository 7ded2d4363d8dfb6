"""The DDPM noise schedule and `add_noise` (MONAI's scheduler, as diffusion/schedules.ts and scheduler.ts)."""
import torch


class DDPMNoise:
    def __init__(self, schedule="linear_beta", num_train_timesteps=1000, beta_start=1e-4, beta_end=2e-2, **_ignored):
        if schedule == "linear_beta":
            betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
        elif schedule == "scaled_linear_beta":
            betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float32) ** 2
        else:
            raise ValueError(f"DDPMNoise: schedule {schedule!r} is not transcribed")
        self.num_train_timesteps = num_train_timesteps
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    def add_noise(self, original, noise, timesteps):
        """sqrt(acp[t]) * x + sqrt(1 - acp[t]) * noise, t per batch element."""
        acp = self.alphas_cumprod[timesteps.long()].view(-1, *[1] * (original.dim() - 1))
        return acp.sqrt() * original + (1 - acp).sqrt() * noise
