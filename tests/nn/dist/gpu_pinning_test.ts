import assert from "node:assert/strict";
import {
  checkGpuReports,
  driPrimeTag,
  formatGpuReport,
  type GpuInfo,
  listSysfsGpus,
  normalizePci,
  parseGpuReport,
  parseNvidiaSmi,
  PIN_ENV,
  pinThisProcess,
  planGpuPinning,
} from "../../../nn/dist/gpu_pinning.ts";

const gpu = (bus: string): GpuInfo => ({
  pciAddress: `0000:${bus}:00.0`,
  vendorId: "10de",
  deviceId: "2330",
});
const FOUR = [gpu("b1"), gpu("18"), gpu("3b"), gpu("86")];

Deno.test("gpu pinning: PCI addresses and device-select tags", () => {
  assert.equal(normalizePci("00000000:18:00.0"), "0000:18:00.0");
  assert.equal(normalizePci("3B:00.0"), "0000:3b:00.0");
  assert.equal(driPrimeTag("00000000:18:00.0"), "pci-0000_18_00_0");
  assert.throws(() => normalizePci("GPU-1234"), /cannot parse PCI address "GPU-1234"/);
  assert.deepEqual(
    parseNvidiaSmi("00000000:18:00.0, NVIDIA H100 80GB HBM3\n00000000:3B:00.0, NVIDIA H100 80GB HBM3\n"),
    [
      { pciAddress: "0000:18:00.0", vendorId: "10de", name: "NVIDIA H100 80GB HBM3" },
      { pciAddress: "0000:3b:00.0", vendorId: "10de", name: "NVIDIA H100 80GB HBM3" },
    ],
  );
});

Deno.test("gpu pinning: rank i gets the i-th GPU by PCI address when there are enough", () => {
  const plan = planGpuPinning(4, FOUR);
  assert.equal(plan.shared, false);
  assert.deepEqual(plan.ranks.map((g) => g?.pciAddress), [
    "0000:18:00.0",
    "0000:3b:00.0",
    "0000:86:00.0",
    "0000:b1:00.0",
  ]);
  assert.deepEqual(plan.env[1], {
    DRI_PRIME: "pci-0000_3b_00_0",
    MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: "1",
  });
  // More GPUs than ranks: the first ones are used.
  assert.deepEqual(planGpuPinning(2, FOUR).ranks.map((g) => g?.pciAddress), ["0000:18:00.0", "0000:3b:00.0"]);
});

Deno.test("gpu pinning: one GPU, no GPU or a software adapter are shared; too few GPUs go round-robin", () => {
  for (const plan of [planGpuPinning(2, [gpu("18")]), planGpuPinning(2, []), planGpuPinning(2, FOUR, true)]) {
    assert.equal(plan.shared, true);
    assert.deepEqual(plan.env, [{}, {}]);
    assert.deepEqual(plan.ranks, [null, null]);
  }
  const rr = planGpuPinning(4, FOUR.slice(0, 2));
  assert.equal(rr.shared, true);
  assert.deepEqual(rr.env.map((e) => e.DRI_PRIME), [
    "pci-0000_18_00_0",
    "pci-0000_b1_00_0",
    "pci-0000_18_00_0",
    "pci-0000_b1_00_0",
  ]);
  assert.equal(planGpuPinning(1, []).shared, false);
});

Deno.test("gpu pinning: reports round-trip and sharing is an error only with enough GPUs", () => {
  const r = { rank: 1, pin: "pci-0000_3b_00_0", adapter: "NVIDIA H100 80GB HBM3" };
  assert.deepEqual(parseGpuReport(formatGpuReport(r)), r);
  assert.equal(parseGpuReport("LDM3D_GPU {bad json"), null);
  assert.equal(parseGpuReport("epoch 1 loss 0.3"), null);
  const same = [{ ...r, rank: 0 }, r];
  assert.match(
    checkGpuReports(same, 2, 2) ?? "",
    /ranks 0, 1 share GPU pci-0000_3b_00_0 although 2 GPUs are present for 2 ranks/,
  );
  assert.equal(checkGpuReports(same, 2, 1), null);
  assert.equal(checkGpuReports([{ ...r, rank: 0, pin: "pci-0000_18_00_0" }, r], 2, 2), null);
});

Deno.test("gpu pinning: sysfs listing keeps display controllers and leaves out BMC adapters", async () => {
  const root = await Deno.makeTempDir();
  const dev = async (addr: string, cls: string, vendor: string, device: string) => {
    await Deno.mkdir(`${root}/${addr}`);
    await Deno.writeTextFile(`${root}/${addr}/class`, cls + "\n");
    await Deno.writeTextFile(`${root}/${addr}/vendor`, vendor + "\n");
    await Deno.writeTextFile(`${root}/${addr}/device`, device + "\n");
  };
  try {
    await dev("0000:18:00.0", "0x030200", "0x10de", "0x2330"); // NVIDIA 3D controller
    await dev("0000:03:00.0", "0x030000", "0x1a03", "0x2000"); // ASPEED BMC VGA
    await dev("0000:c1:00.0", "0x038000", "0x1002", "0x740f"); // AMD display controller
    await dev("0000:00:1f.0", "0x060100", "0x8086", "0xa1c1"); // ISA bridge
    const gpus = (await listSysfsGpus(root)).sort((a, b) => a.pciAddress.localeCompare(b.pciAddress));
    assert.deepEqual(gpus, [
      { pciAddress: "0000:18:00.0", vendorId: "10de", deviceId: "2330" },
      { pciAddress: "0000:c1:00.0", vendorId: "1002", deviceId: "740f" },
    ]);
    assert.deepEqual(await listSysfsGpus(`${root}/missing`), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gpu pinning: a process started by mpirun pins itself from its local rank", async () => {
  const saved = { p: Deno.env.get(PIN_ENV.driPrime), f: Deno.env.get(PIN_ENV.force) };
  Deno.env.delete(PIN_ENV.driPrime);
  try {
    const got = await pinThisProcess(1, 2, () => Promise.resolve(FOUR));
    assert.equal(got?.pciAddress, "0000:3b:00.0");
    assert.equal(Deno.env.get(PIN_ENV.driPrime), "pci-0000_3b_00_0");
    assert.equal(Deno.env.get(PIN_ENV.force), "1");
    // Already pinned (by the launcher or the user): left alone.
    assert.equal(await pinThisProcess(0, 2, () => Promise.resolve(FOUR)), null);
    assert.equal(Deno.env.get(PIN_ENV.driPrime), "pci-0000_3b_00_0");
  } finally {
    for (const [k, v] of [[PIN_ENV.driPrime, saved.p], [PIN_ENV.force, saved.f]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
});
