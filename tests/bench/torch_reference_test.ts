/**
 * The PyTorch reference of the benchmarks: its transcribed models reproduce the fixtures (so the timed steps
 * are the right ones), and ratio / BLAS-warning lines pair and flag records as they should.
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import type { BenchRecord } from "../../bench/measure.ts";
import { findTorchPython, ratioRecords, referenceBlasWarning } from "../../bench/torch_runner.ts";

await T.init();
const python = await findTorchPython();

const rec = (name: string, shape: string, ms: number, backend: string, blas?: string): BenchRecord => ({
  name,
  shape,
  ms,
  gflops: null,
  gbps: null,
  adapter: "",
  backend,
  threads: 2,
  ...(blas ? { blas } : {}),
});

Deno.test("ratio lines pair ours with the torch record of the same name and shape (> 1: we are slower)", () => {
  const ours = [rec("step", "1x1x32^3", 300, "wasm"), rec("other", "8", 5, "wasm")];
  const refs = [rec("step", "1x1x32^3", 200, "torch-cpu"), rec("other", "16", 5, "torch-cpu")];
  const ratios = ratioRecords(ours, refs);
  assert.equal(ratios.length, 1);
  assert.equal(ratios[0].name, "ratio_vs_torch step");
  assert.equal(ratios[0].timeRatio, 1.5);
});

Deno.test("a torch run on netlib's reference BLAS is flagged; OpenBLAS, MKL or an unknown BLAS is not", () => {
  const netlib = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0";
  assert.match(referenceBlasWarning([rec("s", "", 1, "torch-cpu", netlib)]) ?? "", /reference BLAS/);
  const openblas = "/tmp/ob/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3";
  assert.equal(referenceBlasWarning([rec("s", "", 1, "torch-cpu", openblas)]), null);
  assert.equal(referenceBlasWarning([rec("s", "", 1, "torch-cpu", "/opt/intel/libmkl_rt.so")]), null);
  assert.equal(referenceBlasWarning([rec("s", "", 1, "torch-cpu")]), null);
});

Deno.test({
  name: "the PyTorch transcriptions the step bench times reproduce the fixtures (bench/torch_verify.py)",
  ignore: !python,
  fn: async () => {
    const script = new URL("../../bench/torch_verify.py", import.meta.url).pathname;
    const out = await new Deno.Command(python!, { args: [script], stdout: "piped", stderr: "piped" })
      .output();
    const log = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, log);
    const checks = ["autoencoder_recon", "discriminator_logits", "perceptual_loss", "unet_out", "unet_grads"];
    for (const check of [...checks, "train_step_autoencoder_grads", "train_step_discriminator_adam_excess"]) {
      assert.match(log, new RegExp(`torch_verify: ${check}: \\S+ \\(<= [0-9.e-]+\\) ok`));
    }
  },
});
