/**
 * The browser page on the WASM backend: headless Chromium started without WebGPU (no adapter), the tiny seeded
 * checkpoint, DDIM with 2 steps in the page (WASM workers on the page's SharedArrayBuffer) vs the same sampling
 * in Deno on the WASM backend with the same thread count. Also: the same browser on a page that is not
 * cross-origin isolated has no backend at all and says what is missing. Screenshot: out/tests/web/page_wasm.png.
 * Skipped (reported as ignored, with the reason printed) where `chromium` is not installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as T from "../../tensor/mod.ts";
import { loadSamplingModels, sampleVolume, schedulerFromConfig } from "../../recipe/sampling.ts";
import { startServer } from "../../recipe/page_server.ts";
import { CHROMIUM_FLAGS_NO_WEBGPU, findChromium, launchChromium, screenshot, waitFor } from "./_chromium.ts";
import { writeSeededModels } from "./_models.ts";

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.log(
    "tests/web/page_wasm_test.ts: skipped: no `chromium` on PATH (Debian: apt-get install chromium)",
  );
}
const OUT = new URL("../../out/tests/web/", import.meta.url).pathname;
const CONFIG = new URL("../cli/tiny_config.json", import.meta.url).pathname;
const SEED = 11, STEPS = 2, SCALE = 0.8, THREADS = 2;
/**
 * Same kernels (gemm.wasm + the JS kernels), same thread count, both V8: the only room for a difference is the
 * JS engine's Math.log/cos/exp (Deno's V8 vs Chromium's). Bound: max |Δ| ≤ 1e-5 · (1 + max |reference|).
 */
const TOLERANCE = 1e-5;

Deno.test({
  name:
    "web page in Chromium without WebGPU: WASM fallback, DDIM 2 steps match Deno on WASM; no isolation message",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ldm3d-web-wasm-test-" });
    await Deno.mkdir(OUT, { recursive: true });
    await T.init({ backend: "wasm", threads: THREADS });
    const config = await writeSeededModels(dir, CONFIG, SCALE);
    const read = async (name: string) => ({ bytes: await Deno.readFile(join(dir, name)), source: name });
    const models = await loadSamplingModels(config, {
      autoencoder: () => read("autoencoder.safetensors"),
      unet: () => read("diffusion_unet.safetensors"),
    }, { seed: SEED });
    const scheduler = schedulerFromConfig(config, "ddim", { steps: STEPS });
    const reference = await sampleVolume(config, models, {
      scheduler,
      scaleFactor: SCALE,
      seed: SEED,
      index: 0,
    });
    scheduler.dispose();
    models.dispose();

    const server = await startServer({ models: dir, port: 0, log: () => {} });
    const plain = await startServer({ models: dir, port: 0, log: () => {}, crossOriginIsolated: false });
    const browser = await launchChromium(CHROMIUM!, join(dir, "profile"), CHROMIUM_FLAGS_NO_WEBGPU);
    try {
      const page = browser.page;
      await page.send("Runtime.enable");
      await page.send("Page.enable");
      await page.send("Emulation.setDeviceMetricsOverride", {
        width: 1100,
        height: 900,
        deviceScaleFactor: 1,
        mobile: false,
      });
      // 1. This browser really has no WebGPU adapter, and the isolated page samples on WASM.
      await page.send("Page.navigate", {
        url: `${server.modelsUrl}&steps=${STEPS}&seed=${SEED}&threads=${THREADS}&autorun=1`,
      });
      await waitFor(
        browser,
        "['done', 'error', 'no-backend'].includes(globalThis.ldm3dPage?.status)",
        "sampling",
      );
      const adapter = await page.evaluate<string>(
        "(async () => !navigator.gpu ? 'no navigator.gpu' : String(await navigator.gpu.requestAdapter()))()",
      );
      assert.ok(
        adapter === "no navigator.gpu" || adapter === "null",
        `this Chromium has a WebGPU adapter: ${adapter}`,
      );
      const state = await page.evaluate<{ status: string; error: string | null; backend: string }>(
        "({ status: ldm3dPage.status, error: ldm3dPage.error, backend: ldm3dPage.backend })",
      );
      assert.equal(
        state.status,
        "done",
        `page: ${state.error ?? state.backend}\n${browser.log().slice(-2000)}`,
      );
      assert.match(state.backend, new RegExp(`^WASM, ${THREADS} threads`));
      const line = await page.evaluate<string>("document.getElementById('backend').textContent");
      console.log(`page (${adapter}): ${line}`);
      assert.match(line, /^Backend: WASM, 2 threads .*(no WebGPU|no adapter)/);
      const got = await page.evaluate<{ shape: number[]; data: number[] }>(
        "({ shape: ldm3dPage.volume.shape, data: Array.from(ldm3dPage.volume.data) })",
      );
      assert.deepEqual(got.shape, reference.shape);
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < got.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - reference.data[i]));
        maxRef = Math.max(maxRef, Math.abs(reference.data[i]));
      }
      console.log(
        `page (WASM) vs Deno (WASM): max |Δ| ${
          maxDiff.toExponential(2)
        } over ${got.data.length} voxels (max |ref| ${maxRef.toFixed(3)})`,
      );
      assert.ok(maxRef > 0, "the reference volume is all zeros");
      assert.ok(maxDiff <= TOLERANCE * (1 + maxRef), `page and Deno volumes differ by ${maxDiff}`);
      await screenshot(browser, join(OUT, "page_wasm.png"));

      // 2. Not cross-origin isolated and no WebGPU: no backend, and the page names what is missing.
      await page.send("Page.navigate", { url: plain.url });
      await waitFor(
        browser,
        "['idle', 'no-backend'].includes(globalThis.ldm3dPage?.status)",
        "the backend",
        60,
      );
      const none = await page.evaluate<{ status: string; line: string; disabled: boolean; sab: string }>(
        "({ status: ldm3dPage.status, line: document.getElementById('backend').textContent, " +
          "disabled: document.getElementById('generate').disabled, sab: typeof SharedArrayBuffer })",
      );
      console.log(`not isolated: SharedArrayBuffer is ${none.sab}; ${none.line}`);
      assert.equal(none.status, "no-backend");
      assert.ok(none.disabled, "the generate button stays disabled");
      assert.match(none.line, /SharedArrayBuffer/);
      assert.match(none.line, /not cross-origin isolated/);
      assert.match(none.line, /Cross-Origin-Embedder-Policy: require-corp/);
      await screenshot(browser, join(OUT, "page_no_backend.png"));
    } finally {
      await browser.close();
      await server.shutdown();
      await plain.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
