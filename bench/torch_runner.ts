/**
 * Runs a PyTorch reference script (bench/torch_*.py) on this host when python3 with torch is installed, and
 * turns its JSON lines into records and ours/torch ratio lines. Optional: without torch it says why.
 */
import { type BenchRecord, record } from "./measure.ts";

/** What a reference run gave: its records, or why there are none. */
export type TorchRun = { records: BenchRecord[] } | { unavailable: string };

/** The first interpreter that imports torch: LDM_PYTHON, python3 on PATH, then Debian's /usr/bin/python3. */
export async function findTorchPython(): Promise<string | null> {
  // A pyenv shim on PATH may shadow the python3 that Debian's python3-torch is installed for.
  for (const python of [Deno.env.get("LDM_PYTHON") ?? "python3", "/usr/bin/python3"]) {
    const probe = await new Deno.Command(python, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (probe?.success) return python;
  }
  return null;
}

/**
 * Runs `bench/<script> --threads <threads> …args` (with `stdin`), passing its stderr through; parses its
 * stdout lines. The BLAS torch loads is the system's unless LD_LIBRARY_PATH points elsewhere (records name
 * it); an OpenBLAS there gets the same thread count.
 */
export async function runTorchReference(
  script: string,
  threads: number,
  args: string[] = [],
  stdin = "",
): Promise<TorchRun> {
  const python = await findTorchPython();
  if (!python) {
    return { unavailable: "no python3 with torch (apt-get install python3-torch, or set LDM_PYTHON)" };
  }
  const child = new Deno.Command(python, {
    args: [new URL(`./${script}`, import.meta.url).pathname, "--threads", String(threads), ...args],
    env: { OPENBLAS_NUM_THREADS: String(threads) },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  if (!out.success) return { unavailable: `${script} failed (exit ${out.code}; its message is above)` };
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l.length > 0);
  return { records: lines.map((l) => JSON.parse(l) as BenchRecord) };
}

/**
 * A warning when torch ran on netlib's reference BLAS (Debian's default libblas3): its Linear, bmm and the
 * small 3-D convs oneDNN declines run several times slower than on OpenBLAS, so the ratios flatter us.
 */
export function referenceBlasWarning(refs: BenchRecord[]): string | null {
  const blas = refs.map((r) => String(r.blas ?? "")).find((b) => b.length > 0);
  if (!blas || /openblas|mkl/i.test(blas) || !/\/blas\/libblas/.test(blas)) return null;
  return `bench: WARNING: PyTorch ran on the reference BLAS (${blas}), several times slower than OpenBLAS ` +
    "for matmuls and small convs, so these ratios flatter us. For a fair reference without root: " +
    "apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb /tmp/ob, then rerun with " +
    "LD_LIBRARY_PATH=/tmp/ob/usr/lib/x86_64-linux-gnu/openblas-openmp";
}

/** One `ratio_vs_torch <name>` record per reference with a same-name, same-shape record of ours (> 1: slower). */
export function ratioRecords(ours: BenchRecord[], refs: BenchRecord[]): BenchRecord[] {
  return refs.flatMap((r) => {
    const mine = ours.find((o) => o.name === r.name && o.shape === r.shape && o.backend !== "torch-cpu");
    if (!mine) return [];
    const ratio = mine.ms / r.ms;
    return [{
      ...record(`ratio_vs_torch ${r.name}`, r.shape, ratio, null, null),
      timeRatio: Number(ratio.toFixed(3)),
    }];
  });
}

/** Emits the reference's records, then our ratio to each, then the BLAS warning if any (one run's comparison). */
export function emitComparison(
  ours: BenchRecord[],
  torch: { records: BenchRecord[] },
  emit: (r: BenchRecord) => void,
): void {
  for (const r of torch.records) emit(r);
  for (const r of ratioRecords(ours, torch.records)) emit(r);
  const warning = referenceBlasWarning(torch.records);
  if (warning) console.error(warning);
}
