/**
 * The tensor library: typed tensors on WebGPU with autograd.
 * Call `await init()` once before creating tensors.
 */
import {
  activeBackend,
  type Backend,
  backend,
  BACKEND_KINDS,
  type BackendKind,
  setBackend,
} from "./backend/mod.ts";
import { getDevice } from "./webgpu/device.ts";
import { WebGpuBackend } from "./webgpu/backend.ts";
import { WasmBackend } from "./wasm/backend.ts";
import "./autograd.ts";

/** Which backend `init()` installs: "auto" picks WebGPU only on a real (non-fallback) GPU adapter, else WASM. */
export type BackendChoice = "auto" | BackendKind;

/** Options of `init()`. */
export interface InitOptions {
  /** Backend to use (default: LDM_BACKEND, else "auto"). */
  backend?: BackendChoice;
  /** WASM threads, the main thread included (default: LDM_THREADS, else the host's logical cores). */
  threads?: number;
}

/** Valid backend names, for flag and env validation. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", ...BACKEND_KINDS];

/** Parses a backend name from a flag or env var; `where` names the source in the error. */
export function parseBackendChoice(value: string, where: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new Error(`${where}: unknown backend "${value}"; valid values are ${BACKEND_CHOICES.join(", ")}`);
}

function envBackend(): BackendChoice {
  let v: string | undefined;
  try {
    v = Deno.env.get("LDM_BACKEND");
  } catch { /* no env permission */ }
  return v ? parseBackendChoice(v, "LDM_BACKEND") : "auto";
}

/** True when a GPU adapter exists that is not a software fallback (llvmpipe, lavapipe, SwiftShader). */
export async function hasHardwareGpu(): Promise<boolean> {
  if (typeof navigator === "undefined" || !navigator.gpu) return false;
  try {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return false;
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const name = `${info.description} ${info.device} ${info.vendor} ${info.architecture}`;
    return !info.isFallbackAdapter && !/llvmpipe|lavapipe|softpipe|swiftshader/i.test(name);
  } catch {
    return false;
  }
}

/**
 * Installs the tensor backend (idempotent: a second call returns the installed one, and fails only when it asks
 * for a different one). Returns the backend.
 */
export async function init(options: InitOptions = {}): Promise<Backend> {
  const choice = options.backend ?? envBackend();
  const current = activeBackend();
  if (current) {
    if (choice !== "auto" && choice !== current.kind) {
      throw new Error(`init(): the ${current.kind} backend is already installed; cannot switch to ${choice}`);
    }
    return current;
  }
  const kind: BackendKind = choice === "auto" ? (await hasHardwareGpu() ? "webgpu" : "wasm") : choice;
  const b = kind === "webgpu"
    ? new WebGpuBackend(await getDevice())
    : await WasmBackend.create({ threads: options.threads });
  setBackend(b);
  return b;
}

/** One line naming the backend and its thread count, printed by every command. */
export function backendSummary(b: Backend = backend()): string {
  const threads = b.kind === "wasm" ? `, ${b.threads} thread${b.threads === 1 ? "" : "s"}` : "";
  return `backend ${b.kind} (${b.description})${threads}`;
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
export type * from "./window_shape.ts";
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
