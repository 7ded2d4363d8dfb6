"""Plain-PyTorch transcriptions of the models, losses and scheduler the training-step bench runs.

Same structure and state-dict names as ours (nn/, diffusion/) and MONAI's, so the reference fixtures load
into them unchanged; bench/torch_verify.py checks them against those fixtures before anything is timed.
"""
from .autoencoder_kl import AutoencoderKL
from .patch_discriminator import PatchDiscriminator
from .perceptual import PerceptualLoss
from .unet import DiffusionModelUNet
from .scheduler import DDPMNoise
from .kwargs import monai_kwargs

__all__ = ["AutoencoderKL", "PatchDiscriminator", "PerceptualLoss", "DiffusionModelUNet", "DDPMNoise", "monai_kwargs"]
