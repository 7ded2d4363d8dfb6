/**
 * Data parallelism for the training commands: picks the transport (single process, shared memory, MPI),
 * and gives the gradient hook that averages every gradient across ranks between backward and the
 * optimizer step (one flat GPU→host copy, one all-reduce, one host→GPU copy per step). The same all-reduce
 * carries each rank's stop vote (one extra float), so the ranks agree to stop after the same step without an
 * extra collective; a rank whose launcher has died votes to stop (see `cli/stop.ts`).
 */
import * as T from "../tensor/mod.ts";
import { type AllReduce, meanScalar } from "../nn/dist/allreduce.ts";
import { initDistributed, rankFromEnv } from "../nn/dist/init.ts";
import { pinThisProcess, reportGpu } from "../nn/dist/gpu_pinning.ts";
import { launcherPidFromEnv, silenceOutput, watchLauncher } from "../nn/dist/launcher_watch.ts";
import { INTERRUPTED_EXIT_CODE, StopControl } from "./stop.ts";

/** What a training command needs to know about its process group. */
export interface DistributedContext {
  rank: number;
  worldSize: number;
  comm: AllReduce | null;
  /** Averages the gradients of `params` across ranks (undefined for a single process). */
  gradHook?: (params: T.Tensor[]) => Promise<void>;
  /** Logs from rank 0 only. */
  log: (s: string) => void;
  /** This process's stop requests and, with several ranks, their agreement (pass it to the training loop). */
  stop: StopControl;
  close(): Promise<void>;
}

/** Sets up the process group for `-g gpus` (the launcher has already started the ranks). */
export async function distributedContext(gpus: number, dist = "shm"): Promise<DistributedContext> {
  const { rank, worldSize } = rankFromEnv();
  if (worldSize <= 1) {
    if (gpus > 1) throw new Error(`-g ${gpus}: ranks were not started by the launcher`);
    return {
      rank: 0,
      worldSize: 1,
      comm: null,
      log: console.log,
      stop: new StopControl(),
      close: () => Promise.resolve(),
    };
  }
  // From the start: a rank whose launcher has died must not go on setting up (or training) for nobody.
  let comm: AllReduce | null = null;
  const stop = new StopControl(worldSize, (vote) => meanScalar(comm!, vote));
  const launcher = launcherPidFromEnv();
  const watch = launcher === null ? null : watchLauncher(launcher, () => {
    // Nobody reads our output any more; writing to the broken pipe would throw during the clean stop.
    silenceOutput();
    stop.request(`the launcher (pid ${launcher}) has exited`);
    // Outside the training loop there is nothing to save: leave now.
    if (!stop.listening) Deno.exit(INTERRUPTED_EXIT_CODE);
  });
  try {
    // Ranks started by mpirun pin themselves (the shm launcher pins through the environment it sets).
    if (Deno.env.get("OMPI_COMM_WORLD_LOCAL_RANK") !== undefined) {
      await pinThisProcess(
        Number(Deno.env.get("OMPI_COMM_WORLD_LOCAL_RANK")),
        Number(Deno.env.get("OMPI_COMM_WORLD_LOCAL_SIZE") ?? worldSize),
      );
    }
    comm = await initDistributed({ dist: dist === "mpi" ? "mpi" : "auto" });
    // The launcher checks these reports: two ranks on one GPU fail the job when enough GPUs exist.
    reportGpu(rank, (await T.init()).description);
  } catch (e) {
    watch?.stop();
    throw e;
  }
  const group = comm;
  return {
    rank,
    worldSize,
    comm,
    gradHook: (params) => averageGradients(group, params, BUCKET_BYTES, stop),
    log: (s) => rank === 0 && console.log(s),
    stop,
    close: async () => {
      watch?.stop();
      await group.close();
    },
  };
}

/** Largest gradient bucket copied in one piece (well under a storage binding on every adapter). */
const BUCKET_BYTES = 64 << 20;

/**
 * Replaces every parameter's gradient by its mean over the ranks, in buckets of about `bucketBytes`. With
 * `stop`, the last bucket also carries this rank's stop vote and `stop` records the ranks' mean vote.
 */
export async function averageGradients(
  comm: AllReduce,
  params: T.Tensor[],
  bucketBytes = BUCKET_BYTES,
  stop?: StopControl,
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
