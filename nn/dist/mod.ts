/**
 * Data-parallel training support (the reference's DDP): the {@linkcode AllReduce} seam with shared-memory
 * ({@linkcode ShmAllReduce}) and Open MPI ({@linkcode MpiAllReduce}) transports, {@linkcode initDistributed}
 * to pick one from the environment the launcher (`cli/launch.ts`) or mpirun set, and GPU pinning per rank
 * (PyTorch-compatible data sharding is `distributedIndices` in data/loader.ts).
 *
 * Wiring into a training step (gradients as host Float32Arrays between backward and the optimizer step):
 *
 * ```ts
 * const comm = await initDistributed();                 // once per process
 * await comm.broadcast(initialWeights);                 // rank 0's initial weights everywhere
 * // gradHook(params): average the gradients of every rank
 * await comm.allReduceMean(gradients);
 * const scale = await meanScalar(comm, localScale);     // scale factor / validation loss (AVG)
 * ```
 *
 * Every rank must make the same collective calls with the same total length (a parameter without a gradient
 * on one rank must still contribute zeros), otherwise the call fails with an error naming the ranks. Ranks are
 * started by `cli/launch.ts` (`-g N`; it pins rank i to GPU i); after creating its device a rank calls
 * `reportGpu(rank, device.description)` so the launcher can check the pinning. Ranks started by mpirun call
 * `pinThisProcess(localRank, localSize)` before their first `requestAdapter`. A rank watches the launcher's
 * pid (`watchLauncher`, the launcher exports it as `LDM3D_LAUNCHER_PID`) to stop cleanly when it dies.
 *
 * @module
 */
export {
  type AllReduce,
  forEachPiece,
  meanScalar,
  meanScalars,
  SingleProcess,
  totalLength,
} from "./allreduce.ts";
export {
  DEFAULT_BUCKET_BYTES,
  DEFAULT_TIMEOUT_MS,
  MAX_WORLD_SIZE,
  ShmAllReduce,
  type ShmAllReduceOptions,
} from "./allreduce_shm.ts";
export { MpiAllReduce, type MpiAllReduceOptions } from "./allreduce_mpi.ts";
export {
  type DistKind,
  ENV,
  initDistributed,
  type InitDistributedOptions,
  rankFromEnv,
  TIMEOUT_ENV,
} from "./init.ts";
export {
  checkGpuReports,
  driPrimeTag,
  formatGpuReport,
  type GpuInfo,
  type GpuLister,
  type GpuReport,
  listGpus,
  listSysfsGpus,
  normalizePci,
  parseGpuReport,
  parseNvidiaSmi,
  PIN_ENV,
  type PinPlan,
  pinThisProcess,
  planGpuPinning,
  reportGpu,
  softwareAdapter,
} from "./gpu_pinning.ts";
export { processAlive, segmentName, SharedSegment } from "./shm.ts";
export {
  LAUNCHER_PID_ENV,
  launcherPidFromEnv,
  type LauncherWatch,
  silenceOutput,
  WATCH_INTERVAL_MS,
  watchLauncher,
} from "./launcher_watch.ts";
export { averageGradients, BUCKET_BYTES, type StopVote } from "./gradient_hook.ts";
export { mpiEnv } from "./mpi_env.ts";
