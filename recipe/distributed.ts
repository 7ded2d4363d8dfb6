/**
 * Data parallelism for the training commands: picks the transport (single process, shared memory, MPI),
 * and gives the gradient hook (`nn/dist/gradient_hook.ts`) that averages every gradient across ranks between
 * backward and the optimizer step. The same all-reduce carries each rank's stop vote (one extra float), so the ranks agree to stop after the same step without an
 * extra collective; a rank whose launcher has died votes to stop (see `recipe/stop.ts`).
 */
import * as T from "../tensor/mod.ts";
import { type AllReduce, meanScalar } from "../nn/dist/allreduce.ts";
import { initDistributed, rankFromEnv } from "../nn/dist/init.ts";
import { pinThisProcess, reportGpu } from "../nn/dist/gpu_pinning.ts";
import { launcherPidFromEnv, onBrokenPipe, silenceOutput, watchLauncher } from "../nn/dist/launcher_watch.ts";
import { averageGradients, BUCKET_BYTES } from "../nn/dist/gradient_hook.ts";
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
  let gone = false;
  const launcherGone = () => {
    if (gone) return;
    gone = true;
    // Nobody reads our output any more; writing to the broken pipe would throw during the clean stop.
    silenceOutput();
    stop.request(`the launcher (pid ${launcher}) has exited`);
    // Outside the training loop there is nothing to save: leave now.
    if (!stop.listening) Deno.exit(INTERRUPTED_EXIT_CODE);
  };
  const watch = launcher === null ? null : watchLauncher(launcher, launcherGone);
  // A fast step can write to the dead launcher's pipe before the watch looks: that write means the same.
  if (launcher !== null) onBrokenPipe(launcherGone);
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
