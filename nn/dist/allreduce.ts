/**
 * The collective-communication seam of data-parallel training: one `AllReduce` per process, whatever the
 * transport (shared memory on one machine, MPI across machines, or nothing for a single process). Training
 * calls `allReduceMean` on the gradients between backward and the optimizer step, `broadcast` once on the
 * initial weights, and `meanScalar` for the reference's cross-rank averages (diffusion scale factor, diffusion
 * validation loss).
 *
 * Every rank must make the same calls in the same order with buffers of the same total length; a mismatch is
 * reported as an error naming the ranks, not as a hang.
 *
 * @module
 */

/** Collective operations over the processes of one job. */
export interface AllReduce {
  /** This process's rank, 0 ≤ rank < worldSize. */
  readonly rank: number;
  /** Number of processes in the job. */
  readonly worldSize: number;
  /** Transport name ("single", "shm", "mpi"), for logs. */
  readonly kind: string;
  /**
   * Replaces every element of every buffer with its mean over the ranks (in place). The buffers are treated
   * as one concatenated vector: ranks may split it differently, but the total length must match.
   */
  allReduceMean(buffers: Float32Array[]): Promise<void>;
  /** Copies `root`'s buffers into every other rank's buffers (in place; same total length everywhere). */
  broadcast(buffers: Float32Array[], root?: number): Promise<void>;
  /** Returns when every rank has called `barrier()`; `name` only labels timeout errors. */
  barrier(name?: string): Promise<void>;
  /** Releases the transport. No collective may be called afterwards. */
  close(): Promise<void>;
}

/** Mean of one number over all ranks (e.g. the validation loss or the scale factor); float32 precision. */
export async function meanScalar(comm: AllReduce, value: number): Promise<number> {
  const buffer = Float32Array.of(value);
  await comm.allReduceMean([buffer]);
  return buffer[0];
}

/** Mean of several numbers over all ranks, elementwise, in one collective; float32 precision. */
export async function meanScalars(comm: AllReduce, values: readonly number[]): Promise<number[]> {
  const buffer = Float32Array.from(values);
  await comm.allReduceMean([buffer]);
  return Array.from(buffer);
}

/** The trivial communicator of a one-process job: every collective is a no-op. */
export class SingleProcess implements AllReduce {
  /** Always 0. */
  readonly rank = 0;
  /** Always 1. */
  readonly worldSize = 1;
  /** "single". */
  readonly kind = "single";
  /** No-op: the mean over one rank is the value itself. */
  allReduceMean(_buffers: Float32Array[]): Promise<void> {
    return Promise.resolve();
  }
  /** No-op (root must be 0). */
  broadcast(_buffers: Float32Array[], root = 0): Promise<void> {
    if (root !== 0) return Promise.reject(new Error(`broadcast: root ${root} out of range for world size 1`));
    return Promise.resolve();
  }
  /** No-op. */
  barrier(_name?: string): Promise<void> {
    return Promise.resolve();
  }
  /** No-op. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Total number of elements of a list of buffers. */
export function totalLength(buffers: readonly Float32Array[]): number {
  let n = 0;
  for (const b of buffers) n += b.length;
  return n;
}

/**
 * Calls `fn(buffer, from, to, at)` for each piece of the concatenated range [start, start + count) of
 * `buffers`: elements `buffer[from..to)` sit at offset `at` (0-based) inside the range.
 */
export function forEachPiece(
  buffers: readonly Float32Array[],
  start: number,
  count: number,
  fn: (buffer: Float32Array, from: number, to: number, at: number) => void,
): void {
  const end = start + count;
  let base = 0;
  for (const b of buffers) {
    const lo = Math.max(start, base), hi = Math.min(end, base + b.length);
    if (lo < hi) fn(b, lo - base, hi - base, lo - start);
    base += b.length;
    if (base >= end) break;
  }
}
