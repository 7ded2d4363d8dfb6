/** The GPU device: one adapter + device with the adapter's maximum limits and the optional features probed. */

/** Optional features this device was created with. */
export interface DeviceFeatures {
  shaderF16: boolean;
  timestampQuery: boolean;
  subgroups: boolean;
}

/** A ready GPU device with its limits and features. */
export interface Device {
  adapter: GPUAdapter;
  gpu: GPUDevice;
  features: DeviceFeatures;
  limits: GPUSupportedLimits;
  /** Human-readable adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
}

/** What to install when no adapter is found (printed by the CLI and the tests). */
export const NO_GPU_HELP =
  "No WebGPU adapter found. On a machine without a GPU install Mesa's software Vulkan driver: " +
  "`apt-get install mesa-vulkan-drivers libvulkan1` (Debian/Ubuntu), then run again.";

let current: Promise<Device> | null = null;

/** Returns the process-wide device, creating it on first use. Throws with install advice when there is no GPU. */
export function getDevice(): Promise<Device> {
  current ??= createDevice();
  return current;
}

const LIMIT_NAMES = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
] as const;

async function createDevice(): Promise<Device> {
  if (typeof navigator === "undefined" || !navigator.gpu) throw new Error(NO_GPU_HELP);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(NO_GPU_HELP);
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const wanted: GPUFeatureName[] = [];
  if (adapter.features.has("shader-f16")) wanted.push("shader-f16");
  if (adapter.features.has("timestamp-query")) wanted.push("timestamp-query");
  // `subgroups` is not listed in adapter.features on Deno but can still be granted: probe by trying.
  let gpu: GPUDevice;
  let subgroups = true;
  try {
    gpu = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures: [...wanted, "subgroups" as GPUFeatureName],
    });
  } catch {
    subgroups = false;
    gpu = await adapter.requestDevice({ requiredLimits, requiredFeatures: wanted });
  }
  gpu.addEventListener("uncapturederror", (e) => {
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  const info = adapter.info;
  return {
    adapter,
    gpu,
    features: {
      shaderF16: gpu.features.has("shader-f16"),
      timestampQuery: gpu.features.has("timestamp-query"),
      subgroups,
    },
    limits: gpu.limits,
    description: info.description || `${info.vendor} ${info.device}`,
  };
}
