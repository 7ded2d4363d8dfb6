// deno-lint-ignore-file no-explicit-any -- values evaluated in the page are untyped JSON
/**
 * Every library export of deno.json (not the CLI entry points) bundled with `deno bundle --platform browser`
 * and imported in headless Chromium: no Node/Deno API at import time. In the page, NIfTI (gzip) and
 * safetensors round-trip through bytes. Skipped (reported as ignored, reason printed) without `chromium`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findChromium, launchChromium } from "./_chromium.ts";

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.log("tests/web/modules_test.ts: skipped: no `chromium` on PATH (Debian: apt-get install chromium)");
}
const ROOT = new URL("../../", import.meta.url);

Deno.test({
  name: "library exports load in headless Chromium; NIfTI and safetensors round-trip there",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const exports = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).exports as Record<
      string,
      string
    >;
    const library = Object.entries(exports).filter(([name]) => !name.startsWith("./cli/"));
    assert.ok(library.length >= 6, "deno.json exports the library's subpaths");
    const dir = await Deno.makeTempDir({ prefix: "ldm3d-web-modules-" });
    try {
      const imports = library.map(([, path], i) => `import * as m${i} from "${new URL(path, ROOT).href}";`);
      const names = JSON.stringify(library.map(([name]) => name));
      await Deno.writeTextFile(
        join(dir, "entry.ts"),
        `${imports.join("\n")}
const modules = [${library.map((_, i) => `m${i}`).join(", ")}];
const { data, serialization } = m0 as any;
const volume = data.makeVolume(Float32Array.from({ length: 24 }, (_, i) => i / 7), [1, 2, 3, 4], [
  [2, 0, 0, -1], [0, 3, 0, 2], [0, 0, 1.5, 0], [0, 0, 0, 1],
]);
const nii = data.parseNifti(data.encodeNifti(volume, { gzip: true }), "roundtrip.nii.gz");
const st = serialization.readSafetensors(
  serialization.writeSafetensors(new Map([["w", { dtype: "float32", shape: [2], data: new Float32Array([1.5, -2]) }]])),
  "roundtrip.safetensors",
);
(globalThis as any).loaded = {
  keys: Object.fromEntries(${names}.map((n: string, i: number) => [n, Object.keys(modules[i]).length])),
  nifti: { data: Array.from(nii.volume.data), affine: nii.volume.affine },
  safetensors: Array.from(st.tensors.get("w").data),
};
`,
      );
      await Deno.writeTextFile(join(dir, "index.html"), `<script type="module" src="entry.js"></script>`);
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform",
          "browser",
          "--config",
          new URL("deno.json", ROOT).pathname,
          "-o",
          join(dir, "entry.js"),
          join(dir, "entry.ts"),
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
        const name = new URL(req.url).pathname === "/" ? "index.html" : new URL(req.url).pathname.slice(1);
        if (!["index.html", "entry.js"].includes(name)) return new Response("not found", { status: 404 });
        return new Response(await Deno.readFile(join(dir, name)), {
          headers: { "content-type": name.endsWith(".js") ? "text/javascript" : "text/html" },
        });
      });
      const browser = await launchChromium(CHROMIUM!, join(dir, "profile"));
      try {
        const errors: string[] = [];
        browser.page.on("Runtime.exceptionThrown", (p) => {
          const d = p.exceptionDetails as { exception?: { description?: string }; text: string };
          errors.push(d.exception?.description ?? d.text);
        });
        await browser.page.send("Runtime.enable");
        await browser.page.send("Page.navigate", { url: `http://127.0.0.1:${server.addr.port}/` });
        let loaded: any = null;
        for (let i = 0; i < 240 && !loaded && errors.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 250));
          loaded = await browser.page.evaluate("globalThis.loaded ?? null");
        }
        assert.deepEqual(errors, [], "errors while importing the bundle in the page");
        assert.ok(loaded, "the bundle did not finish loading");
        for (const [name] of library) assert.ok(loaded.keys[name] > 0, `export ${name} is empty in the page`);
        assert.deepEqual(loaded.nifti.data, Array.from(Float32Array.from({ length: 24 }, (_, i) => i / 7)));
        assert.deepEqual(loaded.nifti.affine[1], [0, 3, 0, 2]);
        assert.deepEqual(loaded.safetensors, [1.5, -2]);
      } finally {
        await browser.close();
        await server.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
