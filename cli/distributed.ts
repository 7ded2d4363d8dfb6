/**
 * Data parallelism for the training commands: picks the transport (single process, shared memory, MPI),
 * and gives the gradient hook that averages every gradient across ranks between backward and the
 * optimizer step (one flat GPU→host copy, one all-reduce, one host→GPU copy per step).
 */
import * as T from "../tensor/mod.ts";
import type { AllReduce } from "../nn/dist/allreduce.ts";
import { initDistributed, rankFromEnv } from "../nn/dist/init.ts";
import { pinThisProcess, reportGpu } from "../nn/dist/gpu_pinning.ts";

/** What a training command needs to know about its process group. */
export interface DistributedContext {
  rank: number;
  worldSize: number;
  comm: AllReduce | null;
  /** Averages the gradients of `params` across ranks (undefined for a single process). */
  gradHook?: (params: T.Tensor[]) => Promise<void>;
  /** Logs from rank 0 only. */
  log: (s: string) => void;
  close(): Promise<void>;
}

/** Sets up the process group for `-g gpus` (the launcher has already started the ranks). */
export async function distributedContext(gpus: number, dist = "shm"): Promise<DistributedContext> {
  const { rank, worldSize } = rankFromEnv();
  if (worldSize <= 1) {
    if (gpus > 1) throw new Error(`-g ${gpus}: ranks were not started by the launcher`);
    return { rank: 0, worldSize: 1, comm: null, log: console.log, close: () => Promise.resolve() };
  }
  // Ranks started by mpirun pin themselves (the shm launcher pins through the environment it sets).
  if (Deno.env.get("OMPI_COMM_WORLD_LOCAL_RANK") !== undefined) {
    await pinThisProcess(
      Number(Deno.env.get("OMPI_COMM_WORLD_LOCAL_RANK")),
      Number(Deno.env.get("OMPI_COMM_WORLD_LOCAL_SIZE") ?? worldSize),
    );
  }
  const comm = await initDistributed({ dist: dist === "mpi" ? "mpi" : "auto" });
  // The launcher checks these reports: two ranks on one GPU fail the job when enough GPUs exist.
  reportGpu(rank, (await T.init()).description);
  return {
    rank,
    worldSize,
    comm,
    gradHook: (params) => averageGradients(comm, params),
    log: (s) => rank === 0 && console.log(s),
    close: async () => await comm.close(),
  };
}

/** Largest gradient bucket copied in one piece (well under a storage binding on every adapter). */
const BUCKET_BYTES = 64 << 20;

/** Replaces every parameter's gradient by its mean over the ranks, in buckets of about `bucketBytes`. */
export async function averageGradients(
  comm: AllReduce,
  params: T.Tensor[],
  bucketBytes = BUCKET_BYTES,
): Promise<void> {
  let bucket: T.Tensor[] = [], bytes = 0;
  for (const p of params) {
    if (bucket.length && bytes + 4 * p.size > bucketBytes) {
      await averageBucket(comm, bucket);
      bucket = [];
      bytes = 0;
    }
    bucket.push(p);
    bytes += 4 * p.size;
  }
  if (bucket.length) await averageBucket(comm, bucket);
}

async function averageBucket(comm: AllReduce, params: T.Tensor[]): Promise<void> {
  // Every rank sends every parameter (zeros where it has no gradient) so the vectors always line up.
  const flat = T.noGrad(() =>
    T.scope(() => T.concat(params.map((p) => T.reshape(p.grad ?? T.zeros(p.shape), [-1])), 0))
  );
  const host = (await flat.data()) as Float32Array;
  flat.dispose();
  await comm.allReduceMean([host]);
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
