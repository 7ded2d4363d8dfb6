// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { stringify as toYaml } from "yaml";
import type { ArgTable } from "../../nn/args/declare.ts";
import {
  ConfigError,
  loadEnvironment,
  loadTrainConfig,
  parseEnvironment,
  parseTrainConfig,
  resolveReferences,
  type TrainConfig,
} from "../../recipe/config.ts";

/** The reference's published config files, byte for byte (tests/fixtures/reference-config/README.md). */
const REF = new URL("../fixtures/reference-config/", import.meta.url).pathname;
const REPO_CONFIG = new URL("../../config/", import.meta.url).pathname;

function readJson(path: string): any {
  return JSON.parse(Deno.readTextFileSync(path));
}

/** Renames GM keys to the MONAI-core edition's (num_channels → channels, n_epochs → max_epochs, targets). */
function toCoreEdition(gm: any): any {
  const walk = (v: any): any => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      const out: any = {};
      for (const [k, x] of Object.entries(v)) {
        const key = k === "num_channels" ? "channels" : k === "n_epochs" ? "max_epochs" : k;
        out[key] = typeof x === "string" && key === "_target_"
          ? x.replace("generative.networks.nets.", "monai.networks.nets.")
          : walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(gm);
}

/** Our tidy form: camelCase keys, no references, no targets. */
const OURS = {
  channel: 0,
  spacing: [1.1, 1.1, 1.1],
  spatialDims: 3,
  imageChannels: 1,
  latentChannels: 8,
  autoencoder: {
    spatialDims: 3,
    inChannels: 1,
    outChannels: 1,
    latentChannels: 8,
    channels: [64, 128, 256],
    numResBlocks: [2, 2, 2],
    normNumGroups: 32,
    normEps: 1e-6,
    attentionLevels: [false, false, false],
    withEncoderNonlocalAttn: false,
    withDecoderNonlocalAttn: false,
  },
  autoencoderTrain: {
    batchSize: 2,
    patchSize: [112, 128, 80],
    lr: 1e-5,
    perceptualWeight: 0.001,
    klWeight: 1e-7,
    reconLoss: "l1",
    maxEpochs: 1000,
    valInterval: 10,
  },
  diffusion: {
    spatialDims: 3,
    inChannels: 8,
    outChannels: 8,
    channels: [256, 256, 512],
    attentionLevels: [false, true, true],
    numHeadChannels: [0, 64, 64],
    numResBlocks: 2,
  },
  diffusionTrain: { batchSize: 3, patchSize: [144, 176, 112], lr: 1e-5, maxEpochs: 10000, valInterval: 2 },
  noiseScheduler: { numTrainTimesteps: 1000, betaStart: 0.0015, betaEnd: 0.0195 },
};

/** The normalised 32g config, written out in full (what every form must become). */
function expected32g(): Omit<TrainConfig, "source" | "edition"> {
  return {
    channel: 0,
    spacing: [1.1, 1.1, 1.1],
    maxResampledVoxels: 2 ** 27,
    spatialDims: 3,
    imageChannels: 1,
    latentChannels: 8,
    autoencoder: {
      kind: "AutoencoderKL",
      spatialDims: 3,
      inChannels: 1,
      outChannels: 1,
      latentChannels: 8,
      channels: [64, 128, 256],
      numResBlocks: [2, 2, 2],
      normNumGroups: 32,
      normEps: 1e-6,
      attentionLevels: [false, false, false],
      withEncoderNonlocalAttn: false,
      withDecoderNonlocalAttn: false,
      useConvtranspose: false,
      useCheckpoint: false,
    },
    autoencoderTrain: {
      batchSize: 2,
      patchSize: [112, 128, 80],
      lr: 1e-5,
      perceptualWeight: 0.001,
      klWeight: 1e-7,
      reconLoss: "l1",
      maxEpochs: 1000,
      valInterval: 10,
      advWeight: 0.01,
      warmUpEpochs: 5,
    },
    discriminator: {
      kind: "PatchDiscriminator",
      spatialDims: 3,
      numLayersD: 3,
      channels: 32,
      inChannels: 1,
      outChannels: 1,
      norm: "INSTANCE",
    },
    diffusion: {
      kind: "DiffusionModelUNet",
      spatialDims: 3,
      inChannels: 8,
      outChannels: 8,
      channels: [256, 256, 512],
      attentionLevels: [false, true, true],
      numHeadChannels: [0, 64, 64],
      numResBlocks: [2, 2, 2],
      normNumGroups: 32,
      normEps: 1e-6,
      resblockUpdown: false,
      withConditioning: false,
      transformerNumLayers: 1,
      crossAttentionDim: null,
      numClassEmbeds: null,
      upcastAttention: false,
    },
    diffusionTrain: { batchSize: 3, patchSize: [144, 176, 112], lr: 1e-5, maxEpochs: 10000, valInterval: 2 },
    noiseScheduler: {
      numTrainTimesteps: 1000,
      betaStart: 0.0015,
      betaEnd: 0.0195,
      schedule: "scaled_linear_beta",
      varianceType: "fixed_small",
      predictionType: "epsilon",
    },
  };
}

function strip(c: TrainConfig): Omit<TrainConfig, "source" | "edition"> {
  const { source: _s, edition: _e, ...rest } = c;
  return rest;
}

const quiet = { onWarning: () => {} };

/** Parses and returns the error's problem lines (fails if it parses). */
function problems(raw: unknown, source = "config/x.json"): string[] {
  try {
    parseTrainConfig(raw, source, quiet);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Error(`expected ConfigError, got ${e}`);
    return e.problems;
  }
  throw new Error("expected the config to be rejected");
}

Deno.test("config: the reference's 32g file, unchanged, normalises fully", async () => {
  const c = await loadTrainConfig(`${REF}config_train_32g.json`, quiet);
  assertEquals(c.edition, "generative");
  assertEquals(strip(c), expected32g());
});

Deno.test("config: max_resampled_voxels (ours) is read and must be a positive integer", () => {
  const ours: any = structuredClone(OURS);
  ours.max_resampled_voxels = 5000;
  assertEquals(parseTrainConfig(ours, "cap.json", quiet).maxResampledVoxels, 5000);
  ours.max_resampled_voxels = -1;
  assertMatch(
    problems(ours, "cap.json").join("\n"),
    /cap\.json: max_resampled_voxels: expected positive integer, got -1/,
  );
});

Deno.test("config: the reference's 16g file differs only in batch sizes and learning rates", async () => {
  const c = await loadTrainConfig(`${REF}config_train_16g.json`, quiet);
  const want = expected32g();
  want.autoencoderTrain.batchSize = 1;
  want.autoencoderTrain.lr = 5e-6;
  want.diffusionTrain.batchSize = 2;
  want.diffusionTrain.lr = 5e-6;
  assertEquals(strip(c), want);
});

Deno.test("config: the reference's environment.json", async () => {
  const env = await loadEnvironment(`${REF}environment.json`);
  assertEquals(env, {
    dataBaseDir: "/workspace/dataset",
    modelDir: "/workspace/trained_weights/diffusion_3d",
    tfeventPath: "/workspace/tfevent/diffusion_3d",
    resumeCkpt: true,
  });
});

Deno.test("config: the repo's copies equal the reference files value for value", () => {
  for (const f of ["config_train_32g.json", "config_train_16g.json"]) {
    assertEquals(readJson(`${REPO_CONFIG}${f}`), readJson(`${REF}${f}`), f);
  }
  const env = readJson(`${REPO_CONFIG}environment.json`);
  assertEquals(Object.keys(env).sort(), Object.keys(readJson(`${REF}environment.json`)).sort());
});

Deno.test("config: the repo's configs all load, demo is small and consistent", async () => {
  for (const f of ["config_train_32g.json", "config_train_16g.json"]) {
    await loadTrainConfig(`${REPO_CONFIG}${f}`, quiet);
  }
  await loadEnvironment(`${REPO_CONFIG}environment.json`);
  const warnings: string[] = [];
  const demo = await loadTrainConfig(`${REPO_CONFIG}config_demo.json`, {
    onWarning: (w) => warnings.push(w),
  });
  assertEquals(warnings, []);
  assert(demo.autoencoder.channels.every((c) => c <= 32));
  assert(demo.diffusion.channels.every((c) => c <= 64));
  assertEquals(demo.diffusion.attentionLevels.at(-1), true);
  assert(demo.diffusion.normNumGroups !== 32, "demo sets the UNet's norm_num_groups");
  assertEquals(demo.latentChannels, demo.diffusion.inChannels);
  assert(demo.autoencoderTrain.patchSize.every((p) => p <= 48));
});

Deno.test("config: the MONAI-core edition (renamed keys and targets) gives the same object", () => {
  const core = toCoreEdition(readJson(`${REF}config_train_32g.json`));
  assertEquals(core.autoencoder_def.channels, [64, 128, 256]);
  assertEquals(core.diffusion_def._target_, "monai.networks.nets.DiffusionModelUNet");
  const c = parseTrainConfig(core, "core.json", quiet);
  assertEquals(c.edition, "core");
  assertEquals(strip(c), expected32g());
});

Deno.test("config: core-only arguments (include_fc etc.) are carried through", () => {
  const core = toCoreEdition(readJson(`${REF}config_train_32g.json`));
  core.diffusion_def.include_fc = false;
  core.diffusion_def.use_combined_linear = false;
  core.diffusion_def.use_flash_attention = true;
  core.autoencoder_def.include_fc = false;
  const c = parseTrainConfig(core, "core.json", quiet);
  assertEquals(c.diffusion.includeFc, false);
  assertEquals(c.diffusion.useCombinedLinear, false);
  assertEquals(c.diffusion.useFlashAttention, true);
  assertEquals(c.autoencoder.includeFc, false);
  // Absent means "the edition's default", left to the model.
  const gm = parseTrainConfig(readJson(`${REF}config_train_32g.json`), "gm.json", quiet);
  assertEquals("includeFc" in gm.diffusion, false);
});

Deno.test("config: our camelCase form gives the same object", () => {
  const c = parseTrainConfig(structuredClone(OURS), "ours.json", quiet);
  assertEquals(c.edition, "ours");
  assertEquals(strip(c), expected32g());
});

Deno.test("config: YAML files load (reference content and our form)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ref = readJson(`${REF}config_train_32g.json`);
    await Deno.writeTextFile(`${dir}/ref.yaml`, toYaml(ref));
    await Deno.writeTextFile(`${dir}/ours.yml`, toYaml(OURS));
    await Deno.writeTextFile(
      `${dir}/env.yaml`,
      "data_base_dir: ./data\nmodel_dir: ./m\ntfevent_path: ./t\nresume_ckpt: false\n",
    );
    assertEquals(strip(await loadTrainConfig(`${dir}/ref.yaml`, quiet)), expected32g());
    assertEquals(strip(await loadTrainConfig(`${dir}/ours.yml`, quiet)), expected32g());
    assertEquals(await loadEnvironment(`${dir}/env.yaml`), {
      dataBaseDir: "./data",
      modelDir: "./m",
      tfeventPath: "./t",
      resumeCkpt: false,
    });
    // A hand-written YAML with references as strings.
    const text = [
      "n: 4",
      "a: '@n'",
      "b: $@a",
      "nested: {x: '@n'}",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/refs.yaml`, text);
    const { parse } = await import("yaml");
    assertEquals(resolveReferences(parse(text)), { n: 4, a: 4, b: 4, nested: { x: 4 } });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: references resolve recursively, with # paths, and cycles are caught", () => {
  assertEquals(
    resolveReferences({ a: 1, b: "@a", c: "$@b", d: ["@c", { e: "@b" }], f: { g: 7 }, h: "@f#g", i: "a@b" }),
    { a: 1, b: 1, c: 1, d: [1, { e: 1 }], f: { g: 7 }, h: 7, i: "a@b" },
  );
  assertThrows(() => resolveReferences({ a: "@b", b: "@a" }, "cyc.json"), /cyc\.json: .*circular reference/);
  assertThrows(
    () => resolveReferences({ a: "@nope" }, "r.json"),
    /r\.json: a: reference "@nope" names no top-level key "nope"/,
  );
  assertThrows(
    () => resolveReferences({ a: 1, b: "$@a + 1" }, "r.json"),
    /r\.json: b: unsupported expression/,
  );
});

Deno.test("config: a mistyped key names its full path, the expected type and the value", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  raw.autoencoder_train.patch_size = "abc";
  assertEquals(problems(raw), [
    `config/x.json: autoencoder_train.patch_size: expected positive integer[3], got "abc"`,
  ]);
  const raw2 = readJson(`${REF}config_train_32g.json`);
  raw2.autoencoder_train.patch_size = [112, 128];
  assertMatch(
    problems(raw2)[0],
    /autoencoder_train\.patch_size: expected positive integer\[3\], got \[112,128\]/,
  );
  const raw3 = readJson(`${REF}config_train_32g.json`);
  raw3.diffusion_def.attention_levels = [false, "yes", true];
  assertEquals(problems(raw3), [
    `config/x.json: diffusion_def.attention_levels: expected boolean[], got [false,"yes",true]`,
  ]);
  const raw4 = readJson(`${REF}config_train_32g.json`);
  raw4.autoencoder_train.recon_loss = "l3";
  assertEquals(problems(raw4), [
    `config/x.json: autoencoder_train.recon_loss: expected "l1" | "l2", got "l3"`,
  ]);
});

Deno.test("config: missing keys are all reported at once, in the file's spelling", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  delete raw.autoencoder_train.n_epochs;
  delete raw.NoiseScheduler.beta_end;
  delete raw.diffusion_train;
  const p = problems(raw);
  assertEquals(p, [
    "config/x.json: autoencoder_train.n_epochs: missing (expected non-negative integer)",
    "config/x.json: diffusion_train: missing (expected object)",
    "config/x.json: NoiseScheduler.beta_end: missing (expected positive number)",
  ]);
  const err = assertThrows(() => parseTrainConfig(raw, "config/x.json", quiet)) as Error;
  assertMatch(err.message, /^3 problems:\n {2}config\/x\.json: autoencoder_train\.n_epochs/);
  // A wrong reference surfaces with the referring key.
  const raw2 = readJson(`${REF}config_train_32g.json`);
  raw2.autoencoder_def.in_channels = "$@image_channel";
  assertThrows(
    () => parseTrainConfig(raw2, "r.json", quiet),
    /r\.json: autoencoder_def\.in_channels: reference "@image_channel" names no top-level key/,
  );
  // Our form: missing keys are named in the reference's spelling of that key.
  const ours: any = structuredClone(OURS);
  delete ours.autoencoderTrain.lr;
  assertEquals(problems(ours, "o.json"), ["o.json: autoencoderTrain.lr: missing (expected positive number)"]);
});

Deno.test("config: unknown and mismatched _target_ are clear errors", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  raw.autoencoder_def._target_ = "generative.networks.nets.VQVAE";
  assertMatch(
    problems(raw)[0],
    /^config\/x\.json: autoencoder_def\._target_: unknown target "generative\.networks\.nets\.VQVAE"; expected one of .*AutoencoderKL/,
  );
  const raw2 = readJson(`${REF}config_train_32g.json`);
  raw2.diffusion_def._target_ = "monai.networks.nets.AutoencoderKL";
  const p = problems(raw2);
  assertMatch(
    p[0],
    /diffusion_def\._target_: this section builds a DiffusionModelUNet, but the target names AutoencoderKL/,
  );
  const raw3 = readJson(`${REF}config_train_32g.json`);
  raw3.diffusion_def._target_ = "monai.networks.nets.DiffusionModelUNet"; // GM keys + core target
  assertMatch(problems(raw3).join("\n"), /mixes GenerativeModels and MONAI-core/);
});

Deno.test("config: semantic checks (levels, groups, heads, patch divisibility, latent)", () => {
  const mk = (f: (r: any) => void) => {
    const r = readJson(`${REF}config_train_32g.json`);
    f(r);
    return problems(r).join("\n");
  };
  assertMatch(
    mk((r) => r.autoencoder_def.norm_num_groups = 24),
    /autoencoder_def\.norm_num_groups: 24 does not divide channels 64, 128, 256/,
  );
  assertMatch(
    mk((r) => r.diffusion_def.num_res_blocks = [2, 2]),
    /diffusion_def\.num_res_blocks: has 2 entries, but channels has 3 levels/,
  );
  assertMatch(
    mk((r) => r.diffusion_def.attention_levels = [true, true]),
    /diffusion_def\.attention_levels: has 2 entries/,
  );
  assertMatch(
    mk((r) => r.diffusion_def.num_head_channels = [0, 0, 64]),
    /num_head_channels: level 1 has attention and 256 channels/,
  );
  assertMatch(
    mk((r) => r.diffusion_train.patch_size = [144, 176, 104]),
    /diffusion_train\.patch_size: \[144,176,104\] must be divisible by 16/,
  );
  assertMatch(
    mk((r) => r.autoencoder_train.patch_size = [112, 128, 82]),
    /autoencoder_train\.patch_size: .* divisible by 4/,
  );
  assertMatch(mk((r) => r.diffusion_def.in_channels = 4), /latent has 8/);
  assertMatch(
    mk((r) => r.NoiseScheduler.beta_start = 0.1),
    /NoiseScheduler\.beta_start: must be below beta_end/,
  );
  assertMatch(
    mk((r) => {
      r.diffusion_def.num_channels = [256, 256, 512];
      r.diffusion_def.channels = [256, 256, 512];
    }),
    /diffusion_def\.num_channels: given more than once \(as num_channels, channels\)/,
  );
});

Deno.test("config: int-or-list arguments expand per level; optional UNet norm groups; discriminator section", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  raw.diffusion_def.num_head_channels = 64;
  raw.diffusion_def.norm_num_groups = 16;
  raw.autoencoder_def.num_res_blocks = [1, 2, 3];
  raw.discriminator_def = {
    _target_: "generative.networks.nets.PatchDiscriminator",
    num_channels: 8,
    num_layers_d: 2,
  };
  const c = parseTrainConfig(raw, "x.json", quiet);
  assertEquals(c.diffusion.numHeadChannels, [64, 64, 64]);
  assertEquals(c.diffusion.normNumGroups, 16);
  assertEquals(c.autoencoder.numResBlocks, [1, 2, 3]);
  assertEquals(c.discriminator.channels, 8);
  assertEquals(c.discriminator.numLayersD, 2);
  assertEquals(c.discriminator.inChannels, 1);
});

Deno.test("config: unknown keys warn (not fail); underscore keys are comments", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  raw.autoencoder_train.n_epoch = 3; // typo beside the real key
  raw._comment = "hello";
  const warnings: string[] = [];
  parseTrainConfig(raw, "w.json", { onWarning: (w) => warnings.push(w) });
  assertEquals(warnings, ["w.json: autoencoder_train.n_epoch: unknown key, ignored"]);
});

Deno.test("config: bad files and environment errors", async () => {
  await assertRejects(
    () => loadTrainConfig("/nonexistent/cfg.json"),
    /\/nonexistent\/cfg\.json: cannot read file/,
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.json`, "{ nope");
    await assertRejects(() => loadTrainConfig(`${dir}/bad.json`), /bad\.json: not valid JSON/);
    await Deno.writeTextFile(`${dir}/bad.yaml`, "a: [1, 2");
    await assertRejects(() => loadTrainConfig(`${dir}/bad.yaml`), /bad\.yaml: not valid YAML/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertThrows(() => parseTrainConfig([1, 2], "arr.json"), /arr\.json: expected an object at the top level/);
  assertThrows(
    () => parseEnvironment({ data_base_dir: "d", model_dir: 3, tfevent_path: "t" }, "env.json"),
    (e: unknown) => {
      if (!(e instanceof ConfigError)) return false;
      assertEquals(e.problems, [
        "env.json: model_dir: expected string, got 3",
        "env.json: resume_ckpt: missing (expected boolean)",
      ]);
      return true;
    },
  );
  assertEquals(
    parseEnvironment({ dataBaseDir: "d", modelDir: "m", tfeventPath: "t", resumeCkpt: true }),
    { dataBaseDir: "d", modelDir: "m", tfeventPath: "t", resumeCkpt: true },
  );
});

async function assertRejects(f: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    assertMatch(String((e as Error).message), re);
    return;
  }
  throw new Error(`expected rejection matching ${re}`);
}

Deno.test("config: empty or mismatched per-level lists are rejected with the key path", () => {
  const mk = (f: (r: any) => void) => {
    const r = readJson(`${REF}config_train_32g.json`);
    f(r);
    return problems(r);
  };
  assertEquals(mk((r) => r.autoencoder_def.num_channels = []), [
    "config/x.json: autoencoder_def.num_channels: expected positive integer[] with at least one level, got []",
  ]);
  assertEquals(
    mk((r) => {
      r.diffusion_def.num_channels = [];
      r.diffusion_def.attention_levels = [];
      r.diffusion_def.num_head_channels = [];
    }),
    ["config/x.json: diffusion_def.num_channels: expected positive integer[] with at least one level, got []"],
  );
  assertEquals(mk((r) => r.autoencoder_def.attention_levels = [false, false]), [
    "config/x.json: autoencoder_def.attention_levels: has 2 entries, but channels has 3",
  ]);
  assertEquals(mk((r) => r.autoencoder_def.num_res_blocks = [2, 2, 2, 2]), [
    "config/x.json: autoencoder_def.num_res_blocks: has 4 entries, but channels has 3 levels",
  ]);
  assertEquals(mk((r) => r.diffusion_def.num_head_channels = []), [
    "config/x.json: diffusion_def.num_head_channels: has 0 entries, but channels has 3 levels",
  ]);
});

Deno.test("config: the environment's output_dir (the reference's inference.py) is read, not warned about", () => {
  const warnings: string[] = [];
  const env = parseEnvironment(
    { data_base_dir: "d", model_dir: "m", tfevent_path: "t", resume_ckpt: false, output_dir: "out" },
    "env.json",
    { onWarning: (w) => warnings.push(w) },
  );
  assertEquals(env.outputDir, "out");
  assertEquals(warnings, []);
  assertThrows(
    () =>
      parseEnvironment({
        data_base_dir: "d",
        model_dir: "m",
        tfevent_path: "t",
        resume_ckpt: false,
        output_dir: 3,
      }),
    /output_dir: expected string, got 3/,
  );
});

Deno.test("config: every name a model declaration accepts reads the same value (aliases, GM names, camelCase)", async () => {
  const { AUTOENCODER_KL_ARGS } = await import("../../nn/models/autoencoder_kl.ts");
  const { PATCH_DISCRIMINATOR_ARGS } = await import("../../nn/models/patch_discriminator.ts");
  const { DIFFUSION_MODEL_UNET_ARGS } = await import("../../diffusion/unet.ts");
  const { fileNames } = await import("../../nn/args/declare.ts");
  const sections = [
    ["autoencoder_def", "autoencoder", AUTOENCODER_KL_ARGS],
    ["discriminator_def", "discriminator", PATCH_DISCRIMINATOR_ARGS],
    ["diffusion_def", "diffusion", DIFFUSION_MODEL_UNET_ARGS],
  ] as const;
  const base = expected32g() as any;
  let tried = 0;
  for (const [section, field, decl] of sections) {
    for (const [key, a] of Object.entries(decl.args as ArgTable)) {
      if (a.config === "never") continue;
      // Not in the expected object: a boolean only given in MONAI core files; flip its default.
      const value = key in base[field] ? base[field][key] : !a.default;
      for (const name of fileNames(key, a)) {
        const raw = readJson(`${REF}config_train_32g.json`);
        raw[section] ??= {};
        for (const n of fileNames(key, a)) delete raw[section][n];
        raw[section][name] = value;
        const warnings: string[] = [];
        const c = parseTrainConfig(raw, "a.json", { onWarning: (w) => warnings.push(w) }) as any;
        assertEquals(c[field][key], value, `${section}.${name}`);
        assertEquals(warnings, [], `${section}.${name}`);
        tried++;
      }
    }
  }
  assert(tried > 60, `${tried} names tried`);
});

Deno.test("config: a model's optional arguments default to the model's own declared defaults", async () => {
  const { DIFFUSION_MODEL_UNET_ARGS } = await import("../../diffusion/unet.ts");
  const c = parseTrainConfig(readJson(`${REF}config_train_32g.json`), "d.json", quiet) as any;
  for (const [key, a] of Object.entries(DIFFUSION_MODEL_UNET_ARGS.args as ArgTable)) {
    if ((a.config ?? "optional") === "optional") assertEquals(c.diffusion[key], a.default, key);
    if (a.config === "ifGiven" || a.config === "never") assertEquals(key in c.diffusion, false, key);
  }
});

Deno.test("config: an unknown key names the closest argument not given (did you mean)", () => {
  const raw = readJson(`${REF}config_train_32g.json`);
  raw.diffusion_def.norm_num_group = 16;
  raw.autoencoder_def.useConvTranspose = true;
  raw.discriminator_deff = { num_layers_d: 2 };
  raw.NoiseScheduler.shedule = "linear_beta";
  const warnings: string[] = [];
  parseTrainConfig(raw, "m.json", { onWarning: (w) => warnings.push(w) });
  assertEquals(warnings, [
    'm.json: autoencoder_def.useConvTranspose: unknown key, ignored (did you mean "use_convtranspose"?)',
    'm.json: diffusion_def.norm_num_group: unknown key, ignored (did you mean "norm_num_groups"?)',
    'm.json: NoiseScheduler.shedule: unknown key, ignored (did you mean "schedule"?)',
    'm.json: discriminator_deff: unknown key, ignored (did you mean "discriminator_def"?)',
  ]);
});
