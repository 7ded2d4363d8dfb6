/**
 * The caching allocator: every GPUBuffer is created and destroyed here. Freed buffers go to a size-bucketed
 * pool for reuse; anything over the pool cap is destroyed at once (never left to the GC, which does not see
 * GPU memory).
 */

import type { MemoryStats } from "../backend/mod.ts";

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Size class: powers of two up to 1 MiB, then multiples of 1 MiB; at least 256 bytes. */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  if (bytes <= 1 << 20) return 2 ** Math.ceil(Math.log2(bytes));
  return Math.ceil(bytes / (1 << 20)) * (1 << 20);
}

/** Size-bucketed pool of storage buffers. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #doomed: GPUBuffer[] = [];
  #stats: MemoryStats = { current: 0, peak: 0, liveBuffers: 0, pooled: 0 };

  constructor(private device: GPUDevice, private maxPooledBytes = 512 << 20) {}

  /** A buffer of at least `bytes` bytes (usage STORAGE | COPY_SRC | COPY_DST). */
  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.#free.get(size);
    let buf = list?.pop();
    if (buf) this.#stats.pooled -= size;
    else buf = this.device.createBuffer({ size, usage: USAGE });
    this.#stats.current += size;
    this.#stats.liveBuffers++;
    if (this.#stats.current > this.#stats.peak) this.#stats.peak = this.#stats.current;
    return buf;
  }

  /** Returns a buffer to the pool (or destroys it when the pool is full). */
  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.#stats.current -= size;
    this.#stats.liveBuffers--;
    if (this.#stats.pooled + size > this.maxPooledBytes) {
      // Recorded but unsubmitted commands may still use it: destroy after the next submit.
      this.#doomed.push(buf);
      return;
    }
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buf);
    this.#stats.pooled += size;
  }

  /** Destroys buffers released over the pool cap; call only after the commands using them were submitted. */
  collect(): void {
    for (const b of this.#doomed) b.destroy();
    this.#doomed = [];
  }

  /** Destroys every pooled buffer (call after a submit). */
  trim(): void {
    this.collect();
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#stats.pooled = 0;
  }

  /** A snapshot of the counters. */
  stats(): MemoryStats {
    return { ...this.#stats };
  }

  /** Starts a new peak measurement from the current usage. */
  resetPeak(): void {
    this.#stats.peak = this.#stats.current;
  }
}

/** Scratch buffers for multi-pass kernels: `Tmp` acquires one of at least `bytes`, `Free` returns it. */
export type Tmp = (bytes: number) => GPUBuffer;
export type Free = (b: GPUBuffer) => void;
