/**
 * Micro end-to-end runs of every command on a tiny synthetic dataset: training, resume equivalence, NaN
 * handling, generation outputs, and the commands' error messages.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readNifti, writeSyntheticDataset } from "../../data/mod.ts";
import { loadTrainConfig } from "../../recipe/config.ts";
import { AUTOENCODER_FILES, trainAutoencoder } from "../../recipe/train_autoencoder.ts";
import { trainDiffusion } from "../../recipe/train_diffusion.ts";
import { generate } from "../../recipe/generate.ts";
import { LossBook, NonFiniteLossError } from "../../recipe/run_context.ts";
import { readSafetensors } from "../../nn/serialization/safetensors.ts";
import * as T from "../../tensor/mod.ts";
import { type LoggedValue, readEventDir } from "./_tfevents_read.ts";

const CONFIG = new URL("./tiny_config.json", import.meta.url).pathname;
const quiet = () => {};

async function dataset(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ldm-pipeline-" });
  await writeSyntheticDataset(join(dir, "data"), {
    numTraining: 6,
    shape: [32, 32, 32],
    spacing: 4,
    seed: 3,
  });
  return dir;
}

function envFor(dir: string, name: string, resume = true) {
  return {
    dataBaseDir: join(dir, "data"),
    modelDir: join(dir, name, "models"),
    tfeventPath: join(dir, name, "tb"),
    resumeCkpt: resume,
  };
}

async function modelTensors(path: string, prefix: string): Promise<Map<string, Float32Array>> {
  const { tensors } = readSafetensors(await Deno.readFile(path), path);
  const out = new Map<string, Float32Array>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k, v.data as Float32Array);
  return out;
}

Deno.test("pipeline: train autoencoder → train diffusion → generate, with previews, events and NIfTI outputs", async () => {
  const dir = await dataset();
  try {
    const config = await loadTrainConfig(CONFIG);
    const env = envFor(dir, "run");
    const ae = await trainAutoencoder({ config, env, log: quiet });
    assert.equal(ae.epochsDone, 2);
    assert.ok(Number.isFinite(ae.bestValLoss) && ae.bestValLoss < 100);
    for (const f of [AUTOENCODER_FILES.best, AUTOENCODER_FILES.last, AUTOENCODER_FILES.preview]) {
      assert.ok((await Deno.stat(join(env.modelDir, f))).size > 0, f);
    }
    const dm = await trainDiffusion({ config, env, synthEvery: 1, synthDdimSteps: 2, log: quiet });
    assert.ok(dm.scaleFactor > 0 && Number.isFinite(dm.scaleFactor));
    assert.ok((await Deno.stat(join(env.modelDir, "diffusion_synthesis.png"))).size > 0);
    // TensorBoard as the reference logs it: one image per axis, per-epoch values at the 0-based epoch.
    const tags = (vs: LoggedValue[], kind: "image" | "scalar") =>
      [...new Set(vs.filter((v) => kind === "image" ? v.image : v.scalar !== undefined).map((v) => v.tag))]
        .sort();
    const stepsOf = (vs: LoggedValue[], tag: string) => vs.filter((v) => v.tag === tag).map((v) => v.step);
    const aeLog = await readEventDir(join(env.tfeventPath, "autoencoder"));
    assert.deepEqual(tags(aeLog, "image"), [
      "val_img_0",
      "val_img_1",
      "val_img_2",
      "val_recon_0",
      "val_recon_1",
      "val_recon_2",
    ]);
    for (const t of ["val_img_0", "val_recon_2", "val_recon_loss"]) {
      assert.deepEqual(stepsOf(aeLog, t), [0, 1], t);
    }
    assert.deepEqual(stepsOf(aeLog, "train_recon_loss_iter"), [1, 2, 3, 4, 5, 6]);
    // Axis 0 of the 24³ validation volume: a 24 × 24 grey image (transposition: tests/cli/reference_slices_test.ts).
    const slice = aeLog.find((v) => v.tag === "val_img_0")!.image!;
    assert.deepEqual([slice.height, slice.width, slice.colorspace], [24, 24, 1]);
    const dmLog = await readEventDir(join(env.tfeventPath, "diffusion"));
    assert.deepEqual(tags(dmLog, "image"), [
      "train_img_0",
      "train_img_1",
      "train_img_2",
      "val_diff_synimg_0",
      "val_diff_synimg_1",
      "val_diff_synimg_2",
    ]);
    assert.deepEqual(stepsOf(dmLog, "train_img_1"), [1]);
    assert.deepEqual(stepsOf(dmLog, "val_diff_synimg_0"), [0]);
    assert.deepEqual(stepsOf(dmLog, "val_diffusion_loss"), [0]);
    // The reference's two scalars, plus ours: validation MSE per timestep bucket (buckets with samples only).
    const scalars = tags(dmLog, "scalar");
    assert.deepEqual(scalars.slice(0, 2), ["train_diffusion_loss_iter", "val_diffusion_loss"]);
    assert.ok(scalars.length > 2, "no per-timestep validation MSE was logged");
    for (const s of scalars.slice(2)) assert.match(s, /^val_diffusion_mse_t\d+_\d+$/);
    assert.deepEqual(stepsOf(dmLog, scalars[2]), [0]);
    const gen = await generate({
      config,
      env,
      num: 1,
      scheduler: "ddim",
      steps: 3,
      output: join(dir, "samples"),
      log: quiet,
    });
    assert.equal(gen.scaleFactor, dm.scaleFactor, "the stored scale factor is used");
    const nii = gen.files.find((f) => f.endsWith(".nii.gz"))!;
    const img = await readNifti(nii);
    assert.deepEqual(img.volume.shape, [1, 16, 16, 16]);
    assert.deepEqual(img.volume.spacing.map((s) => Number(s.toFixed(4))), config.spacing);
    assert.ok(
      img.volume.affine[0][0] > 0 && img.volume.affine[1][1] > 0 && img.volume.affine[2][2] > 0,
      "RAS",
    );
    assert.ok((await Deno.stat(nii.replace(".nii.gz", ".png"))).size > 0);
    // Without --output, the environment's output_dir is used (the reference's inference.py).
    const outputDir = join(dir, "env_output");
    const viaEnv = await generate({
      config,
      env: { ...env, outputDir },
      num: 1,
      scheduler: "ddim",
      steps: 2,
      log: quiet,
    });
    assert.ok(
      viaEnv.files.length === 2 && viaEnv.files.every((f) => f.startsWith(outputDir + "/")),
      viaEnv.files.join(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resume: a run resumed at an epoch boundary ends with the same weights as an uninterrupted one", async () => {
  const dir = await dataset();
  try {
    const config = await loadTrainConfig(CONFIG);
    const whole = envFor(dir, "whole", false), split = envFor(dir, "split", true);
    await trainAutoencoder({ config, env: whole, maxEpochs: 2, log: quiet });
    await trainAutoencoder({ config, env: split, maxEpochs: 1, log: quiet });
    const logs: string[] = [];
    await trainAutoencoder({ config, env: split, maxEpochs: 2, log: (s) => logs.push(s) });
    assert.ok(logs.some((l) => l.startsWith("resumed from")), logs.join("\n"));
    // A changed lr on resume: the optimizer state wins, and the log says so (no epochs left to run here).
    const changed = { ...config, autoencoderTrain: { ...config.autoencoderTrain, lr: 3e-4 } };
    const said: string[] = [];
    await trainAutoencoder({ config: changed, env: split, maxEpochs: 2, log: (s) => said.push(s) });
    assert.ok(
      said.includes(
        "resume: generator lr 1.000e-4 comes from the checkpoint's optimizer state and overrides the config's autoencoder_train.lr 3.000e-4",
      ),
      said.join("\n"),
    );
    const a = await modelTensors(join(whole.modelDir, AUTOENCODER_FILES.last), "model.");
    const b = await modelTensors(join(split.modelDir, AUTOENCODER_FILES.last), "model.");
    assert.equal(a.size, b.size);
    for (const [k, v] of a) assert.deepEqual(b.get(k), v, `weights differ at ${k}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NaN loss: training stops naming the step and terms, and the last good checkpoint survives", async () => {
  const dir = await dataset();
  try {
    const config = await loadTrainConfig(CONFIG);
    const env = envFor(dir, "nan");
    await trainAutoencoder({ config, env, maxEpochs: 1, log: quiet });
    const path = join(env.modelDir, AUTOENCODER_FILES.last);
    const before = await Deno.readFile(path);
    // A fresh run (no resume: a resumed optimizer would restore its saved lr) whose lr blows the weights up.
    const exploding = { ...config, autoencoderTrain: { ...config.autoencoderTrain, lr: 1e30 } };
    await assert.rejects(
      () =>
        trainAutoencoder({
          config: exploding,
          env: { ...env, resumeCkpt: false },
          maxEpochs: 3,
          logEvery: 1,
          log: quiet,
        }),
      (e: Error) =>
        e instanceof NonFiniteLossError &&
        /non-finite loss at step \d+: \w+ = (NaN|-?Infinity)/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(path), before, "the checkpoint was not overwritten");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loss book: one readback for many steps, means per term", async () => {
  await T.init();
  const book = new LossBook();
  book.add(1, { a: T.tensor([1], [1]), b: T.tensor([4], [1]), c: null });
  book.add(2, { a: T.tensor([3], [1]), b: T.tensor([6], [1]) });
  const before = T.stats().readbacks;
  const { rows, means } = await book.read();
  assert.equal(T.stats().readbacks - before, 1);
  assert.deepEqual(rows.map((r) => r.step), [1, 2]);
  assert.deepEqual(means, { a: 2, b: 5 });
});

Deno.test("commands: --help, clear errors for a bad config, another model's checkpoint, missing data", async () => {
  const run = async (script: string, args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`../../cli/${script}`, import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  };
  const help = await run("generate.ts", ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.text, /--scheduler/);
  const dir = await Deno.makeTempDir();
  try {
    const bad = join(dir, "bad.json");
    await Deno.writeTextFile(bad, JSON.stringify({ channel: 0, autoencoder_train: { patch_size: "abc" } }));
    const r = await run("train_autoencoder.ts", ["-c", bad, "-e", join(dir, "env.json")]);
    assert.equal(r.code, 1);
    assert.match(r.text, /autoencoder_train\.patch_size: expected/);
    const env = join(dir, "env.json");
    await Deno.writeTextFile(
      env,
      JSON.stringify({
        data_base_dir: join(dir, "nodata"),
        model_dir: join(dir, "models"),
        tfevent_path: join(dir, "tb"),
        resume_ckpt: false,
      }),
    );
    const missing = await run("train_autoencoder.ts", ["-c", CONFIG, "-e", env]);
    assert.equal(missing.code, 1);
    assert.match(missing.text, /dataset\.json' not found.*--download_data/);
    // A diffusion checkpoint given as the autoencoder: strict loading names the problem.
    await Deno.mkdir(join(dir, "models"), { recursive: true });
    const other = join(dir, "models", "autoencoder.safetensors");
    const { writeSafetensors } = await import("../../nn/serialization/safetensors.ts");
    await Deno.writeFile(
      other,
      writeSafetensors(
        new Map([["down_blocks.0.weight", { dtype: "float32", shape: [1], data: new Float32Array(1) }]]),
      ),
    );
    const wrong = await run("generate.ts", ["-c", CONFIG, "-e", env, "--scheduler", "ddim", "--steps", "2"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.text, /autoencoder\.safetensors.*(missing|unexpected)/s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGINT: the command checkpoints where it stopped and exits with 130; resuming loses no completed step", async () => {
  const dir = await dataset();
  try {
    const envFile = join(dir, "env.json");
    const env = envFor(dir, "sigint");
    await Deno.writeTextFile(
      envFile,
      JSON.stringify({
        data_base_dir: env.dataBaseDir,
        model_dir: env.modelDir,
        tfevent_path: env.tfeventPath,
        resume_ckpt: true,
      }),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../cli/train_autoencoder.ts", import.meta.url).pathname,
        "-c",
        CONFIG,
        "-e",
        envFile,
        "--epochs",
        "200",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/epoch 1: val loss/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const status = await child.status;
    assert.equal(status.code, 130, text);
    // Mid-epoch: written after the step in progress; between epochs: the epoch's checkpoint is already current.
    assert.match(
      text,
      /interrupted \(SIGINT\): (checkpoint written|the checkpoint of epoch \d+ .* is up to date)/,
    );
    const { readCheckpointInfo } = await import("../../nn/checkpoint.ts");
    const info = (await readCheckpointInfo(join(env.modelDir, AUTOENCODER_FILES.last)))!;
    assert.ok(info.step >= 3, `steps done before the interrupt: ${info.step}`);
    const config = await loadTrainConfig(CONFIG);
    const logs: string[] = [];
    const r = await trainAutoencoder({ config, env, maxEpochs: info.epoch + 1, log: (s) => logs.push(s) });
    assert.ok(logs.some((l) => l.includes(`step ${info.step}`)), logs.join("\n"));
    // 6 phantoms → 5 training volumes → 3 batches per epoch: the resumed run completes exactly that epoch.
    const batchesLeft = 3 - Number(info.extra?.batchesIntoEpoch ?? 0);
    assert.equal(r.steps, info.step + batchesLeft);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
