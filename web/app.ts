/// <reference lib="dom" />
/**
 * The page: loads a config, an AutoencoderKL and a DiffusionModelUNet (file picker or URL), samples one volume
 * with DDIM on the browser's WebGPU (else on the WASM backend) through the same code as `generate` (recipe/sampling.ts), shows progress per
 * step, three mid-slices and a NiiVue 3D view, and offers the volume as .nii.gz with `generate`'s affine.
 *
 * URL parameters: `models=<base URL>` (reads config.json, autoencoder.safetensors and diffusion_unet.safetensors
 * there), or `config=`, `autoencoder=`, `unet=` each; `steps=`, `seed=`, `scale=`; `threads=` (WASM backend;
 * default: the browser's logical cores); `autorun=1` starts at once.
 * `globalThis.ldm3dPage` exposes the state for scripted use (the browser test reads it).
 */
import * as T from "../tensor/mod.ts";
import { setBackend } from "../tensor/backend/mod.ts";
import { WasmBackend } from "../tensor/wasm/backend.ts";
import { parseConfigText, parseTrainConfig, type TrainConfig } from "../recipe/config.ts";
import {
  centredRasAffine,
  loadSamplingModels,
  type SampledVolume,
  sampleVolume,
  schedulerFromConfig,
} from "../recipe/sampling.ts";
import { encodeNifti } from "../data/nifti_write.ts";
import { displayWindow, drawMidSlice } from "./slices.ts";
import { readSource } from "./sources.ts";
import { showIn3d } from "./viewer3d.ts";

/** What scripts (and the browser test) can read from the page. */
interface PageState {
  status: "starting" | "no-backend" | "idle" | "loading" | "sampling" | "done" | "error";
  backend: string;
  error: string | null;
  volume: SampledVolume | null;
  affine: number[][] | null;
  /** Seconds: reading + building models, the sampling loop with decode, and per completed step. */
  timing: { load: number; sample: number; steps: number };
  viewer3d: string;
}

const state: PageState = {
  status: "starting",
  backend: "",
  error: null,
  volume: null,
  affine: null,
  timing: { load: 0, sample: 0, steps: 0 },
  viewer3d: "",
};
(globalThis as unknown as { ldm3dPage: PageState }).ldm3dPage = state;

const $ = <E extends HTMLElement>(id: string) => document.getElementById(id) as E;
const input = (id: string) => $<HTMLInputElement>(id);
const message = $<HTMLPreElement>("message");
const progressBar = $<HTMLProgressElement>("progress");
const progressText = $<HTMLSpanElement>("progress-text");
const button = $<HTMLButtonElement>("generate");

/** WebGPU validation errors since the last run started. */
const gpuErrors: string[] = [];

function say(text: string, isError = false) {
  message.textContent = text;
  message.className = isError ? "error" : "";
}

/**
 * Installs WebGPU when the browser offers any adapter (Chrome's SwiftShader included); else the WASM backend
 * (threads on a SharedArrayBuffer, so the page must be cross-origin isolated: `deno task serve` (recipe/page_server.ts) sends COOP/COEP).
 * Where neither works, says what is missing.
 */
async function startBackend(threads: number | undefined): Promise<boolean> {
  const line = $<HTMLParagraphElement>("backend");
  const missing = (why: string) => {
    state.status = "no-backend";
    state.backend = "none";
    line.className = "note error";
    line.textContent =
      `${why} Use Chrome or Edge ≥ 113 (on Linux start Chromium with --enable-unsafe-webgpu), ` +
      `or serve the page with \`deno task serve\`, which makes it cross-origin isolated for the WASM fallback.`;
    button.disabled = true;
    return false;
  };
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  let noGpu = "this browser has no WebGPU (navigator.gpu is missing)";
  if (gpu) {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
    noGpu = "WebGPU is present but offers no adapter";
    if (adapter) {
      try {
        await T.init({ backend: "webgpu" });
        // A shader this browser rejects fails silently on the device (zeros): collect such errors and report them.
        const device = await T.getDevice();
        device.gpu.addEventListener("uncapturederror", (e) => {
          gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
        });
        const info = device.adapter.info;
        state.backend = `WebGPU: ${
          [info.vendor, info.architecture, info.description].filter((s) => s).join(" ")
        }`;
        line.textContent = `Backend: ${state.backend}`;
        state.status = "idle";
        return true;
      } catch (e) {
        noGpu = `WebGPU gave no device (${(e as Error).message.split(".")[0]})`;
      }
    }
  }
  if (typeof SharedArrayBuffer === "undefined" || !globalThis.crossOriginIsolated) {
    return missing(
      `No backend: ${noGpu}, and the WASM fallback needs SharedArrayBuffer, which this page lacks because it ` +
        `is not cross-origin isolated (the server must send Cross-Origin-Opener-Policy: same-origin and ` +
        `Cross-Origin-Embedder-Policy: require-corp).`,
    );
  }
  try {
    const wasm = await WasmBackend.create({
      threads,
      workerUrl: new URL("wasm_worker.js", document.baseURI),
      wasmUrl: new URL("gemm.wasm", document.baseURI),
    });
    setBackend(wasm);
    state.backend = `WASM, ${wasm.threads} thread${wasm.threads === 1 ? "" : "s"} (${wasm.description})`;
    line.textContent = `Backend: ${state.backend}; ${noGpu}.`;
    state.status = "idle";
    return true;
  } catch (e) {
    return missing(`No backend: ${noGpu}, and the WASM fallback failed to start: ${(e as Error).message}.`);
  }
}

async function readConfig(): Promise<TrainConfig> {
  const src = await readSource(input("config-file").files?.[0], input("config-url").value, "config");
  if (!src) throw new Error("no config: pick the training config file (JSON or YAML) or give its URL");
  const text = new TextDecoder().decode(src.bytes);
  return parseTrainConfig(parseConfigText(text, src.source), src.source, {
    onWarning: (m) => console.warn(`warning: ${m}`),
  });
}

async function readWeights(id: "autoencoder" | "unet", what: string) {
  const src = await readSource(input(`${id}-file`).files?.[0], input(`${id}-url`).value, "weights");
  if (!src) throw new Error(`no ${what} weights: pick the file or give its URL`);
  return src;
}

function positiveInteger(id: string, name: string): number {
  const v = Number(input(id).value);
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`${name} must be a positive integer, got "${input(id).value}"`);
  }
  return v;
}

async function run(): Promise<void> {
  button.disabled = true;
  state.error = null;
  state.volume = null;
  progressBar.value = 0;
  gpuErrors.length = 0;
  try {
    state.status = "loading";
    say("reading the config and weights…");
    const t0 = performance.now();
    const steps = positiveInteger("steps", "steps");
    const seed = Number(input("seed").value);
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got "${input("seed").value}"`);
    const scaleText = input("scale").value.trim();
    const config = await readConfig();
    const models = await loadSamplingModels(config, {
      autoencoder: () => readWeights("autoencoder", "autoencoder"),
      unet: () => readWeights("unet", "diffusion UNet"),
    }, { seed });
    const scheduler = schedulerFromConfig(config, "ddim", { steps });
    try {
      let scaleFactor = scaleText ? Number(scaleText) : models.stored.scaleFactor;
      let note = "";
      if (scaleFactor === null) {
        scaleFactor = 1.0;
        note = "scale factor: none stored with the diffusion weights and none given; using 1.0 " +
          "as the reference's inference.py does\n";
      }
      state.timing.load = (performance.now() - t0) / 1000;
      state.status = "sampling";
      say(`${note}sampling with DDIM, ${steps} steps, seed ${seed}, scale factor ${scaleFactor}`);
      const t1 = performance.now();
      const volume = await sampleVolume(config, models, {
        scheduler,
        scaleFactor,
        seed,
        index: 0,
        syncEvery: 1,
        progress: (done, total) => {
          state.timing.steps = done;
          progressBar.max = total;
          progressBar.value = done;
          const s = (performance.now() - t1) / 1000;
          progressText.textContent = `step ${done}/${total} · ${(s / done).toFixed(2)} s/step`;
        },
      });
      state.timing.sample = (performance.now() - t1) / 1000;
      if (gpuErrors.length > 0) {
        throw new Error(
          `WebGPU reported ${gpuErrors.length} error(s) while sampling, so the volume is not valid; the first:\n` +
            gpuErrors[0],
        );
      }
      progressText.textContent = `done: ${steps} steps + decode in ${state.timing.sample.toFixed(1)} s`;
      state.affine = centredRasAffine(volume.shape, config.spacing);
      state.volume = volume;
      await show(volume, state.affine, config.spacing, seed);
      state.status = "done";
      say(`${note}sampled a ${volume.shape.join("×")} volume`);
    } finally {
      scheduler.dispose();
      models.dispose();
    }
  } catch (e) {
    state.status = "error";
    state.error = (e as Error).message;
    say(state.error, true);
    progressText.textContent = "failed";
    console.error(e);
  } finally {
    button.disabled = false;
  }
}

async function show(volume: SampledVolume, affine: number[][], spacing: readonly number[], seed: number) {
  const [lo, hi] = displayWindow(volume.data);
  for (const plane of ["axial", "coronal", "sagittal"] as const) {
    drawMidSlice($<HTMLCanvasElement>(`slice-${plane}`), volume, plane, lo, hi);
  }
  const nii = encodeNifti(
    { data: volume.data, shape: [1, ...volume.shape], affine, spacing: [spacing[0], spacing[1], spacing[2]] },
    { gzip: true },
  );
  const link = $<HTMLAnchorElement>("download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([nii as Uint8Array<ArrayBuffer>], { type: "application/gzip" }));
  link.download = `ldm3d_sample_seed${seed}.nii.gz`;
  link.className = "button";
  $<HTMLSpanElement>("volume-info").textContent = `${volume.shape.join("×")} voxels, ${
    spacing.join("×")
  } mm, RAS affine centred on the volume (as generate writes it); values ${lo.toFixed(2)}…${
    hi.toFixed(2)
  } (1–99 %)`;
  state.viewer3d = await showIn3d($<HTMLCanvasElement>("niivue"), nii, [lo, hi]);
  $<HTMLElement>("niivue-caption").textContent = state.viewer3d;
}

/** Fills the inputs from the URL parameters (see the module doc). */
function applyUrlParameters(params: URLSearchParams) {
  const models = params.get("models");
  if (models) {
    const base = models.endsWith("/") ? models : `${models}/`;
    input("config-url").value = `${base}config.json`;
    input("autoencoder-url").value = `${base}autoencoder.safetensors`;
    input("unet-url").value = `${base}diffusion_unet.safetensors`;
  }
  for (
    const [param, id] of [["config", "config-url"], ["autoencoder", "autoencoder-url"], ["unet", "unet-url"]]
  ) {
    const v = params.get(param);
    if (v) input(id).value = v;
  }
  for (const id of ["steps", "seed", "scale"]) {
    const v = params.get(id);
    if (v !== null) input(id).value = v;
  }
}

async function main() {
  button.addEventListener("click", () => void run());
  const params = new URLSearchParams(location.search);
  applyUrlParameters(params);
  const threads = params.get("threads");
  if (threads !== null && !(/^[0-9]+$/.test(threads) && Number(threads) >= 1 && Number(threads) <= 64)) {
    throw new Error(`threads must be an integer from 1 to 64, got "${threads}"`);
  }
  if ((await startBackend(threads === null ? undefined : Number(threads))) && params.get("autorun") === "1") {
    await run();
  }
}

main().catch((e) => {
  state.status = "error";
  state.error = (e as Error).message;
  say(state.error, true);
});
