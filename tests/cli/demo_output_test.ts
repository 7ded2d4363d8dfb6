import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { join } from "node:path";
import { DEMO_ENTRIES, DEMO_MANIFEST, DemoOutputError, prepareDemoOutput } from "../../recipe/demo_output.ts";

async function rejects(f: () => Promise<unknown>, re: RegExp): Promise<Error> {
  try {
    await f();
  } catch (e) {
    assert(e instanceof DemoOutputError, String(e));
    assertMatch((e as Error).message, re);
    return e as Error;
  }
  throw new Error(`expected a rejection matching ${re}`);
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("demo output: a new folder gets the manifest; a previous demo output keeps the user's files", async () => {
  const root = await Deno.makeTempDir({ prefix: "ldm-demo-out-" });
  try {
    const out = join(root, "run");
    assertEquals(await prepareDemoOutput(out), out);
    const manifest = JSON.parse(await Deno.readTextFile(join(out, DEMO_MANIFEST)));
    assertEquals(manifest.entries, [...DEMO_ENTRIES]);
    // What a demo run leaves, plus a user's note.
    await Deno.mkdir(join(out, "models"));
    await Deno.writeTextFile(join(out, "models", "x.safetensors"), "w");
    await Deno.writeTextFile(join(out, "report.md"), "old report");
    await Deno.writeTextFile(join(out, "my-notes.txt"), "keep me");
    await prepareDemoOutput(out);
    assert(!(await exists(join(out, "models"))), "the demo's own folder is replaced");
    assert(!(await exists(join(out, "report.md"))));
    assertEquals(await Deno.readTextFile(join(out, "my-notes.txt")), "keep me");
    // A manifest that names other files does not make the demo delete them.
    await Deno.writeTextFile(join(out, DEMO_MANIFEST), JSON.stringify({ entries: ["my-notes.txt", "../x"] }));
    await prepareDemoOutput(out);
    assertEquals(await Deno.readTextFile(join(out, "my-notes.txt")), "keep me");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("demo output: a non-empty folder without the manifest is refused unless --force, which deletes nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "ldm-demo-out-" });
  try {
    const out = join(root, "mine");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "notes.txt"), "precious");
    await rejects(
      () => prepareDemoOutput(out),
      /^--output .*mine: the folder is not empty and is not a previous demo output \(no \.ldm3d-demo-output\.json\); .*--force/,
    );
    assertEquals(await Deno.readTextFile(join(out, "notes.txt")), "precious");
    await prepareDemoOutput(out, { force: true });
    assertEquals(await Deno.readTextFile(join(out, "notes.txt")), "precious");
    assert(await exists(join(out, DEMO_MANIFEST)));
    // With --force, an entry of a demo name that the demo did not create is left alone and reported.
    const other = join(root, "other");
    await Deno.mkdir(join(other, "data"), { recursive: true });
    await Deno.writeTextFile(join(other, "data", "scan.nii.gz"), "x");
    await rejects(
      () => prepareDemoOutput(other, { force: true }),
      /--force given, but .*other\/data already exist and were not created by the demo/,
    );
    assert(await exists(join(other, "data", "scan.nii.gz")));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("demo output: the working directory and folders containing it are refused, even with --force", async () => {
  const root = await Deno.makeTempDir({ prefix: "ldm-demo-out-" });
  try {
    const work = join(root, "project");
    await Deno.mkdir(work);
    for (const o of [".", "..", work, "./"]) {
      await rejects(
        () => prepareDemoOutput(o, { force: true, cwd: work }),
        new RegExp(`^--output ${o.replace(/\./g, "\\.")}: refusing to use the working directory`),
      );
    }
    await rejects(() => prepareDemoOutput("/", { force: true, cwd: work }), /refusing/);
    assert(!(await exists(join(work, DEMO_MANIFEST))));
    assertEquals(await prepareDemoOutput("runs/demo", { cwd: work }), join(work, "runs", "demo"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
