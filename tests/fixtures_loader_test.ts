// deno-lint-ignore-file no-explicit-any -- edits untyped fixture meta.json in place
/**
 * The fixture loader: gzipped and plain files read the same, an absent case skips, and a present but corrupt case
 * fails with the file named (never a skip). Corrupt copies are made in temporary folders.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  fixtureExists,
  fixturePath,
  fixturesRoot,
  listFixtureFiles,
  loadCase,
  readFixture,
} from "./fixtures.ts";
import { loadStateDictFile } from "../nn/serialization/mod.ts";

const VENDORED = new URL("./fixtures", import.meta.url).pathname;
const SMALL_CASE = "group_norm"; // small, has .bin, .bin.gz, model.safetensors(.gz) and model.pt(.gz)

/** Copies case `name` of the vendored set (and the cases its weights_from points at) into a fresh root. */
function copyCase(name: string, unzip: boolean): string {
  const root = Deno.makeTempDirSync({ prefix: "ldm3d-fixture-copy-" });
  const copy = (caseName: string) => {
    const from = join(VENDORED, caseName), to = join(root, caseName);
    Deno.mkdirSync(to, { recursive: true });
    for (const e of Deno.readDirSync(from)) {
      const bytes = Deno.readFileSync(join(from, e.name));
      if (unzip && /\.(bin|safetensors|pt)\.gz$/.test(e.name)) {
        Deno.writeFileSync(join(to, e.name.slice(0, -3)), gunzipSync(bytes));
      } else {
        Deno.writeFileSync(join(to, e.name), bytes);
      }
    }
  };
  copy(name);
  const meta = JSON.parse(Deno.readTextFileSync(join(VENDORED, name, "meta.json")));
  for (const rel of Object.values<string>(meta.weights_from ?? {})) {
    const other = relative(VENDORED, join(VENDORED, name, dirname(rel)));
    if (!existsDir(join(root, other))) copy(other);
  }
  return root;
}

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function withCopy(name: string, unzip: boolean, fn: (root: string, dir: string) => void | Promise<void>) {
  return async () => {
    const root = copyCase(name, unzip);
    try {
      await fn(root, join(root, name));
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

function editMeta(dir: string, edit: (meta: any) => void): void {
  const path = join(dir, "meta.json");
  const meta = JSON.parse(Deno.readTextFileSync(path));
  edit(meta);
  Deno.writeTextFileSync(path, JSON.stringify(meta));
}

/** A tensor of the case stored gzipped in the vendored set, and its file name. */
function gzippedTensor(dir: string): [string, string] {
  const meta = JSON.parse(Deno.readTextFileSync(join(dir, "meta.json")));
  for (const [name, info] of Object.entries<any>(meta.tensors)) {
    try {
      Deno.statSync(join(dir, `${info.file}.gz`));
      return [name, info.file];
    } catch { /* stored plain: try the next */ }
  }
  throw new Error(`no gzipped tensor in ${dir}`);
}

Deno.test("fixtures: the default root is tests/fixtures inside the repo", () => {
  if (Deno.env.get("LDM_FIXTURES_DIR")) return; // an override is in force: nothing to check about the default
  assert.equal(fixturesRoot(), VENDORED);
  assert.ok(loadCase(SMALL_CASE) !== null, `${VENDORED}/${SMALL_CASE} is vendored`);
});

Deno.test("fixtures: every vendored case loads and every tensor it lists reads at its shape", () => {
  const cases = [...Deno.readDirSync(VENDORED)].filter((e) => e.isDirectory).map((e) => e.name);
  const data = [...Deno.readDirSync(join(VENDORED, "data"))].map((e) => `data/${e.name}`);
  let tensors = 0;
  for (const name of [...cases.filter((c) => c !== "data" && c !== "reference-config"), ...data]) {
    const fx = loadCase(name, VENDORED);
    assert.ok(fx, name);
    for (const t of Object.keys(fx.meta.tensors)) {
      const { data, shape } = fx.tensor(t);
      assert.equal(data.length, shape.reduce((a, b) => a * b, 1), `${name}/${t}`);
      tensors++;
    }
    for (const f of Object.keys(fx.meta.files)) assert.ok(fixtureExists(join(fx.dir, f)), `${name}/${f}`);
  }
  assert.ok(tensors > 400, `${tensors} tensors`);
});

Deno.test(
  "fixtures: a gzipped set and the same set uncompressed read identically",
  withCopy(SMALL_CASE, true, async (root, dir) => {
    const plain = loadCase(SMALL_CASE, root)!, packed = loadCase(SMALL_CASE, VENDORED)!;
    for (const t of Object.keys(plain.meta.tensors)) assert.deepEqual(plain.tensor(t), packed.tensor(t), t);
    assert.deepEqual(listFixtureFiles(dir), listFixtureFiles(packed.dir));
    assert.equal(
      plain.file("model.safetensors"),
      join(dir, "model.safetensors"),
      "plain files are used in place",
    );
    const unpacked = packed.file("model.safetensors");
    assert.match(
      unpacked,
      new RegExp(`/${SMALL_CASE}/model\\.safetensors$`),
      "the unpacked copy keeps its name",
    );
    assert.deepEqual(Deno.readFileSync(unpacked), Deno.readFileSync(join(dir, "model.safetensors")));
    assert.deepEqual(
      [...(await loadStateDictFile(unpacked)).keys()],
      [...(await loadStateDictFile(plain.file("model.safetensors"))).keys()],
    );
  }),
);

Deno.test("fixtures: only an absent case folder gives null (its tests skip)", () => {
  const root = Deno.makeTempDirSync();
  try {
    assert.equal(loadCase("no_such_case", root), null);
    Deno.mkdirSync(join(root, "empty_case"));
    assert.throws(() => loadCase("empty_case", root), /empty_case\/meta\.json: cannot be read/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test(
  "fixtures: invalid JSON in meta.json fails naming the file",
  withCopy(SMALL_CASE, false, (root, dir) => {
    Deno.writeTextFileSync(join(dir, "meta.json"), '{"case": "group_norm", "tensors": {');
    assert.throws(() => loadCase(SMALL_CASE, root), (e: Error) => {
      assert.ok(e.message.includes(join(dir, "meta.json")), e.message);
      assert.match(e.message, /invalid JSON/);
      return true;
    });
  }),
);

for (const key of ["tensors", "config", "files", "scalars"]) {
  Deno.test(
    `fixtures: meta.json without '${key}' fails naming the file and the key`,
    withCopy(SMALL_CASE, false, (root, dir) => {
      editMeta(dir, (m) => delete m[key]);
      assert.throws(() => loadCase(SMALL_CASE, root), (e: Error) => {
        assert.ok(e.message.includes(join(dir, "meta.json")), e.message);
        assert.ok(e.message.includes(`missing key '${key}'`), e.message);
        return true;
      });
    }),
  );
}

/** Deep keys a test reads, removed one at a time: [case, remove it, the dotted path the error must name]. */
const DEEP_KEYS: [string, (m: any) => void, string][] = [
  ["conv3d", (m) => delete m.config.modules.s1.kernel_size, "config.modules.s1.kernel_size"],
  ["conv3d", (m) => delete m.config.modules.k1.tensors.grad_y, "config.modules.k1.tensors.grad_y"],
  [
    "ddpm_scheduler",
    (m) => delete m.config.steps_10_steps[3].prev_sample,
    "config.steps_10_steps[3].prev_sample",
  ],
  ["ddpm_scheduler", (m) => delete m.config.sequences.steps_10.eta_or_variance, ""], // not a key: no error
  [
    "ddim_scheduler",
    (m) => delete m.config.sequences.steps_50_eta0.eta,
    "config.sequences.steps_50_eta0.eta",
  ],
  ["patch_discriminator_tiny", (m) => delete m.config.num_layers_d, "config.num_layers_d"],
  ["perceptual_loss", (m) => delete m.config.lpips2d.in0, "config.lpips2d.in0"],
  ["ldm_inferer_tiny", (m) => delete m.config.schedulers.sample.eta, "config.schedulers.sample.eta"],
  ["train_step_tiny", (m) => delete m.config.optimizer.betas, "config.optimizer.betas"],
  ["data/nifti_io", (m) => delete Object.values<any>(m.nifti)[0].expected, ".expected"],
];

for (const [name, remove, path] of DEEP_KEYS) {
  Deno.test(
    `fixtures: ${name} meta.json ${
      path ? `without '${path}' fails naming the file and the key` : "intact loads"
    }`,
    withCopy(name, false, (root, dir) => {
      editMeta(dir, remove);
      if (!path) {
        assert.ok(loadCase(name, root));
        return;
      }
      assert.throws(() => loadCase(name, root), (e: Error) => {
        assert.ok(e.message.includes(join(dir, "meta.json")), e.message);
        assert.match(e.message, /missing key/);
        assert.ok(e.message.includes(path), e.message);
        return true;
      });
    }),
  );
}

Deno.test(
  "fixtures: a tensor entry without shape or with an unknown dtype fails naming the file and the tensor",
  withCopy(SMALL_CASE, false, (root, dir) => {
    const [name] = gzippedTensor(dir);
    editMeta(dir, (m) => delete m.tensors[name].shape);
    assert.throws(
      () => loadCase(SMALL_CASE, root),
      new RegExp(`meta\\.json: tensors\\['${name}'\\] has no valid`),
    );
    editMeta(dir, (m) => (m.tensors[name].shape = [1], m.tensors[name].dtype = "float64"));
    assert.throws(() => loadCase(SMALL_CASE, root), /dtype "float64"/);
  }),
);

Deno.test(
  "fixtures: a missing tensor file or listed file fails naming it",
  withCopy(SMALL_CASE, false, (root, dir) => {
    const [, file] = gzippedTensor(dir);
    Deno.removeSync(join(dir, `${file}.gz`));
    assert.throws(() => loadCase(SMALL_CASE, root), (e: Error) => e.message.includes(join(dir, file)));
  }),
);

Deno.test(
  "fixtures: a truncated plain .bin fails at load naming the file",
  withCopy(SMALL_CASE, true, (root, dir) => {
    const [, file] = gzippedTensor(join(VENDORED, SMALL_CASE));
    const path = join(dir, file);
    Deno.truncateSync(path, Deno.statSync(path).size - 4);
    assert.throws(() => loadCase(SMALL_CASE, root), (e: Error) => {
      assert.ok(e.message.includes(path) && /truncated/.test(e.message), e.message);
      return true;
    });
  }),
);

Deno.test(
  "fixtures: a truncated .bin.gz, or one that inflates to the wrong size, fails naming the file",
  withCopy(SMALL_CASE, false, (root, dir) => {
    const [name, file] = gzippedTensor(dir);
    const gz = join(dir, `${file}.gz`);
    const whole = Deno.readFileSync(gz);
    Deno.writeFileSync(gz, whole.subarray(0, whole.length >> 1));
    const fx = loadCase(SMALL_CASE, root)!; // sizes inside a .gz are checked when read
    assert.throws(() => fx.tensor(name), (e: Error) => e.message.includes(gz) && /corrupt/.test(e.message));
    Deno.writeFileSync(gz, gzipSync(gunzipSync(whole).subarray(0, 8)));
    assert.throws(() => fx.tensor(name), (e: Error) => e.message.includes(gz) && /8 bytes/.test(e.message));
  }),
);

Deno.test(
  "fixtures: a truncated model.safetensors fails naming the file (plain and gzipped)",
  withCopy(SMALL_CASE, false, async (root, dir) => {
    const gz = join(dir, "model.safetensors.gz");
    const bytes = gunzipSync(Deno.readFileSync(gz));
    // gzipped: the unpacked copy keeps the case and file name
    Deno.writeFileSync(gz, gzipSync(bytes.subarray(0, bytes.length - 100)));
    const packed = loadCase(SMALL_CASE, root)!;
    await assert.rejects(loadStateDictFile(packed.file("model.safetensors")), (e: Error) => {
      assert.match(e.message, new RegExp(`${SMALL_CASE}/model\\.safetensors`));
      return true;
    });
    // plain
    Deno.removeSync(gz);
    const plain = join(dir, "model.safetensors");
    Deno.writeFileSync(plain, bytes.subarray(0, bytes.length - 100));
    await assert.rejects(
      loadStateDictFile(loadCase(SMALL_CASE, root)!.file("model.safetensors")),
      (e: Error) => {
        assert.ok(e.message.includes(plain), e.message);
        return true;
      },
    );
  }),
);

Deno.test("fixtures: readFixture and fixturePath name a file that is absent", () => {
  const missing = join(VENDORED, SMALL_CASE, "no_such_file.bin");
  assert.equal(fixtureExists(missing), false);
  assert.throws(() => readFixture(missing), (e: Error) => e.message.includes(missing));
  assert.throws(() => fixturePath(missing), (e: Error) => e.message.includes(missing));
});

Deno.test({
  name: "fixtures: a parity test run against a corrupt case fails naming the file (no skip)",
  async fn() {
    const root = copyCase("data/split", false);
    try {
      const meta = join(root, "data/split/meta.json");
      const m = JSON.parse(Deno.readTextFileSync(meta));
      delete m.config;
      Deno.writeTextFileSync(meta, JSON.stringify(m));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--no-check", new URL("./data/split_test.ts", import.meta.url).pathname],
        env: { LDM_FIXTURES_DIR: root, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.notEqual(out.code, 0, text);
      assert.ok(text.includes(meta) && text.includes("missing key 'config'"), text);
      assert.doesNotMatch(text, /[1-9]\d* ignored/, text);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
