// deno-lint-ignore-file no-explicit-any -- DevTools Protocol replies are untyped JSON
/**
 * Headless Chromium driven over the Chrome DevTools Protocol: the system's `chromium` (Debian package; nothing
 * downloaded), started with `--remote-debugging-port=0`, one page target, a WebSocket from Deno.
 */

/** Chromium's command line flags that give a headless page WebGPU (Chrome's SwiftShader adapter) and WebGL. */
export const CHROMIUM_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-gpu-sandbox",
  "--window-size=1200,1000",
];

/** The system Chromium's path, or null with nothing found. */
export function findChromium(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        const p = `${dir}/${name}`;
        if (Deno.statSync(p).isFile) return p;
      } catch { /* not here */ }
    }
  }
  return null;
}

type Listener = (params: Record<string, unknown>) => void;

/** One CDP session over a WebSocket: `send` a method, `on` an event. */
export class CdpSession {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  #listeners = new Map<string, Listener[]>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners.get(msg.method) ?? []) l(msg.params);
      }
    };
  }

  static connect(url: string): Promise<CdpSession> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(new CdpSession(ws));
      ws.onerror = (e) => reject(new Error(`CDP: cannot connect to ${url}: ${(e as ErrorEvent).message}`));
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  on(method: string, listener: Listener): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), listener]);
  }

  /** Evaluates `expression` in the page (awaiting promises) and returns its value as JSON. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) {
      throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value as T;
  }

  close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.#ws.onclose = () => resolve();
      this.#ws.close();
    });
  }
}

/** A started browser with one page session. */
export interface Browser {
  page: CdpSession;
  /** Chromium's stderr so far (GPU messages help when WebGPU is missing). */
  log(): string;
  close(): Promise<void>;
}

/**
 * Chromium's flags for a page without WebGPU: the WebGPU flags left out and WebGPU turned off, so
 * `navigator.gpu` is missing or offers no adapter (the page then falls back to WASM).
 */
export const CHROMIUM_FLAGS_NO_WEBGPU = [
  ...CHROMIUM_FLAGS.filter((f) => !/webgpu|swiftshader/.test(f)),
  "--disable-features=WebGPU,WebGPUService",
  "--disable-webgpu",
];

/** Starts Chromium with `flags` and a fresh profile in `profileDir`; opens one blank page. */
export async function launchChromium(
  path: string,
  profileDir: string,
  flags: readonly string[] = CHROMIUM_FLAGS,
): Promise<Browser> {
  const child = new Deno.Command(path, {
    args: [...flags, "--remote-debugging-port=0", `--user-data-dir=${profileDir}`, "about:blank"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${stderr}`)), 60_000);
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += value;
        const m = stderr.match(/DevTools listening on (ws:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      }
      clearTimeout(timer);
      reject(new Error(`chromium exited:\n${stderr}`));
    })().catch(() => {});
  });
  const port = new URL(endpoint).port;
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.type === "page");
  if (!target) throw new Error("chromium: no page target");
  const page = await CdpSession.connect(target.webSocketDebuggerUrl);
  return {
    page,
    log: () => stderr,
    async close() {
      await page.close();
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await reader.cancel().catch(() => {});
    },
  };
}

/** Polls `expression` in the page until true; on timeout throws with the page state and Chromium's log. */
export async function waitFor(
  browser: Browser,
  expression: string,
  what: string,
  seconds = 600,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await browser.page.evaluate<boolean>(expression)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const state = await browser.page.evaluate<string>("JSON.stringify(globalThis.ldm3dPage ?? null)");
  throw new Error(
    `timed out waiting for ${what}; page state ${state}\nchromium:\n${browser.log().slice(-3000)}`,
  );
}

/** Saves a PNG screenshot of the page to `path`. */
export async function screenshot(browser: Browser, path: string): Promise<void> {
  const shot = await browser.page.send("Page.captureScreenshot", { format: "png" });
  await Deno.writeFile(path, Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)));
}
