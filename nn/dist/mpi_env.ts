/**
 * The environment `mpirun` is started with, shared by the launcher and the MPI tests and benchmarks.
 *
 * @module
 */

/**
 * Environment for mpirun: allow root (containers), and copy through shared-memory buffers instead of
 * cross-process reads (CMA), which container seccomp profiles often forbid; it was also faster here (24 vs 31 ms
 * for 100 MB on 2 ranks). Variables already set by the user win (read when called, so this module loads
 * without Deno).
 */
export function mpiEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries({
      OMPI_ALLOW_RUN_AS_ROOT: "1",
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
      OMPI_MCA_btl_vader_single_copy_mechanism: "none",
    }).filter(([k]) => Deno.env.get(k) === undefined),
  );
}
