/**
 * The WASM backend's memory: one shared `WebAssembly.Memory` (a SharedArrayBuffer every worker maps), carved by a
 * best-fit allocator whose free ranges coalesce, so a long run does not fragment the 4 GiB wasm32 address space.
 * Allocation happens when an op is recorded; execution is in record order, so a range freed and reused by a later
 * tensor is only written after every earlier op that read it has run.
 */
import type { DeviceBuffer, MemoryStats } from "../backend/mod.ts";

/** wasm32 addresses at most 65,536 pages of 64 KiB. */
export const MAX_PAGES = 65536;
const PAGE = 65536;
/** The first MiB is left to the AssemblyScript module (static data; it uses no heap). */
const HEAP_BASE = 1 << 20;
const ALIGN = 64;

/** A range of the shared memory. */
export class WasmBuffer implements DeviceBuffer {
  constructor(readonly ptr: number, readonly size: number) {}
}

/** Raised when the wasm32 address space (or the host) cannot hold an allocation. */
export class WasmOutOfMemoryError extends Error {}

/** The shared memory and its allocator. */
export class WasmMemory {
  readonly memory: WebAssembly.Memory;
  #top = HEAP_BASE;
  /** Free ranges below `top`, sorted by address: [ptr, size] pairs. */
  #free: [number, number][] = [];
  #stats: MemoryStats = { current: 0, peak: 0, liveBuffers: 0, pooled: 0 };

  readonly maxPages: number;

  constructor(maxPages = MAX_PAGES) {
    this.maxPages = Math.min(MAX_PAGES, Math.max(64, maxPages));
    this.memory = new WebAssembly.Memory({ initial: 64, maximum: this.maxPages, shared: true });
  }

  /** A range of at least `bytes` bytes (64-byte aligned). `op` names the caller in an out-of-memory error. */
  alloc(bytes: number, op: () => string): WasmBuffer {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const s = this.#free[i][1];
      if (s >= size && (best < 0 || s < this.#free[best][1])) best = i;
    }
    let ptr: number;
    if (best >= 0) {
      const [p, s] = this.#free[best];
      ptr = p;
      if (s === size) this.#free.splice(best, 1);
      else this.#free[best] = [p + size, s - size];
      this.#stats.pooled -= size;
    } else {
      // Extend the top, reusing a free range that ends at it.
      const last = this.#free.at(-1);
      let start = this.#top;
      if (last && last[0] + last[1] === this.#top) {
        start = last[0];
        this.#free.pop();
        this.#stats.pooled -= last[1];
      }
      this.#ensure(start + size, bytes, op, last && start !== this.#top ? last : null);
      ptr = start;
      this.#top = start + size;
    }
    this.#stats.current += size;
    this.#stats.liveBuffers++;
    if (this.#stats.current > this.#stats.peak) this.#stats.peak = this.#stats.current;
    return new WasmBuffer(ptr, size);
  }

  /** Returns a range to the free list, merging it with its neighbours. */
  free(buf: WasmBuffer): void {
    this.#stats.current -= buf.size;
    this.#stats.liveBuffers--;
    let ptr = buf.ptr, size = buf.size;
    let lo = 0, hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#free[mid][0] < ptr) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.#free[lo - 1], next = this.#free[lo];
    let removeNext = false;
    if (next && ptr + size === next[0]) {
      size += next[1];
      removeNext = true;
      this.#stats.pooled -= next[1];
    }
    if (prev && prev[0] + prev[1] === ptr) {
      this.#stats.pooled -= prev[1];
      ptr = prev[0];
      size += prev[1];
      this.#free.splice(lo - 1, removeNext ? 2 : 1, [ptr, size]);
    } else {
      this.#free.splice(lo, removeNext ? 1 : 0, [ptr, size]);
    }
    this.#stats.pooled += size;
    // A range that reaches the top shrinks the heap instead of staying pooled.
    const last = this.#free.at(-1)!;
    if (last[0] + last[1] === this.#top) {
      this.#free.pop();
      this.#stats.pooled -= last[1];
      this.#top = last[0];
    }
  }

  stats(): MemoryStats {
    return { ...this.#stats };
  }

  resetPeak(): void {
    this.#stats.peak = this.#stats.current;
  }

  #ensure(end: number, requested: number, op: () => string, restore: [number, number] | null): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    try {
      if (end > this.maxPages * PAGE) {
        throw new RangeError(`beyond the memory's ${this.maxPages * PAGE} bytes`);
      }
      this.memory.grow(pages);
    } catch (e) {
      if (restore) {
        this.#free.push(restore);
        this.#stats.pooled += restore[1];
      }
      throw new WasmOutOfMemoryError(
        `${op()}: the wasm backend is out of memory allocating ${requested} bytes ` +
          `(${this.#stats.current} bytes in use, ${this.#stats.pooled} free but fragmented; the memory ends at ${
            this.maxPages * PAGE
          } bytes, wasm32 allows at most 4 GiB` +
          `${
            e instanceof Error ? `: ${e.message}` : ""
          }). Use a smaller batch or volume, or run with --backend webgpu ` +
          `(LDM_BACKEND=webgpu).`,
      );
    }
  }
}
