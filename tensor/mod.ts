/**
 * The tensor library: typed tensors on WebGPU with autograd.
 * Call `await init()` once before creating tensors.
 */
import { type Backend, backend, setBackend } from "./backend/mod.ts";
import { getDevice } from "./webgpu/device.ts";
import { WebGpuBackend } from "./webgpu/backend.ts";
import "./autograd.ts";

/** Creates the device and installs the WebGPU backend (idempotent). Returns the backend. */
export async function init(): Promise<Backend> {
  try {
    return backend();
  } catch {
    const b = new WebGpuBackend(await getDevice());
    setBackend(b);
    return b;
  }
}

/** Memory and execution counters of the active backend. */
export function stats(): ReturnType<Backend["stats"]> {
  return backend().stats();
}

export { backend } from "./backend/mod.ts";
export type * from "./backend/mod.ts";
export { BACKEND_KINDS } from "./backend/mod.ts";
export { getDevice, NO_GPU_HELP } from "./webgpu/device.ts";
export type { Device, DeviceFeatures } from "./webgpu/device.ts";
export type { DType } from "./dtype.ts";
export * from "./shape.ts";
export { empty, scope, scopeAsync, Storage, Tensor } from "./tensor.ts";
export { isGradEnabled, noGrad, record } from "./autograd.ts";
export * from "./ops/create.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/movement.ts";
export * from "./ops/matmul.ts";
export * from "./ops/softmax.ts";
export * from "./ops/random.ts";
export { gradcheck } from "./gradcheck.ts";
export type { GradcheckResult } from "./gradcheck.ts";
export { philox4x32, streamId, toUnit } from "./philox.ts";
export * from "./ops/conv.ts";
export * from "./ops/norm.ts";
export * from "./ops/resample.ts";
export * from "./ops/pool.ts";
export * from "./ops/attention.ts";
export { checkpoint } from "./checkpoint.ts";
export { enableGrad } from "./autograd.ts";
