/**
 * ldm3d: 3D latent diffusion for brain MRI on WebGPU.
 *
 * - `tensor`: typed tensors with autograd on WebGPU (call `await tensor.init()` first).
 * - `data`: NIfTI I/O, the Decathlon BraTS dataset, reference transforms, loader, synthetic phantoms.
 * - `serialization`: safetensors and PyTorch `.pt` state dicts.
 *
 * @module
 */
/** Typed tensors with autograd on WebGPU. */
export * as tensor from "./tensor/mod.ts";
/** NIfTI I/O, BraTS/Decathlon data, transforms, loader, phantoms. */
export * as data from "./data/mod.ts";
/** safetensors and PyTorch `.pt` state dicts. */
export * as serialization from "./nn/serialization/mod.ts";
