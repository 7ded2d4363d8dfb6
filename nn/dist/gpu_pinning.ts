/**
 * One GPU per rank on multi-GPU Vulkan machines. WebGPU's `requestAdapter` has no index (with identical GPUs
 * the first one wins), so the choice is made below WebGPU by Mesa's Vulkan device-select layer (installed with
 * `mesa-vulkan-drivers`; it works for any driver, NVIDIA included): `DRI_PRIME=pci-0000_18_00_0` plus
 * `MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1` makes that device the only/first one a process sees. The PCI
 * addresses come from `nvidia-smi` or from /sys/bus/pci/devices (display controllers, class 0x03xxxx, minus
 * BMC/virtual adapters). `CUDA_VISIBLE_DEVICES` does not affect Vulkan.
 *
 * With one GPU, no GPU, or a software adapter (llvmpipe/lavapipe) all ranks share it. Each rank reports the
 * GPU it was pinned to ({@linkcode reportGpu}, one stderr line); the launcher checks the reports and fails the
 * job if two ranks share a GPU while at least as many GPUs as ranks are present. `adapter.info` carries no PCI
 * id, so the report is the pin the rank ran under plus its adapter description, not an independent probe.
 *
 * @module
 */

/** A GPU found on the machine. */
export interface GpuInfo {
  /** PCI address in the long form, lower case: "0000:18:00.0". */
  pciAddress: string;
  /** PCI vendor id, 4 hex digits ("10de" NVIDIA, "1002" AMD, "8086" Intel), when known. */
  vendorId?: string;
  /** PCI device id, 4 hex digits, when known. */
  deviceId?: string;
  /** Marketing name, when known (nvidia-smi). */
  name?: string;
}

/** Lists the machine's GPUs (injectable for tests). */
export type GpuLister = () => Promise<GpuInfo[]>;

/** Environment variables that pin a process to one GPU. */
export const PIN_ENV: {
  readonly driPrime: "DRI_PRIME";
  readonly force: "MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE";
} = {
  driPrime: "DRI_PRIME",
  force: "MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE",
};

/** PCI vendors of display controllers that are not compute GPUs (server BMCs, hypervisor adapters). */
const NON_GPU_VENDORS = new Set(["1a03", "102b", "1234", "1013", "15ad", "1af4", "80ee", "1414", "1b36"]);

/** Normalises "00000000:18:00.0" / "0000:18:00.0" / "18:00.0" to "0000:18:00.0". */
export function normalizePci(address: string): string {
  const m = /^(?:([0-9a-f]+):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(address.trim());
  if (!m) throw new Error(`GPU pinning: cannot parse PCI address "${address}"`);
  const domain = (m[1] ?? "0").slice(-4).padStart(4, "0");
  return `${domain}:${m[2].padStart(2, "0")}:${m[3].padStart(2, "0")}.${m[4]}`.toLowerCase();
}

/** The device-select tag for a PCI address: "0000:18:00.0" → "pci-0000_18_00_0". */
export function driPrimeTag(pciAddress: string): string {
  return "pci-" + normalizePci(pciAddress).replace(/[:.]/g, "_");
}

/** Parses `nvidia-smi --query-gpu=pci.bus_id,name --format=csv,noheader` output. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [bus, ...name] = line.split(",");
    gpus.push({ pciAddress: normalizePci(bus), vendorId: "10de", name: name.join(",").trim() || undefined });
  }
  return gpus;
}

/** GPUs from /sys/bus/pci/devices (display class 0x03xxxx, BMC/virtual vendors left out). */
export async function listSysfsGpus(root = "/sys/bus/pci/devices"): Promise<GpuInfo[]> {
  const gpus: GpuInfo[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(root));
  } catch {
    return gpus;
  }
  for (const e of entries) {
    const read = (f: string) =>
      Deno.readTextFile(`${root}/${e.name}/${f}`).then((s) => s.trim()).catch(() => "");
    const cls = await read("class");
    if (!cls.startsWith("0x03")) continue;
    const vendorId = (await read("vendor")).replace(/^0x/, "").toLowerCase();
    if (NON_GPU_VENDORS.has(vendorId)) continue;
    const deviceId = (await read("device")).replace(/^0x/, "").toLowerCase();
    try {
      gpus.push({
        pciAddress: normalizePci(e.name),
        vendorId: vendorId || undefined,
        deviceId: deviceId || undefined,
      });
    } catch { /* not a PCI address */ }
  }
  return gpus;
}

/** The machine's GPUs, sorted by PCI address: nvidia-smi's list merged with sysfs. */
export async function listGpus(): Promise<GpuInfo[]> {
  const byAddress = new Map<string, GpuInfo>();
  for (const g of await listSysfsGpus()) byAddress.set(g.pciAddress, g);
  try {
    const out = await new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=pci.bus_id,name", "--format=csv,noheader"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.code === 0) {
      for (const g of parseNvidiaSmi(new TextDecoder().decode(out.stdout))) {
        byAddress.set(g.pciAddress, { ...byAddress.get(g.pciAddress), ...g });
      }
    }
  } catch { /* no nvidia-smi */ }
  return [...byAddress.values()].sort((a, b) => a.pciAddress.localeCompare(b.pciAddress));
}

/** What each rank runs on. */
export interface PinPlan {
  /** True when ranks share GPUs (software adapter, no GPU, or fewer GPUs than ranks). */
  shared: boolean;
  /** Number of GPUs found. */
  gpuCount: number;
  /** GPU of each rank (null: whatever adapter WebGPU picks). */
  ranks: (GpuInfo | null)[];
  /** Environment to add to each rank's process. */
  env: Record<string, string>[];
  /** One line for the launcher's log. */
  note: string;
}

/**
 * Assigns GPUs to ranks: rank i → i-th GPU by PCI address when there are at least `worldSize` GPUs; round-robin
 * when there are several but fewer; nothing (shared adapter) with one GPU, none, or a software adapter.
 */
export function planGpuPinning(worldSize: number, gpus: readonly GpuInfo[], software = false): PinPlan {
  const sorted = [...gpus].sort((a, b) => a.pciAddress.localeCompare(b.pciAddress));
  const none = (note: string): PinPlan => ({
    shared: worldSize > 1,
    gpuCount: sorted.length,
    ranks: Array.from({ length: worldSize }, () => null),
    env: Array.from({ length: worldSize }, () => ({})),
    note,
  });
  if (software) return none(`software adapter: all ${worldSize} ranks share it`);
  if (sorted.length === 0) {
    return none(`no GPU found on the PCI bus: all ${worldSize} ranks share the default adapter`);
  }
  if (sorted.length === 1) return none(`one GPU (${sorted[0].pciAddress}): all ${worldSize} ranks share it`);
  const ranks = Array.from({ length: worldSize }, (_, r) => sorted[r % sorted.length]);
  return {
    shared: sorted.length < worldSize,
    gpuCount: sorted.length,
    ranks,
    env: ranks.map((g) => ({ [PIN_ENV.driPrime]: driPrimeTag(g.pciAddress), [PIN_ENV.force]: "1" })),
    note: sorted.length >= worldSize
      ? `${sorted.length} GPUs: rank i → ${ranks.map((g, r) => `${r}:${g.pciAddress}`).join(" ")}`
      : `only ${sorted.length} GPUs for ${worldSize} ranks: round-robin, ranks share GPUs`,
  };
}

/**
 * Pins the current process from inside (for ranks started by mpirun, which sets no per-rank variables of
 * ours): sets the device-select variables for GPU `localRank` before the first `requestAdapter`. Returns the
 * GPU or null when the process should use the shared default adapter.
 */
export async function pinThisProcess(
  localRank: number,
  localWorldSize: number,
  lister: GpuLister = listGpus,
): Promise<GpuInfo | null> {
  if (Deno.env.get(PIN_ENV.driPrime)) return null; // pinned by the launcher or the user
  const plan = planGpuPinning(localWorldSize, await lister());
  for (const [k, v] of Object.entries(plan.env[localRank] ?? {})) Deno.env.set(k, v);
  return plan.ranks[localRank] ?? null;
}

/** What a rank says about its GPU. */
export interface GpuReport {
  /** The reporting rank. */
  rank: number;
  /** The device-select tag it ran under ("pci-0000_18_00_0"), or "default" when unpinned. */
  pin: string;
  /** Its WebGPU adapter description. */
  adapter: string;
}

const REPORT_PREFIX = "LDM3D_GPU ";

/** The report line a rank prints (parsed back by {@linkcode parseGpuReport}). */
export function formatGpuReport(report: GpuReport): string {
  return REPORT_PREFIX + JSON.stringify(report);
}

/** Parses a report line; null when the line is not one. */
export function parseGpuReport(line: string): GpuReport | null {
  if (!line.startsWith(REPORT_PREFIX)) return null;
  try {
    const r = JSON.parse(line.slice(REPORT_PREFIX.length));
    if (typeof r.rank === "number" && typeof r.pin === "string" && typeof r.adapter === "string") return r;
  } catch { /* not a report */ }
  return null;
}

/** Prints this rank's GPU report to stderr (call once, after creating the device). */
export function reportGpu(rank: number, adapterDescription: string): GpuReport {
  const report = { rank, pin: Deno.env.get(PIN_ENV.driPrime) ?? "default", adapter: adapterDescription };
  console.error(formatGpuReport(report));
  return report;
}

/**
 * Null when the reports are acceptable, else the error: with at least `worldSize` GPUs present every rank
 * must be on its own GPU. With fewer GPUs (or a software adapter) sharing is expected.
 */
export function checkGpuReports(
  reports: readonly GpuReport[],
  worldSize: number,
  gpuCount: number,
): string | null {
  if (gpuCount < worldSize) return null;
  const byPin = new Map<string, number[]>();
  for (const r of reports) byPin.set(r.pin, [...(byPin.get(r.pin) ?? []), r.rank]);
  for (const [pin, ranks] of byPin) {
    if (ranks.length > 1) {
      const who = ranks.sort((a, b) => a - b).join(", ");
      return `ranks ${who} share GPU ${pin} although ${gpuCount} GPUs are present for ${worldSize} ranks ` +
        `(pinning failed: is mesa-vulkan-drivers installed, which provides the device-select layer?)`;
    }
  }
  return null;
}

/** True when the WebGPU adapter is a CPU rasteriser (llvmpipe, lavapipe, SwiftShader) or absent. */
export async function softwareAdapter(): Promise<boolean> {
  if (typeof navigator === "undefined" || !navigator.gpu) return true;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return true;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return info.isFallbackAdapter === true || /llvmpipe|lavapipe|softpipe|swiftshader|software/i.test(text);
}
