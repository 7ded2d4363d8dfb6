/** The commands as a user runs them: bad flags fail fast with one line naming the command once and the flag. */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { join } from "node:path";

async function run(script: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../../cli/${script}`, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    cwd,
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("command line: bad numbers are errors naming the flag and value, the command named once", async () => {
  for (const bad of ["abc", "-3", "1.5"]) {
    const r = await run("train_autoencoder.ts", ["--epochs", bad]);
    assertEquals(r.code, 1, r.stdout + r.stderr);
    assertEquals(r.stderr, `train_autoencoder: --epochs: expected a positive integer, got "${bad}"\n`);
  }
  const d = await run("demo.ts", ["--samples", "abc"]);
  assertEquals(d.code, 1);
  assertEquals(d.stderr, `demo: --samples: expected a positive integer, got "abc"\n`);
  const g = await run("generate.ts", ["--nmu", "2"]);
  assertEquals(g.code, 1);
  assertMatch(g.stderr, /^generate: unknown flag "--nmu" \(did you mean --num\?\); valid flags: .*-n\/--num/);
  assertEquals(g.stderr.split("generate:").length, 2, "command named once");
});

Deno.test("command line: demo --help explains --output and --force; --output . is refused and nothing is deleted", async () => {
  const h = await run("demo.ts", ["--help"]);
  assertEquals(h.code, 0);
  const text = h.stdout.replace(/\s+/g, " ");
  assertMatch(text, /--output <dir> output folder; it must be new, empty, or a previous demo output/);
  assertMatch(
    text,
    /--force use a non-empty --output folder that is not a previous demo output; nothing in it is deleted/,
  );
  const work = await Deno.makeTempDir({ prefix: "ldm-demo-cwd-" });
  try {
    await Deno.writeTextFile(join(work, "notes.txt"), "precious");
    for (const args of [["--output", "."], ["--output", ".", "--force"]]) {
      const r = await run("demo.ts", args, work);
      assertEquals(r.code, 1, r.stdout + r.stderr);
      assertMatch(r.stderr, /^demo: --output \.: refusing to use the working directory/);
    }
    await Deno.mkdir(join(work, "old"));
    await Deno.writeTextFile(join(work, "old", "keep.txt"), "x");
    const r = await run("demo.ts", ["--output", "old"], work);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /^demo: --output old: the folder is not empty and is not a previous demo output/);
    assertEquals(await Deno.readTextFile(join(work, "notes.txt")), "precious");
    assertEquals(await Deno.readTextFile(join(work, "old", "keep.txt")), "x");
    assert([...Deno.readDirSync(work)].length === 2);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("command line: generate refuses our checkpoint with a NaN weight, naming the file and tensor", async () => {
  const { loadTrainConfig } = await import("../../recipe/config.ts");
  const { AutoencoderKL } = await import("../../nn/mod.ts");
  const { saveCheckpoint } = await import("../../nn/checkpoint.ts");
  const { readSafetensors, writeSafetensors } = await import("../../nn/serialization/safetensors.ts");
  const T = await import("../../tensor/mod.ts");
  await T.init();
  const configPath = new URL("./tiny_config.json", import.meta.url).pathname;
  const config = await loadTrainConfig(configPath);
  const dir = await Deno.makeTempDir({ prefix: "ldm-nan-gen-" });
  try {
    const models = join(dir, "models");
    await Deno.mkdir(models);
    const path = join(models, "autoencoder.safetensors");
    const ae = new AutoencoderKL({ ...config.autoencoder });
    await saveCheckpoint(path, { models: { autoencoder: ae } }, {
      kind: "autoencoder",
      configHash: "x",
      epoch: 1,
      step: 1,
    });
    ae.dispose();
    const { tensors, metadata } = readSafetensors(await Deno.readFile(path), path);
    const key = [...tensors.keys()].find((k) => k.endsWith(".weight"))!;
    (tensors.get(key)!.data as Float32Array)[3] = NaN;
    await Deno.writeFile(path, writeSafetensors(tensors, metadata));
    const env = join(dir, "env.json");
    await Deno.writeTextFile(
      env,
      JSON.stringify({
        data_base_dir: dir,
        model_dir: models,
        tfevent_path: join(dir, "tb"),
        resume_ckpt: false,
      }),
    );
    const r = await run("generate.ts", [
      "-c",
      configPath,
      "-e",
      env,
      "-n",
      "1",
      "--scheduler",
      "ddim",
      "--steps",
      "2",
    ]);
    assertEquals(r.code, 1, r.stdout + r.stderr);
    assertEquals(
      r.stderr,
      `generate: ${path}: tensor '${key.slice("model.autoencoder.".length)}' contains NaN at element 3\n`,
    );
    assert(![...Deno.readDirSync(dir)].some((e) => e.name === "samples") && !r.stdout.includes("wrote"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
