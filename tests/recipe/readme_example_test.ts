/**
 * The README's "Train the autoencoder from your own script" block, run as written: extracted from README.md,
 * saved as a script in a temporary folder laid out like the repository root (its `./mod.ts` import and the
 * tiny config path resolve to this checkout), and run with `deno run`. It must train, print its two lines
 * and leave the checkpoint it names.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url);
const HEADING = "### Train the autoencoder from your own script";

/** The first ```ts block after the heading. */
function exampleCode(readme: string): string {
  const at = readme.indexOf(HEADING);
  assert.ok(at >= 0, `README.md has the section "${HEADING}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, "the section has a ts code block");
  return block[1];
}

Deno.test("README: the autoencoder example trains one epoch and writes its checkpoint", async () => {
  const code = exampleCode(await Deno.readTextFile(new URL("README.md", ROOT)));
  const dir = await Deno.makeTempDir({ prefix: "ldm-readme-example-" });
  try {
    // The block is written for the repository root: point its two repository paths at this checkout.
    const script = code
      .replace(`from "./mod.ts"`, `from "${new URL("mod.ts", ROOT).href}"`)
      .replace(`"tests/cli/tiny_config.json"`, `"${new URL("tests/cli/tiny_config.json", ROOT).pathname}"`);
    assert.notEqual(script, code, "the example imports ./mod.ts");
    await Deno.writeTextFile(join(dir, "my_script.ts"), script);
    const { code: status, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", new URL("deno.json", ROOT).pathname, "my_script.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(status, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
    assert.match(out, /^\d+ steps, validation loss \d+\.\d{4}$/m);
    const weights = /^weights: (.+)$/m.exec(out)?.[1];
    assert.equal(weights, "runs/my-autoencoder/models/autoencoder.safetensors");
    assert.ok((await Deno.stat(join(dir, weights))).size > 0, "the best checkpoint was written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
