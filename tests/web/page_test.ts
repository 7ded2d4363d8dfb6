/**
 * The browser page in a real browser: `deno task serve`'s server, headless Chromium (system package) over the
 * DevTools Protocol, a tiny seeded checkpoint, DDIM with 2 steps in the page vs the same sampling in Deno.
 * Also: a corrupt checkpoint gives the CLI's message in the page, a page without navigator.gpu says it uses WASM, and no
 * request leaves 127.0.0.1. The screenshot lands in out/tests/web/page.png.
 * Skipped (reported as ignored, with the reason printed) where `chromium` is not installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as T from "../../tensor/mod.ts";
import { loadSamplingModels, sampleVolume, schedulerFromConfig } from "../../recipe/sampling.ts";
import { startServer } from "../../recipe/page_server.ts";
import { findChromium, launchChromium, screenshot, waitFor } from "./_chromium.ts";
import { writeSeededModels } from "./_models.ts";

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.log("tests/web/page_test.ts: skipped: no `chromium` on PATH (Debian: apt-get install chromium)");
}
const OUT = new URL("../../out/tests/web/", import.meta.url).pathname;
const CONFIG = new URL("../cli/tiny_config.json", import.meta.url).pathname;
const SEED = 7, STEPS = 2, SCALE = 0.8;
/**
 * Page (Chrome's SwiftShader WebGPU) vs Deno (wgpu on this machine's adapter): different shader compilers and
 * transcendental functions (the Box–Muller noise's log/cos differ by ~1.5e-4 relative), so not bit-identical.
 * Bound: max |Δ| ≤ 1e-3 · (1 + max |reference|) over every voxel (measured: about 1.5e-4 · max |reference|).
 */
const TOLERANCE = 1e-3;

Deno.test({
  name:
    "web page in headless Chromium: DDIM 2 steps match Deno, corrupt checkpoint message, WASM without navigator.gpu, localhost only",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ldm3d-web-test-" });
    await Deno.mkdir(OUT, { recursive: true });
    await T.init();
    const config = await writeSeededModels(dir, CONFIG, SCALE);

    // The same sampling in Deno, through the same code the page runs.
    const read = async (name: string) => ({
      bytes: await Deno.readFile(join(dir, name)),
      source: `/models/${name}`,
    });
    const models = await loadSamplingModels(config, {
      autoencoder: () => read("autoencoder.safetensors"),
      unet: () => read("diffusion_unet.safetensors"),
    }, { seed: SEED });
    const scheduler = schedulerFromConfig(config, "ddim", { steps: STEPS });
    assert.equal(models.stored.scaleFactor, SCALE);
    const reference = await sampleVolume(config, models, {
      scheduler,
      scaleFactor: SCALE,
      seed: SEED,
      index: 0,
    });
    scheduler.dispose();
    models.dispose();

    // A corrupt UNet checkpoint (truncated) and the message the CLI gives for it.
    const good = await Deno.readFile(join(dir, "diffusion_unet.safetensors"));
    const corrupt = good.subarray(0, Math.floor(good.length / 2));
    await Deno.writeFile(join(dir, "corrupt.safetensors"), corrupt);
    let cliMessage = "";
    try {
      (await loadSamplingModels(config, {
        autoencoder: () => read("autoencoder.safetensors"),
        unet: () => Promise.resolve({ bytes: corrupt, source: "/models/corrupt.safetensors" }),
      })).dispose();
    } catch (e) {
      cliMessage = (e as Error).message;
    }
    assert.ok(
      cliMessage.includes("/models/corrupt.safetensors"),
      `expected an error naming the file: ${cliMessage}`,
    );

    const server = await startServer({ models: dir, port: 0, log: () => {} });
    const browser = await launchChromium(CHROMIUM!, join(dir, "profile"));
    const requests: string[] = [];
    try {
      const page = browser.page;
      page.on("Network.requestWillBeSent", (p) => requests.push((p.request as { url: string }).url));
      const consoleErrors: string[] = [];
      page.on("Runtime.consoleAPICalled", (p) => {
        const args = p.args as { value?: unknown; description?: string }[];
        if (p.type === "error") consoleErrors.push(args.map((a) => a.value ?? a.description).join(" "));
      });
      await page.send("Network.enable");
      await page.send("Runtime.enable");
      await page.send("Page.enable");
      await page.send("Emulation.setDeviceMetricsOverride", {
        width: 1100,
        height: 900,
        deviceScaleFactor: 1,
        mobile: false,
      });

      // 1. Sample in the page.
      const url = `${server.modelsUrl}&steps=${STEPS}&seed=${SEED}&autorun=1`;
      await page.send("Page.navigate", { url });
      await waitFor(
        browser,
        "['done', 'error', 'no-backend'].includes(globalThis.ldm3dPage?.status)",
        "sampling",
      );
      const state = await page.evaluate<
        { status: string; error: string | null; backend: string; viewer3d: string }
      >(
        "({ status: ldm3dPage.status, error: ldm3dPage.error, backend: ldm3dPage.backend, viewer3d: ldm3dPage.viewer3d })",
      );
      assert.equal(
        state.status,
        "done",
        `page: ${state.error ?? state.backend}\n${browser.log().slice(-2000)}`,
      );
      console.log(`page backend: ${state.backend}; 3D view: ${state.viewer3d}`);
      const got = await page.evaluate<{ shape: number[]; data: number[]; affine: number[][] }>(
        "({ shape: ldm3dPage.volume.shape, data: Array.from(ldm3dPage.volume.data), affine: ldm3dPage.affine })",
      );
      assert.deepEqual(got.shape, reference.shape);
      assert.deepEqual(consoleErrors.filter((m) => m.includes("WebGPU")), [], "WebGPU errors in the page");
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < got.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - reference.data[i]));
        maxRef = Math.max(maxRef, Math.abs(reference.data[i]));
      }
      console.log(
        `page vs Deno: max |Δ| ${maxDiff.toExponential(2)} over ${got.data.length} voxels (max |ref| ${
          maxRef.toFixed(3)
        })`,
      );
      assert.ok(maxDiff <= TOLERANCE * (1 + maxRef), `page and Deno volumes differ by ${maxDiff}`);
      // The download is the NIfTI `generate` writes: same affine (qform/sform from the centred RAS affine).
      const spacing = config.spacing;
      assert.deepEqual(got.affine[0], [spacing[0], 0, 0, (-(got.shape[0] - 1) / 2) * spacing[0]]);
      const download = await page.evaluate<{ name: string; bytes: number[] }>(`(async () => {
        const a = document.getElementById("download");
        const b = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
        return { name: a.download, bytes: Array.from(b.subarray(0, 2)) };
      })()`);
      assert.deepEqual(download.bytes, [0x1f, 0x8b], "the download is gzip");
      assert.match(download.name, /\.nii\.gz$/);
      await screenshot(browser, join(OUT, "page.png"));

      // 2. A corrupt checkpoint: the CLI's message in the page.
      await page.send("Page.navigate", {
        url: `${server.modelsUrl}&unet=/models/corrupt.safetensors&steps=${STEPS}&autorun=1`,
      });
      await waitFor(
        browser,
        "['done', 'error'].includes(globalThis.ldm3dPage?.status)",
        "the corrupt checkpoint",
      );
      const shown = await page.evaluate<string>("document.getElementById('message').textContent");
      assert.equal(shown, cliMessage);
      await screenshot(browser, join(OUT, "page_corrupt.png"));

      // 3. navigator.gpu hidden: the page falls back to WASM and says so (sampling on it: page_wasm_test.ts).
      await page.send("Page.addScriptToEvaluateOnNewDocument", {
        source: "Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });",
      });
      await page.send("Page.navigate", { url: server.url });
      await waitFor(
        browser,
        "['idle', 'no-backend'].includes(globalThis.ldm3dPage?.status)",
        "the backend",
        60,
      );
      const line = await page.evaluate<string>("document.getElementById('backend').textContent");
      assert.match(line, /^Backend: WASM, \d+ threads? .*no WebGPU \(navigator\.gpu is missing\)/);

      // Nothing but this server (and in-page blob:/data: URLs) was requested.
      const outside = requests.filter((u) => !u.startsWith(server.url) && !/^(blob|data|about):/.test(u));
      assert.deepEqual(outside, [], "requests outside 127.0.0.1");
      assert.ok(requests.some((u) => u.endsWith("/models/diffusion_unet.safetensors")));
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
