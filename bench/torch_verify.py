#!/usr/bin/env python3
"""Checks the PyTorch transcriptions in bench/torch_models against the reference fixtures, so the models the
step bench times are the right ones: each forward output within 1e-4 relative error (max |ours - ref| /
max |ref|), and one whole autoencoder + discriminator training step (train_step_tiny) against its losses,
gradients and the weights after Adam. Exits non-zero naming every check that fails.
"""
import sys

import torch
import torch.nn.functional as F

from torch_fixtures import Case
from torch_models import AutoencoderKL, DDPMNoise, DiffusionModelUNet, PatchDiscriminator, PerceptualLoss
from torch_models.autoencoder_step import AutoencoderStep

TOLERANCE = 1e-4
# Gradients of a whole model accumulate more rounding (fixtures README; the TS step test uses the same).
DEEP_GRADIENT_TOLERANCE = 5e-4


def rel_error(got, want):
    got, want = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want, dtype=torch.float64)
    if got.shape != want.shape:
        return float("inf")
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def load(model, sd, what):
    """Strict load: every key of ours in the file and nothing left over (the names are the contract)."""
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"torch_verify: {what}: state dict keys differ; missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}")
    return model


def autoencoder():
    case = Case("autoencoderkl_tiny")
    ae = load(AutoencoderKL(**case.config), case.state_dict("model.safetensors"), "autoencoderkl_tiny")
    recon, _, _ = ae(case.tensor("x"), case.tensor("eps"))
    return rel_error(recon, case.tensor("recon_sampled"))


def discriminator():
    case = Case("patch_discriminator_tiny")
    d = load(PatchDiscriminator(**case.config), case.state_dict("model.safetensors"), "patch_discriminator_tiny")
    return rel_error(d(case.tensor("x"))[-1], case.tensor("out_final_conv"))


def perceptual():
    case = Case("perceptual_loss")
    run = next(r for r in case.config["ratio_runs"] if r["fake_3d_ratio"] < 1)
    loss_fn = load(PerceptualLoss(run["fake_3d_ratio"]), case.state_dict("model.safetensors"), "perceptual_loss")
    idx = [case.tensor(n).long() for n in run["slice_indices"]]
    return rel_error(loss_fn(case.tensor("input"), case.tensor("target"), idx), case.scalar(run["loss"]))


def unet():
    """Forward output, and the gradients of F.mse_loss(out, target) (the step's backward)."""
    case = Case("diffusion_unet_tiny")
    net = load(DiffusionModelUNet(**case.config), case.state_dict("model.safetensors"), "diffusion_unet_tiny")
    out = net(case.tensor("x"), case.tensor("timesteps"))
    F.mse_loss(out, case.tensor("target")).backward()
    return rel_error(out, case.tensor("out")), grad_error(net, case.state_dict("grads.safetensors"))


def add_noise():
    case = Case("ddpm_scheduler")
    entry = next(e for e in case.config["add_noise"] if e["op"] == "add_noise")
    noise = DDPMNoise(**case.config["schedules"][entry["arrays"]])
    got = noise.add_noise(case.tensor(entry["original"]), case.tensor(entry["noise"]), case.tensor(entry["timesteps"]))
    return rel_error(got, case.tensor(entry["output"]))


def grad_error(model, ref):
    """Worst per-parameter relative gradient error, as tests/gradients.ts judges it: a reference gradient
    below 1e-5 of the model's largest is zero up to rounding (a conv bias before a norm, an attention key
    bias), and then ours must stay below 1e-4 of it (else inf)."""
    scale = max(float(v.abs().max()) for v in ref.values())
    params = dict(model.named_parameters())
    worst = 0.0
    for k, want in ref.items():
        got = params[k].grad
        if float(want.abs().max()) > 1e-5 * scale:
            worst = max(worst, rel_error(got, want))
        elif float(got.abs().max()) > 1e-4 * scale:
            return float("inf")
    return worst


def adam_excess(model, after, ref_grads, lr, eps):
    """Weights after Adam's first step, p - lr * u(g) with u(g) = g / (|g| + eps): each within
    lr * |u(g_ours) - u(g_ref)| (u amplifies rounding where |g| is near eps) plus float32 rounding.
    Returns the worst excess over that allowance (<= 0: all within)."""
    u = lambda g: g / (g.abs() + eps)  # noqa: E731
    params = dict(model.named_parameters())
    worst = float("-inf")
    for k, want in after.items():
        p = params[k]
        allowance = lr * (u(p.grad) - u(ref_grads[k])).abs() + 2e-7 + 2e-6 * want.abs()
        worst = max(worst, float(((p.detach() - want).abs() - allowance).max()))
    return worst


def training_step():
    """The timed AutoencoderStep on the fixture's weights, eps and slices: losses, gradients, weights after."""
    case = Case("train_step_tiny")
    cfg, src = case.config, case.meta["weights_from"]
    ae = load(AutoencoderKL(**cfg["autoencoder"]), case.state_dict(src["autoencoder"]), "train_step_tiny ae")
    d = load(PatchDiscriminator(**cfg["discriminator"]), case.state_dict(src["discriminator"]), "train_step_tiny d")
    p = load(PerceptualLoss(cfg["perceptual"]["fake_3d_ratio"]), case.state_dict(src["perceptual"]),
             "train_step_tiny perceptual")
    w, opt = cfg["loss_weights"], cfg["optimizer"]
    step = AutoencoderStep(ae, d, p, lr=opt["lr"], kl_weight=w["kl_weight"],
                           perceptual_weight=w["perceptual_weight"], adv_weight=w["adv_weight"])
    idx = [case.tensor(n).long() for n in cfg["perceptual"]["slice_indices"]]
    loss_g, loss_d = step(case.tensor("x"), case.tensor("eps"), idx)
    results = {"loss_g": (rel_error(loss_g, case.scalar("loss_g_total")), TOLERANCE),
               "loss_d": (rel_error(loss_d, case.scalar("loss_d_total")), TOLERANCE)}
    for name, model in (("autoencoder", ae), ("discriminator", d)):
        grads = case.state_dict(f"grads_{name}.safetensors")
        results[f"{name}_grads"] = (grad_error(model, grads), DEEP_GRADIENT_TOLERANCE)
        after = case.state_dict(f"{name}_after.safetensors")
        results[f"{name}_adam_excess"] = (adam_excess(model, after, grads, opt["lr"], opt["eps"]), 0.0)
    return results


def main():
    torch.manual_seed(0)
    unet_out, unet_grads = unet()
    forward = {"autoencoder_recon": autoencoder(), "discriminator_logits": discriminator(),
               "perceptual_loss": perceptual(), "unet_out": unet_out, "ddpm_add_noise": add_noise()}
    results = {k: (v, TOLERANCE) for k, v in forward.items()}
    results["unet_grads"] = (unet_grads, DEEP_GRADIENT_TOLERANCE)
    results.update({f"train_step_{k}": v for k, v in training_step().items()})
    failed = []
    for name, (err, tol) in results.items():
        ok = err <= tol
        print(f"torch_verify: {name}: {err:.2e} (<= {tol:g}) {'ok' if ok else 'FAILED'}", file=sys.stderr)
        if not ok:
            failed.append(name)
    if failed:
        raise SystemExit(f"torch_verify: transcription differs from the fixtures: {', '.join(failed)}")


if __name__ == "__main__":
    main()
