/**
 * Picks the transport of a training process from its environment: `mpirun` (or `--dist mpi`) → Open MPI;
 * `WORLD_SIZE > 1` from `cli/launch.ts` → shared memory named by `MASTER`; otherwise a single process.
 *
 * @module
 */
import { type AllReduce, SingleProcess } from "./allreduce.ts";
import { MpiAllReduce } from "./allreduce_mpi.ts";
import { ShmAllReduce } from "./allreduce_shm.ts";

/** Which transport to use; "auto" decides from the environment. */
export type DistKind = "auto" | "shm" | "mpi";

/** Environment variables the launcher sets for every rank. */
export const ENV: {
  readonly rank: "RANK";
  readonly worldSize: "WORLD_SIZE";
  readonly localRank: "LOCAL_RANK";
  readonly master: "MASTER";
} = {
  rank: "RANK",
  worldSize: "WORLD_SIZE",
  localRank: "LOCAL_RANK",
  master: "MASTER",
};

/** Overrides the default collective timeout (seconds); the reference's process group used 36,000 s. */
export const TIMEOUT_ENV: string = "LDM3D_DIST_TIMEOUT_S";

/** Options of {@linkcode initDistributed}. */
export interface InitDistributedOptions {
  /** Transport (default "auto"). */
  dist?: DistKind;
  /** Environment to read (default Deno.env). */
  env?: { get(name: string): string | undefined };
  /** Bucket size in bytes (default 4 MiB). */
  bucketBytes?: number;
  /** Barrier/collective timeout in ms (default: LDM3D_DIST_TIMEOUT_S seconds if set, else 1 hour). */
  timeoutMs?: number;
}

/** Rank, world size and local rank as the launcher (or mpirun) set them; 0/1/0 when unset. */
export function rankFromEnv(env: { get(name: string): string | undefined } = Deno.env): {
  rank: number;
  worldSize: number;
  localRank: number;
} {
  const int = (names: string[], fallback: number) => {
    for (const name of names) {
      const v = env.get(name);
      if (v === undefined || v === "") continue;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) {
        throw new Error(`distributed: ${name}=${v} is not a non-negative integer`);
      }
      return n;
    }
    return fallback;
  };
  const worldSize = int([ENV.worldSize, "OMPI_COMM_WORLD_SIZE"], 1);
  const rank = int([ENV.rank, "OMPI_COMM_WORLD_RANK"], 0);
  const localRank = int([ENV.localRank, "OMPI_COMM_WORLD_LOCAL_RANK"], rank);
  if (worldSize < 1 || rank >= worldSize) {
    throw new Error(`distributed: rank ${rank} out of range for world size ${worldSize}`);
  }
  return { rank, worldSize, localRank };
}

/** Creates this process's {@linkcode AllReduce} (joining the other ranks) as the environment says. */
export async function initDistributed(options: InitDistributedOptions = {}): Promise<AllReduce> {
  const env = options.env ?? Deno.env;
  const dist = options.dist ?? "auto";
  const timeoutS = env.get(TIMEOUT_ENV);
  if (options.timeoutMs === undefined && timeoutS !== undefined) {
    if (!(Number(timeoutS) > 0)) {
      throw new Error(`distributed: ${TIMEOUT_ENV}=${timeoutS} must be a positive number of seconds`);
    }
    options = { ...options, timeoutMs: Number(timeoutS) * 1000 };
  }
  if (dist === "mpi" || (dist === "auto" && MpiAllReduce.launchedByMpirun(env))) {
    return await MpiAllReduce.init({ bucketBytes: options.bucketBytes, timeoutMs: options.timeoutMs });
  }
  const { rank, worldSize } = rankFromEnv(env);
  if (worldSize === 1) return new SingleProcess();
  const name = env.get(ENV.master);
  if (!name) {
    throw new Error(
      `distributed: WORLD_SIZE=${worldSize} but ${ENV.master} (the shared segment name) is unset; start with cli/launch.ts`,
    );
  }
  return await ShmAllReduce.open({
    rank,
    worldSize,
    name,
    bucketBytes: options.bucketBytes,
    timeoutMs: options.timeoutMs,
  });
}
