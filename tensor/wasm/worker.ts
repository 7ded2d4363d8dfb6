/// <reference lib="deno.worker" />
/** A worker of the WASM backend's pool: runs chunks of parallel steps on the shared memory (protocol in pool.ts). */
import { instantiateGemm, KernelContext } from "./kernels/context.ts";
import { runKernel, TEST_DIE } from "./kernels/mod.ts";
import { instantiateSimd } from "./kernels/simd.ts";
import {
  ARGS_OFFSET,
  CLAIMED,
  ERR_CHARS,
  ERR_OFFSET,
  ERRLEN,
  ERROR,
  EXITED,
  FINISHED,
  GEN,
  IDLE,
  IDLE_EXIT_MS,
  KERNEL,
  MAX_ARGS,
  NARGS,
  NEXT,
  spinWhile,
  STATE,
  TOTAL,
} from "./pool.ts";

self.onmessage = async (e: MessageEvent) => {
  const { module, simdModule, memory, ctl: sab, thread } = e.data as {
    module: WebAssembly.Module;
    simdModule: WebAssembly.Module;
    memory: WebAssembly.Memory;
    ctl: SharedArrayBuffer;
    thread: number;
  };
  const ctx = new KernelContext(
    memory,
    await instantiateGemm(module, memory),
    thread,
    await instantiateSimd(simdModule, memory),
  );
  const ctl = new Int32Array(sab, 0, ARGS_OFFSET / 4);
  const argsView = new Float64Array(sab, ARGS_OFFSET, MAX_ARGS);
  const errText = new Uint16Array(sab, ERR_OFFSET, ERR_CHARS);
  const me = STATE + thread - 1;
  let seen = Atomics.load(ctl, GEN);
  Atomics.store(ctl, me, IDLE);
  for (;;) {
    const r = spinWhile(ctl, GEN, seen) ? "ok" : Atomics.wait(ctl, GEN, seen, IDLE_EXIT_MS);
    if (r === "timed-out") {
      // Leave only if the main thread has not just claimed us.
      if (Atomics.compareExchange(ctl, me, IDLE, EXITED) === IDLE) {
        self.postMessage("exit");
        return;
      }
      continue;
    }
    const gen = Atomics.load(ctl, GEN);
    if (gen === seen) continue;
    seen = gen;
    if (Atomics.load(ctl, me) !== CLAIMED) continue;
    const kernel = Atomics.load(ctl, KERNEL);
    const args = argsView.slice(0, Atomics.load(ctl, NARGS));
    const total = Atomics.load(ctl, TOTAL);
    if (kernel === TEST_DIE) {
      // Test hook: die without checking out, as a crashed worker would.
      setTimeout(() => {
        throw new Error(`worker ${thread} crashed (test)`);
      });
      return;
    }
    try {
      ctx.refresh();
      for (;;) {
        const c = Atomics.add(ctl, NEXT, 1);
        if (c >= total) break;
        runKernel(ctx, kernel, args, c);
      }
    } catch (err) {
      Atomics.store(ctl, NEXT, total);
      if (Atomics.compareExchange(ctl, ERROR, 0, thread) === 0) {
        const text = err instanceof Error ? err.message : String(err);
        for (let i = 0; i < Math.min(text.length, ERR_CHARS); i++) errText[i] = text.charCodeAt(i);
        Atomics.store(ctl, ERRLEN, text.length);
      }
    }
    Atomics.store(ctl, me, IDLE);
    Atomics.add(ctl, FINISHED, 1);
    Atomics.notify(ctl, FINISHED);
  }
};
