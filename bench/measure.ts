/** Benchmark helpers: timing with warm-up and median, and the JSON-lines record every runner prints. */
import * as T from "../tensor/mod.ts";

/** One benchmark result line. */
export interface BenchRecord {
  name: string;
  shape: string;
  ms: number;
  gflops: number | null;
  gbps: number | null;
  adapter: string;
  /** "webgpu" or "wasm". */
  backend: string;
  /** Threads computing (WASM); 1 on WebGPU. */
  threads: number;
  [extra: string]: unknown;
}

/** Median wall time (ms) of `fn` including a device sync, after `warmup` untimed runs. */
export async function timeMedian(fn: () => void | Promise<void>, runs = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) {
    await fn();
    await T.backend().sync();
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    await T.backend().sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Builds a record; flops and bytes are per run. */
export function record(
  name: string,
  shape: string,
  ms: number,
  flops: number | null,
  bytes: number | null,
  extra: Record<string, unknown> = {},
): BenchRecord {
  return {
    name,
    shape,
    ms: Number(ms.toFixed(3)),
    gflops: flops === null ? null : Number((flops / ms / 1e6).toFixed(3)),
    gbps: bytes === null ? null : Number((bytes / ms / 1e6).toFixed(3)),
    adapter: T.backend().description,
    backend: T.backend().kind,
    threads: T.backend().threads,
    ...extra,
  };
}
