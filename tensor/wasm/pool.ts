/**
 * The worker pool: threads that share the backend's WebAssembly.Memory and split one op's chunks between them
 * and the main thread. One parallel step at a time: the main thread writes the kernel id and arguments into a
 * small shared control block, wakes the claimed workers, takes chunks itself, and waits until every claimed
 * worker has checked out, so a late worker can never run a stale step. Idle workers exit on their own (a live
 * Deno worker keeps the process running) and are started again when work comes.
 */
import { KERNEL_NAMES } from "./kernels/mod.ts";
import type { KernelContext } from "./kernels/context.ts";
import { runKernel } from "./kernels/mod.ts";

// Control words.
export const GEN = 0,
  NEXT = 1,
  TOTAL = 2,
  FINISHED = 3,
  KERNEL = 4,
  NARGS = 5,
  ERROR = 6,
  ERRLEN = 7,
  SPIN_US = 8;
/** Per-worker state words start here. */
export const STATE = 16;
export const STARTING = 0, IDLE = 1, CLAIMED = 2, EXITED = 3;
export const MAX_ARGS = 256;
export const MAX_WORKERS = 64;
const CTL_WORDS = STATE + MAX_WORKERS;
export const ARGS_OFFSET = CTL_WORDS * 4;
export const ERR_OFFSET = ARGS_OFFSET + MAX_ARGS * 8;
export const ERR_CHARS = 2048;
/** How long an idle worker waits for work before it exits (ms). */
export const IDLE_EXIT_MS = 1000;
/**
 * Polls `ctl[word]` while it equals `value`, for at most ctl[SPIN_US] µs, before a thread sleeps in Atomics.wait;
 * true once it changed. Steps come back to back, a few µs of recording apart, and a futex wake-up costs 15–20 µs
 * each way, more than most small steps take; but a thread that spins on a host with more busy threads than cores
 * takes time from the one doing the work (LDM_SPIN_US=0 turns it off).
 */
export function spinWhile(ctl: Int32Array, word: number, value: number): boolean {
  const spin = Atomics.load(ctl, SPIN_US);
  if (spin === 0) return false;
  const until = performance.now() + spin / 1000;
  while (Atomics.load(ctl, word) === value) {
    if (performance.now() > until) return false;
    Atomics.pause?.();
  }
  return true;
}

/**
 * Whether this thread may block in Atomics.wait: a browser page's main thread may not (it throws), so the pool
 * spins there instead.
 */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** A failure inside a kernel, on any thread: names the op. */
export class WasmKernelError extends Error {}

interface Slot {
  worker: Worker | null;
  /** Set when the worker died (error event) while it may have held a step. */
  death: string | null;
}

/** Threads computing one backend's kernels. */
export class ThreadPool {
  readonly ctl: Int32Array;
  readonly args: Float64Array;
  readonly errText: Uint16Array;
  #slots: Slot[];
  #wake: (() => void) | null = null;
  readonly #blocks = canBlock();

  /** `workerUrl`: the worker script (a bundled page serves its own build of worker.ts); `spinUs`: see spinWhile. */
  constructor(
    readonly threads: number,
    readonly module: WebAssembly.Module,
    readonly simdModule: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    readonly main: KernelContext,
    readonly workerUrl: URL | string = new URL("./worker.ts", import.meta.url),
    readonly spinUs = 0,
  ) {
    const sab = new SharedArrayBuffer(ERR_OFFSET + ERR_CHARS * 2);
    this.ctl = new Int32Array(sab, 0, CTL_WORDS);
    Atomics.store(this.ctl, SPIN_US, spinUs);
    this.args = new Float64Array(sab, ARGS_OFFSET, MAX_ARGS);
    this.errText = new Uint16Array(sab, ERR_OFFSET, ERR_CHARS);
    this.#slots = Array.from(
      { length: Math.min(MAX_WORKERS, threads - 1) },
      () => ({ worker: null, death: null }),
    );
    for (let w = 0; w < this.#slots.length; w++) Atomics.store(this.ctl, STATE + w, EXITED);
  }

  /** Starts every exited worker (they announce readiness by turning IDLE). */
  #spawn(w: number): void {
    const slot = this.#slots[w];
    Atomics.store(this.ctl, STATE + w, STARTING);
    const worker = new Worker(this.workerUrl, { type: "module" });
    slot.worker = worker;
    slot.death = null;
    worker.onerror = (e) => {
      e.preventDefault();
      slot.death = e.message || String(e.error ?? "worker error");
      slot.worker = null;
      worker.terminate();
      Atomics.store(this.ctl, STATE + w, EXITED);
      this.#wake?.();
    };
    worker.onmessage = (e) => {
      if (e.data === "exit") {
        if (slot.worker === worker) slot.worker = null;
        worker.terminate();
      }
    };
    worker.postMessage({
      module: this.module,
      simdModule: this.simdModule,
      memory: this.memory,
      ctl: this.ctl.buffer,
      thread: w + 1,
    });
  }

  /** Spawns the workers now and resolves once they are ready (or after `ms`). */
  async warm(ms = 30000): Promise<void> {
    this.#claimable();
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      if (this.#slots.every((_, w) => Atomics.load(this.ctl, STATE + w) === IDLE)) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  #claimable(): void {
    for (let w = 0; w < this.#slots.length; w++) {
      if (Atomics.load(this.ctl, STATE + w) === EXITED && !this.#slots[w].worker) this.#spawn(w);
    }
  }

  /**
   * Runs `chunks` chunks of a kernel over the main thread and every ready worker (`inline`: the main thread
   * alone, for work too small to repay waking the pool). Returns a promise only when the wait outlasted a short
   * blocking window (so a dead worker can be noticed); otherwise it has finished.
   */
  run(
    op: string,
    kernel: number,
    args: ArrayLike<number>,
    chunks: number,
    inline = false,
  ): Promise<void> | void {
    if (chunks <= 0) return;
    const claimed: number[] = [];
    if (chunks > 1 && !inline) {
      this.#claimable();
      for (let w = 0; w < this.#slots.length; w++) {
        if (Atomics.compareExchange(this.ctl, STATE + w, IDLE, CLAIMED) === IDLE) claimed.push(w);
      }
    }
    if (claimed.length === 0) {
      for (let c = 0; c < chunks; c++) this.#mainChunk(op, kernel, args, c);
      return;
    }
    if (args.length > MAX_ARGS) throw new Error(`${op}: ${args.length} kernel arguments exceed ${MAX_ARGS}`);
    const ctl = this.ctl;
    this.args.set(args);
    Atomics.store(ctl, KERNEL, kernel);
    Atomics.store(ctl, NARGS, args.length);
    Atomics.store(ctl, TOTAL, chunks);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, FINISHED, 0);
    Atomics.store(ctl, ERROR, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    let mainError: unknown = null;
    try {
      for (;;) {
        const c = Atomics.add(ctl, NEXT, 1);
        if (c >= chunks) break;
        this.#mainChunk(op, kernel, args, c);
      }
    } catch (e) {
      mainError = e;
      Atomics.store(ctl, NEXT, chunks); // stop the workers taking more
    }
    // Block briefly: most steps finish within it, and this avoids an event-loop round trip per op.
    const t0 = performance.now();
    for (;;) {
      const f = Atomics.load(ctl, FINISHED);
      if (f >= this.#expected(claimed)) return this.#finish(op, claimed, mainError);
      if (performance.now() - t0 > 50) break;
      if (!spinWhile(ctl, FINISHED, f) && this.#blocks) Atomics.wait(ctl, FINISHED, f, 10);
    }
    return this.#waitAsync(op, claimed, mainError);
  }

  #mainChunk(op: string, kernel: number, args: ArrayLike<number>, c: number): void {
    try {
      runKernel(this.main, kernel, args, c);
    } catch (e) {
      throw new WasmKernelError(
        `${op}: kernel ${KERNEL_NAMES[kernel]} failed on the main thread: ${message(e)}`,
      );
    }
  }

  /** Claimed workers that are still alive must all check out. */
  #expected(claimed: number[]): number {
    return claimed.filter((w) => this.#slots[w].death === null).length;
  }

  async #waitAsync(op: string, claimed: number[], mainError: unknown): Promise<void> {
    const ctl = this.ctl;
    for (;;) {
      const f = Atomics.load(ctl, FINISHED);
      if (f >= this.#expected(claimed)) return this.#finish(op, claimed, mainError);
      const wake = new Promise<void>((r) => (this.#wake = r));
      const res = Atomics.waitAsync(ctl, FINISHED, f, 100);
      await (res.async ? Promise.race([res.value, wake]) : Promise.resolve());
      this.#wake = null;
    }
  }

  #finish(op: string, claimed: number[], mainError: unknown): void {
    for (const w of claimed) {
      const death = this.#slots[w].death;
      if (death !== null) {
        this.#slots[w].death = null; // reported once; the slot respawns on the next step
        throw new WasmKernelError(`${op}: wasm worker ${w + 1} died: ${death}`);
      }
    }
    if (mainError) throw mainError;
    const who = Atomics.load(this.ctl, ERROR);
    if (who !== 0) {
      const len = Atomics.load(this.ctl, ERRLEN);
      const text = String.fromCharCode(...this.errText.subarray(0, Math.min(len, ERR_CHARS)));
      throw new WasmKernelError(`${op}: wasm worker ${who} failed: ${text}`);
    }
  }

  /** Stops every worker. */
  close(): void {
    for (const s of this.#slots) s.worker?.terminate();
  }
}

/** The message of a thrown value. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
