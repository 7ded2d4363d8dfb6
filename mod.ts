/**
 * ldm3d: 3D latent diffusion for brain MRI on WebGPU.
 *
 * - `tensor`: typed tensors with autograd on WebGPU (call `await tensor.init()` first).
 * - `nn`: modules, layers, losses, optimizers, the reference models and training steps, checkpoints.
 * - `diffusion`: the diffusion UNet, DDPM/DDIM schedulers, the latent diffusion inferer.
 * - `data`: NIfTI I/O, the Decathlon BraTS dataset, reference transforms, loader, synthetic phantoms.
 * - `metrics`: PSNR, 3D SSIM / MS-SSIM, Fréchet distance on fixed volume features.
 * - `serialization`: safetensors and PyTorch `.pt` state dicts.
 * - `dist`: data-parallel gradient averaging (shared memory, MPI).
 * - `recipe`: the reference example's training recipe (both stages, generation, training loop, run log); the
 *   commands in `cli/` are flag parsing around it.
 *
 * @module
 */
/** Typed tensors with autograd on WebGPU. */
export * as tensor from "./tensor/mod.ts";
/** Modules, layers, losses, optimizers, reference models, training steps. */
export * as nn from "./nn/mod.ts";
/** Atomic training checkpoints. */
export * as checkpoint from "./nn/checkpoint.ts";
/** Diffusion UNet, schedulers, latent diffusion inferer. */
export * as diffusion from "./diffusion/mod.ts";
/** NIfTI I/O, BraTS/Decathlon data, transforms, loader, phantoms. */
export * as data from "./data/mod.ts";
/** Image-quality and distribution metrics for volumes. */
export * as metrics from "./nn/metrics/mod.ts";
/** safetensors and PyTorch `.pt` state dicts. */
export * as serialization from "./nn/serialization/mod.ts";
/** Data-parallel gradient averaging across processes. */
export * as dist from "./nn/dist/mod.ts";
/** The training recipe: both stages, generation, the training loop and the run log. */
export * as recipe from "./recipe/mod.ts";
