/** loadModelWeights (what generate, the demo and train_diffusion use): our checkpoints get the same NaN check as foreign files. */
import nodeAssert from "node:assert/strict";
import { join } from "node:path";
import * as T from "../../tensor/mod.ts";
import { Linear } from "../../nn/layers/linear.ts";
import { saveCheckpoint } from "../../nn/checkpoint.ts";
import { readSafetensors, writeSafetensors } from "../../nn/serialization/safetensors.ts";
import { loadModelWeights } from "../../recipe/weights.ts";

Deno.test("weights: NaN in our checkpoint or a plain safetensors file names the file and tensor; bad metadata names the field", async () => {
  await T.init();
  const dir = await Deno.makeTempDir({ prefix: "ldm-weights-" });
  const net = new Linear(2, 2);
  try {
    const path = join(dir, "autoencoder.safetensors");
    await saveCheckpoint(path, { models: { autoencoder: net } }, {
      kind: "x",
      configHash: "h",
      epoch: 1,
      step: 1,
    });
    assertEquals((await loadModelWeights(net, path, "autoencoderkl", "autoencoder")).source, "checkpoint");
    const { tensors, metadata } = readSafetensors(await Deno.readFile(path), path);
    (tensors.get("model.autoencoder.bias")!.data as Float32Array)[1] = NaN;
    await Deno.writeFile(path, writeSafetensors(tensors, metadata));
    await nodeAssert.rejects(
      () => loadModelWeights(net, path, "autoencoderkl", "autoencoder"),
      /autoencoder\.safetensors: tensor 'bias' contains NaN at element 1/,
    );
    await Deno.writeFile(path, writeSafetensors(tensors, { ...metadata, info: "undefined" }));
    await nodeAssert.rejects(
      () => loadModelWeights(net, path, "autoencoderkl", "autoencoder"),
      /autoencoder\.safetensors: corrupt checkpoint metadata: field 'info' is not valid JSON/,
    );
    const plain = join(dir, "plain.safetensors");
    await Deno.writeFile(
      plain,
      writeSafetensors(
        new Map([["weight", tensors.get("model.autoencoder.weight")!], [
          "bias",
          tensors.get("model.autoencoder.bias")!,
        ]]),
      ),
    );
    await nodeAssert.rejects(
      () => loadModelWeights(net, plain, "autoencoderkl", "autoencoder"),
      /plain\.safetensors: tensor 'bias' contains NaN at element 1/,
    );
  } finally {
    net.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

function assertEquals<V>(a: V, b: V): void {
  nodeAssert.deepStrictEqual(a, b);
}

Deno.test("run start: stale checkpoint temp files in model_dir are removed and named", async () => {
  const { setupRun } = await import("../../recipe/training_loop.ts");
  const dir = await Deno.makeTempDir({ prefix: "ldm-stale-" });
  try {
    const modelDir = join(dir, "models");
    await Deno.mkdir(modelDir);
    const child = new Deno.Command("true").spawn();
    await child.status;
    const stale = join(modelDir, `.autoencoder_last.safetensors.tmp-${child.pid}-deadbeef`);
    await Deno.writeTextFile(stale, "partial checkpoint");
    const logs: string[] = [];
    const env = {
      dataBaseDir: join(dir, "nodata"),
      modelDir,
      tfeventPath: join(dir, "tb"),
      resumeCkpt: false,
    };
    const { loadTrainConfig } = await import("../../recipe/config.ts");
    const config = await loadTrainConfig(new URL("./tiny_config.json", import.meta.url).pathname);
    // The run stops at the missing dataset, after the clean-up.
    await nodeAssert.rejects(() => setupRun({ config, env, log: (s) => logs.push(s) }), /dataset/);
    await nodeAssert.rejects(() => Deno.stat(stale), Deno.errors.NotFound);
    nodeAssert.deepEqual(logs.filter((l) => !l.startsWith("backend ")), [
      `removed ${stale} (left by an interrupted write)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
