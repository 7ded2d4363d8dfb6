/**
 * Data parallelism is DDP-equivalent: 2 ranks × batch 1 give the same averaged gradients (≤1e-5 relative)
 * and the same weights after 3 steps (≤1e-4) as 1 rank × batch 2, for the tiny autoencoder (with the
 * discriminator; perceptual term off) and the tiny UNet, over shared memory and (when installed) MPI.
 */
import assert from "node:assert/strict";
import { launch } from "../../../recipe/launcher.ts";
import { relError } from "../../fixtures.ts";
import { here, runDeno } from "./_spawn.ts";

const WORKER = here("./_dp_worker.ts");
const hasMpirun =
  new Deno.Command("sh", { args: ["-c", "command -v mpirun"], stdout: "null", stderr: "null" })
    .outputSync().success;

async function read(path: string): Promise<Float32Array> {
  const b = await Deno.readFile(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

for (const model of ["ae", "unet"]) {
  for (const dist of ["shm", "mpi"] as const) {
    Deno.test({
      name: `data parallel (${dist}): 2 ranks × batch 1 equal 1 rank × batch 2 for the tiny ${
        model === "ae" ? "autoencoder" : "UNet"
      }`,
      ignore: dist === "mpi" && !hasMpirun,
      fn: async () => {
        const dir = await Deno.makeTempDir();
        try {
          const single = await runDeno(WORKER, [model, dir], {}, 180_000);
          assert.equal(single.code, 0, single.stderr);
          const lines: string[] = [];
          const job = await launch({
            worldSize: 2,
            script: WORKER,
            args: [model, dir],
            dist,
            softwareAdapter: true,
            gpuLister: () => Promise.resolve([]),
            output: (l) => lines.push(l),
          });
          assert.equal(job.code, 0, lines.join("\n"));
          const g1 = await read(`${dir}/grads-1.bin`), g2 = await read(`${dir}/grads-2.bin`);
          assert.ok(relError(g2, g1) <= 1e-5, `gradients differ: ${relError(g2, g1)}`);
          const w1 = await read(`${dir}/weights-1.bin`), w2 = await read(`${dir}/weights-2.bin`);
          // Autoencoder weights whose true gradient is zero (a conv bias right before GroupNorm) get float
          // noise as gradient (~1e-9, summed in another order with 2 ranks); Adam normalises that noise into
          // ±lr steps in either process. Those entries carry no information and are left out. (The UNet starts
          // with zero-initialised output convs, so most of its step-0 gradients are exactly zero: no filter.)
          let gMax = 0;
          for (const v of g1) gMax = Math.max(gMax, Math.abs(v));
          const keep = (i: number) => model !== "ae" || i >= g1.length || Math.abs(g1[i]) >= 1e-6 * gMax;
          const sel = (w: Float32Array) => w.filter((_, i) => keep(i));
          const dropped = w1.length - sel(w1).length;
          assert.ok(dropped < 0.01 * w1.length, `${dropped} of ${w1.length} weights have a zero gradient`);
          assert.ok(
            relError(sel(w2), sel(w1)) <= 1e-4,
            `weights after 3 steps differ: ${relError(sel(w2), sel(w1))}`,
          );
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}
