#!/usr/bin/env python3
"""PyTorch CPU timings of the training steps bench/run_train_steps.ts times, printed as the same JSON lines
(backend "torch-cpu"). The steps come as JSON on stdin, so both sides time the same configurations:

  {"runs": 5, "steps": [
    {"name": "...", "shape": "...", "kind": "autoencoder", "autoencoder": {...}, "discriminatorChannels": 8,
     "size": 32, "fake3dRatio": 0.2},
    {"name": "...", "shape": "...", "kind": "unet", "unet": {...}, "latent": [1, 3, 8, 8, 8],
     "scheduler": {"schedule": "scaled_linear_beta", "betaStart": 0.0015, "betaEnd": 0.0195}}]}

Model configs are our (camelCase) or MONAI's (snake_case) constructor arguments. Before timing, the models
are checked against the reference fixtures (bench/torch_verify.py); a mismatch stops the run.
Each step is timed like ours: one warm-up step, then the median of `runs` steps.
"""
import argparse
import json
import statistics
import sys
import time

import torch

import torch_verify
from torch_blas import blas_library
from torch_models import AutoencoderKL, DDPMNoise, DiffusionModelUNet, PatchDiscriminator, PerceptualLoss, monai_kwargs
from torch_models.autoencoder_step import AutoencoderStep
from torch_models.diffusion_step import DiffusionStep


def median_ms(step, runs):
    step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def autoencoder_step(spec):
    ae = AutoencoderKL(**monai_kwargs(spec["autoencoder"]))
    disc = PatchDiscriminator(channels=spec["discriminatorChannels"], num_layers_d=3, norm="INSTANCE")
    # Random SqueezeNet/LPIPS weights, as our bench: they cost the same as the published ones.
    perceptual = PerceptualLoss(fake_3d_ratio=spec.get("fake3dRatio", 0.2))
    step = AutoencoderStep(ae, disc, perceptual, lr=1e-4)
    size = spec["size"]
    x = torch.rand(1, 1, size, size, size)
    return lambda: step(x), {"params": sum(p.numel() for p in ae.parameters())}


def unet_step(spec):
    unet = DiffusionModelUNet(**monai_kwargs(spec["unet"]))
    step = DiffusionStep(unet, DDPMNoise(**monai_kwargs(spec["scheduler"])), lr=1e-4)
    latent = torch.randn(*spec["latent"])
    return lambda: step(latent), {"params": sum(p.numel() for p in unet.parameters())}


def emit(name, shape, ms, extra):
    print(json.dumps({"name": name, "shape": shape, "ms": round(ms, 3), "gflops": None, "gbps": None,
                      "adapter": f"PyTorch {torch.__version__} CPU", "backend": "torch-cpu",
                      "threads": torch.get_num_threads(), "blas": blas_library(), **extra}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-verify", action="store_true", help="skip the fixture check (not for reported numbers)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = json.load(sys.stdin)
    if not args.no_verify:
        torch_verify.main()
    torch.manual_seed(0)
    for s in spec["steps"]:
        step, extra = (autoencoder_step if s["kind"] == "autoencoder" else unet_step)(s)
        emit(s["name"], s["shape"], median_ms(step, spec.get("runs", 5)), extra)


if __name__ == "__main__":
    main()
