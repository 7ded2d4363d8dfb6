/**
 * DDIM sampling of the demo's models (seeded, untrained: the same compute as trained ones) in the browser page
 * (headless Chromium, its WebGPU) vs the same sampling in Deno, in one run. `--backend wasm`: Chromium started
 * without WebGPU, so the page falls back to the WASM backend, vs Deno on the WASM backend, both on `--threads`. Both: one 2-step warm-up (pipeline
 * compilation), then `--steps` (default 50) timed, device sync every step (as the page does), decode included.
 * Prints one JSON line per side and the ratio. Needs `chromium` on PATH.
 *
 *   deno run -A bench/web_page_bench.ts [--steps 50] [--config config/config_demo.json] [--backend wasm --threads 2]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import * as T from "../tensor/mod.ts";
import {
  loadSamplingModels,
  sampleLatentShape,
  sampleVolume,
  schedulerFromConfig,
} from "../recipe/sampling.ts";
import { startServer } from "../recipe/page_server.ts";
import {
  CHROMIUM_FLAGS,
  CHROMIUM_FLAGS_NO_WEBGPU,
  findChromium,
  launchChromium,
} from "../tests/web/_chromium.ts";
import { writeSeededModels } from "../tests/web/_models.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "50" },
    config: { type: "string", default: "config/config_demo.json" },
    backend: { type: "string", default: "webgpu" },
    threads: { type: "string" },
  },
});
if (values.backend !== "webgpu" && values.backend !== "wasm") {
  console.error(`web_page_bench: --backend must be webgpu or wasm, got "${values.backend}"`);
  Deno.exit(2);
}
const wasm = values.backend === "wasm";
const threads = values.threads === undefined ? undefined : Number(values.threads);
if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) {
  console.error(`web_page_bench: --threads must be an integer from 1 to 64, got "${values.threads}"`);
  Deno.exit(2);
}
const steps = Number(values.steps), seed = 42, scaleFactor = 1;
const chromium = findChromium();
if (!chromium) {
  console.error("web_page_bench: no `chromium` on PATH (Debian: apt-get install chromium)");
  Deno.exit(1);
}
await T.init(wasm ? { backend: "wasm", threads } : {});
const dir = await Deno.makeTempDir({ prefix: "ldm3d-web-bench-" });
try {
  const config = await writeSeededModels(dir, values.config!, scaleFactor);
  const read = async (name: string) => ({ bytes: await Deno.readFile(join(dir, name)), source: name });
  const models = await loadSamplingModels(config, {
    autoencoder: () => read("autoencoder.safetensors"),
    unet: () => read("diffusion_unet.safetensors"),
  }, { seed });
  const denoSeconds = async (n: number) => {
    const scheduler = schedulerFromConfig(config, "ddim", { steps: n });
    const t0 = performance.now();
    await sampleVolume(config, models, { scheduler, scaleFactor, seed, index: 0, syncEvery: 1 });
    scheduler.dispose();
    return (performance.now() - t0) / 1000;
  };
  await denoSeconds(2);
  const deno = await denoSeconds(steps);
  models.dispose();

  const server = await startServer({ models: dir, port: 0, log: () => {} });
  const browser = await launchChromium(
    chromium,
    join(dir, "profile"),
    wasm ? CHROMIUM_FLAGS_NO_WEBGPU : CHROMIUM_FLAGS,
  );
  let page = NaN, backend = "";
  try {
    const done = async () => {
      for (;;) {
        const s = await browser.page.evaluate<string>("globalThis.ldm3dPage?.status ?? 'starting'");
        if (s === "done") return;
        if (s === "error" || s === "no-backend") {
          throw new Error(
            `page: ${await browser.page.evaluate<string>("ldm3dPage.error ?? ldm3dPage.backend")}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const pageThreads = threads === undefined ? "" : `&threads=${threads}`;
    await browser.page.send("Page.navigate", {
      url: `${server.modelsUrl}&steps=2&seed=${seed}${pageThreads}&autorun=1`,
    });
    await done();
    await browser.page.evaluate(
      `document.getElementById("steps").value = "${steps}"; ldm3dPage.status = "idle"; ` +
        `document.getElementById("generate").click(); true`,
    );
    await done();
    page = await browser.page.evaluate<number>("ldm3dPage.timing.sample");
    backend = await browser.page.evaluate<string>("ldm3dPage.backend");
  } finally {
    await browser.close();
    await server.shutdown();
  }
  const shape = `ddim${steps}, latent ${sampleLatentShape(config).join("x")}`;
  console.log(
    JSON.stringify({ name: "ddim_sampling_deno", shape, ms: deno * 1000, adapter: T.backendSummary() }),
  );
  console.log(JSON.stringify({ name: "ddim_sampling_page", shape, ms: page * 1000, adapter: backend }));
  console.log(JSON.stringify({ name: "ddim_sampling_page_over_deno", ratio: page / deno }));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
