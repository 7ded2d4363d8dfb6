/**
 * `deno task serve`: the browser page (web/) on http://127.0.0.1 only. At start it bundles web/app.ts for the
 * browser (`deno bundle --platform browser`, NiiVue included, so the page fetches nothing from elsewhere), with
 * the WASM backend's worker as a second entry point, then serves web/, the bundles (/app.js, /wasm_worker.js),
 * the WASM kernels (/gemm.wasm, /kernels.wasm) and a models folder under `/models/` (`--models DIR`, e.g.
 * runs/demo/models).
 * Every response is cross-origin isolated (COOP/COEP), which the WASM backend's SharedArrayBuffer needs.
 */
import { extname, join, normalize, resolve, sep as SEPARATOR } from "node:path";

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Folder served under /models/ (config.json and the checkpoints the page opens). */
  models?: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 8000. */
  port?: number;
  log?: (s: string) => void;
  /** Send the cross-origin isolation headers (default true; tests turn them off to see the page without WASM). */
  crossOriginIsolated?: boolean;
}

/** A running server. */
export interface PageServer {
  /** The page's address, e.g. http://127.0.0.1:8000/. */
  url: string;
  /** The page opening the models folder at once (when `models` was given). */
  modelsUrl: string | null;
  shutdown(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".yaml": "text/yaml",
  ".yml": "text/yaml",
  ".map": "application/json",
  ".wasm": "application/wasm",
};

/** Cross-origin isolation: pages get SharedArrayBuffer (the WASM backend's shared memory) only with these. */
const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

/** What the page fetches from the build folder, by served path; the WASM kernels come from tensor/wasm/. */
const BUILT: Record<string, string> = {
  "/app.js": "web/app.js",
  "/app.js.map": "web/app.js.map",
  "/wasm_worker.js": "tensor/wasm/worker.js",
  "/wasm_worker.js.map": "tensor/wasm/worker.js.map",
};
const GEMM_WASM = new URL("../tensor/wasm/gemm.wasm", import.meta.url);
const KERNELS_WASM = new URL("../tensor/wasm/kernels.wasm", import.meta.url);

const WEB_DIR = new URL("../web/", import.meta.url);

/**
 * Bundles web/app.ts and the WASM worker (tensor/wasm/worker.ts) for the browser into `outDir` (as
 * web/app.js and tensor/wasm/worker.js); throws with deno bundle's output on failure.
 */
export async function bundlePage(outDir: string): Promise<string> {
  if (!import.meta.url.startsWith("file:")) {
    throw new Error(
      `the page is bundled from a local checkout (deno bundle needs web/ on disk); this copy runs from ${import.meta.url}`,
    );
  }
  const entries = ["web/app.ts", "tensor/wasm/worker.ts"];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--sourcemap",
      "linked",
      "--outdir",
      outDir,
      ...entries,
    ],
    cwd: new URL("..", import.meta.url),
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`bundling ${entries.join(" and ")} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  return join(outDir, BUILT["/app.js"]);
}

/** Resolves `rel` inside `root`; null when it would leave it (`..`, absolute paths). */
function inside(root: string, rel: string): string | null {
  const path = normalize(join(root, decodeURIComponent(rel)));
  return path === root || path.startsWith(root.endsWith(SEPARATOR) ? root : root + SEPARATOR) ? path : null;
}

async function fileResponse(path: string | null, isolated: boolean): Promise<Response> {
  if (!path) return new Response("forbidden\n", { status: 403 });
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return new Response("not found\n", { status: 404 });
    const file = await Deno.open(path);
    return new Response(file.readable, {
      headers: {
        "content-type": CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
        "content-length": String(info.size),
        "cache-control": "no-store",
        ...(isolated ? ISOLATION_HEADERS : {}),
      },
    });
  } catch {
    return new Response("not found\n", { status: 404 });
  }
}

/** Bundles the page and serves it (see the module doc). */
export async function startServer(o: ServeOptions = {}): Promise<PageServer> {
  const log = o.log ?? console.log;
  const models = o.models ? resolve(o.models) : null;
  if (models) {
    const info = await Deno.stat(models).catch(() => null);
    if (!info?.isDirectory) throw new Error(`--models ${o.models}: not a folder`);
  }
  const buildDir = await Deno.makeTempDir({ prefix: "ldm3d-web-" });
  try {
    await bundlePage(buildDir);
  } catch (e) {
    await Deno.remove(buildDir, { recursive: true });
    throw e;
  }
  const webDir = resolve(WEB_DIR.pathname);
  const isolated = o.crossOriginIsolated ?? true;
  const file = (path: string | null) => fileResponse(path, isolated);
  const handler = (req: Request): Promise<Response> | Response => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    const path = new URL(req.url).pathname;
    if (path === "/") return file(join(webDir, "index.html"));
    if (BUILT[path]) return file(join(buildDir, BUILT[path]));
    if (path === "/gemm.wasm") return file(GEMM_WASM.pathname);
    if (path === "/kernels.wasm") return file(KERNELS_WASM.pathname);
    if (path.startsWith("/models/")) {
      return models
        ? file(inside(models, path.slice(8)))
        : new Response("no --models folder\n", { status: 404 });
    }
    if (extname(path) === ".ts") return new Response("not found\n", { status: 404 });
    return file(inside(webDir, path.slice(1)));
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: o.port ?? 8000, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const modelsUrl = models ? `${url}?models=/models/` : null;
  log(`ldm3d page: ${url}`);
  if (modelsUrl) log(`models in ${models}: ${modelsUrl}`);
  return {
    url,
    modelsUrl,
    async shutdown() {
      await server.shutdown();
      await Deno.remove(buildDir, { recursive: true }).catch(() => {});
    },
  };
}
