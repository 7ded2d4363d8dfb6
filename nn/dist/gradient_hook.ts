/**
 * The gradient hook of data-parallel training: replaces every parameter's gradient by its mean over the
 * ranks between backward and the optimizer step (one flat device→host copy, one all-reduce, one host→device
 * copy per bucket). The same all-reduce can carry a rank's stop vote (one extra float), so the ranks agree to
 * stop after the same step without an extra collective.
 *
 * @module
 */
import * as T from "../../tensor/mod.ts";
import type { AllReduce } from "./allreduce.ts";

/** A rank's stop vote, carried in the gradient all-reduce (the recipe's `StopControl` is one). */
export interface StopVote {
  /** This rank's vote: 1 when it asks to stop, else 0. */
  readonly vote: number;
  /** Records the ranks' mean vote. */
  agree(meanVote: number): void;
}

/** Largest gradient bucket copied in one piece (well under a storage binding on every adapter). */
export const BUCKET_BYTES = 64 << 20;

/**
 * Replaces every parameter's gradient by its mean over the ranks, in buckets of about `bucketBytes`. With
 * `stop`, the last bucket also carries this rank's stop vote and `stop` records the ranks' mean vote.
 */
export async function averageGradients(
  comm: AllReduce,
  params: T.Tensor[],
  bucketBytes = BUCKET_BYTES,
  stop?: StopVote,
): Promise<void> {
  const buckets: T.Tensor[][] = [];
  let bucket: T.Tensor[] = [], bytes = 0;
  for (const p of params) {
    if (bucket.length && bytes + 4 * p.size > bucketBytes) {
      buckets.push(bucket);
      bucket = [];
      bytes = 0;
    }
    bucket.push(p);
    bytes += 4 * p.size;
  }
  buckets.push(bucket);
  for (const [i, b] of buckets.entries()) {
    const vote = stop && i === buckets.length - 1 ? Float32Array.of(stop.vote) : null;
    await averageBucket(comm, b, vote);
    if (vote) stop!.agree(vote[0]);
  }
}

/** Averages one bucket; `extra` (e.g. the stop vote) rides along in the same all-reduce. */
async function averageBucket(comm: AllReduce, params: T.Tensor[], extra: Float32Array | null): Promise<void> {
  if (params.length === 0) {
    if (extra) await comm.allReduceMean([extra]);
    return;
  }
  // Every rank sends every parameter (zeros where it has no gradient) so the vectors always line up.
  const flat = T.noGrad(() =>
    T.scope(() => T.concat(params.map((p) => T.reshape(p.grad ?? T.zeros(p.shape), [-1])), 0))
  );
  const host = (await flat.data()) as Float32Array;
  flat.dispose();
  await comm.allReduceMean(extra ? [host, extra] : [host]);
  let offset = 0;
  for (const p of params) {
    const n = p.size;
    if (p.grad) {
      const g = T.tensor(host.subarray(offset, offset + n), p.shape).keep();
      p.grad.dispose();
      p.grad = g as typeof p.grad;
    }
    offset += n;
  }
}
