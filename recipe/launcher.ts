/**
 * Data-parallel launcher (our `torchrun`): `-g N` starts N Deno processes running the same script, each with
 * RANK, LOCAL_RANK, WORLD_SIZE and MASTER (the name of the shared-memory segment `nn/dist` averages gradients
 * through), pinned to one GPU each where the machine has several (Mesa device-select, see
 * `nn/dist/gpu_pinning.ts`). Their output is forwarded line by line as `[rank i] …`. If one rank fails, the
 * others are terminated (SIGTERM, then SIGKILL after a grace period) and the launcher exits with that rank's
 * code and error; nothing is left waiting. On a software adapter LP_NUM_THREADS = cores / N (at least 1) keeps
 * llvmpipe's threads from oversubscribing the cores.
 *
 * Interrupts: the ranks run in their own session, so a terminal's Ctrl-C reaches the launcher only, which
 * forwards SIGINT/SIGTERM to every rank exactly once per signal. The ranks agree to stop after the same step,
 * rank 0 writes one checkpoint, and they exit with 130, which the launcher passes on. A second signal is
 * forwarded too (ranks quit at once) and whatever is left is killed after the grace period. The ranks also
 * know the launcher's pid and stop cleanly on their own when it dies, even by `kill -9`
 * (`nn/dist/launcher_watch.ts`). Under mpirun the interrupt travels as SIGUSR2, which mpirun forwards to its
 * ranks (it would kill them on SIGINT/SIGTERM).
 *
 *     deno run -A cli/launch.ts -g 2 cli/train_autoencoder.ts -c config/config_train_32g.json -e config/environment.json
 *     deno run -A cli/launch.ts -g 2 --dist mpi script.ts …   # same, through mpirun on this machine
 *
 * @module
 */
import {
  checkGpuReports,
  type GpuLister,
  type GpuReport,
  listGpus,
  parseGpuReport,
  planGpuPinning,
  softwareAdapter,
} from "../nn/dist/gpu_pinning.ts";
import { ENV } from "../nn/dist/init.ts";
import { mpiEnv } from "../nn/dist/mpi_env.ts";
import { LAUNCHER_PID_ENV } from "../nn/dist/launcher_watch.ts";
import { INTERRUPTED_EXIT_CODE } from "./stop.ts";

/** Options of {@linkcode launch}. */
export interface LaunchOptions {
  /** Number of processes (ranks). */
  worldSize: number;
  /** Script every rank runs (path or URL). */
  script: string;
  /** Arguments passed to the script. */
  args?: string[];
  /** Extra environment for every rank (added to the launcher's own). */
  env?: Record<string, string>;
  /** Deno arguments before the script (default ["run", "-A"]). */
  denoArgs?: string[];
  /** Transport: "shm" spawns the ranks directly (default); "mpi" runs them under mpirun. */
  dist?: "shm" | "mpi";
  /** Lists the machine's GPUs (default: nvidia-smi + sysfs). Injected by tests. */
  gpuLister?: GpuLister;
  /** Whether the adapter is a software one; probed with WebGPU when undefined. */
  softwareAdapter?: boolean;
  /** Time between SIGTERM and SIGKILL when ending the other ranks, ms (default 5000). */
  killGraceMs?: number;
  /** Aborting interrupts the job: SIGTERM is forwarded to every rank (see the module comment). */
  signal?: AbortSignal;
  /** Forward the launcher's own SIGINT/SIGTERM to the ranks while the job runs (the CLI does). */
  forwardSignals?: boolean;
  /** Receives each output line (already prefixed); default: the launcher's stdout/stderr. */
  output?: (line: string, stream: "stdout" | "stderr") => void;
}

/** How a launched job ended. */
export interface LaunchResult {
  /**
   * 0 when every rank succeeded; else the exit code of the first rank that failed (1 if it had none); 130 when
   * the ranks were interrupted (and none failed otherwise).
   */
  code: number;
  /** The first rank that failed, or null. */
  failedRank: number | null;
  /** What failed: the rank's last stderr lines, or a launcher-detected problem (GPU sharing). */
  error: string | null;
  /** GPU reports received from the ranks. */
  gpus: GpuReport[];
  /** The shared segment name given to the ranks as MASTER. */
  master: string;
}

const TAIL_LINES = 20;

/** Calls `onLine` for every line of a byte stream (the last line even without a newline). */
async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const p of parts) onLine(p);
  }
  if (rest) onLine(rest);
}

/** Number of llvmpipe threads per rank: cores / N, at least 1. */
export function lpThreads(worldSize: number, cores: number = navigator.hardwareConcurrency): number {
  return Math.max(1, Math.floor(cores / worldSize));
}

/** Starts `worldSize` ranks of `script` and waits for all of them; see the module comment. */
export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const n = o.worldSize;
  if (!Number.isInteger(n) || n < 1) throw new Error(`launch: world size ${n} must be a positive integer`);
  const master = `ldm3d-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const write = o.output ?? defaultOutput;
  const software = o.softwareAdapter ?? await softwareAdapter().catch(() => true);
  const plan = planGpuPinning(n, await (o.gpuLister ?? listGpus)(), software);
  if (n > 1) write(`[launch] ${n} ranks; ${plan.note}`, "stderr");
  const common: Record<string, string> = {
    ...o.env,
    [ENV.worldSize]: `${n}`,
    [ENV.master]: master,
    [LAUNCHER_PID_ENV]: `${Deno.pid}`,
  };
  // Ranks write into pipes; keep their (error) output plain unless the launcher itself prints to a terminal.
  if (!Deno.stderr.isTerminal() && Deno.env.get("NO_COLOR") === undefined) common.NO_COLOR = "1";
  if (software && !Deno.env.get("LP_NUM_THREADS") && !o.env?.LP_NUM_THREADS) {
    common.LP_NUM_THREADS = `${lpThreads(n)}`;
  }
  const denoArgs = o.denoArgs ?? ["run", "-A"];
  const mpi = o.dist === "mpi";

  const reports: GpuReport[] = [];
  const tails: string[][] = Array.from({ length: n }, () => []);
  let failedRank: number | null = null, error: string | null = null, code = 0;
  let interrupts = 0, interruptedRanks = 0;
  // The processes the launcher signals: the ranks, or mpirun.
  const children: Deno.ChildProcess[] = [];
  const exited = new Set<number>();
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const signalAll = (signal: Deno.Signal) => {
    for (const [i, c] of children.entries()) {
      if (!exited.has(i)) {
        try {
          c.kill(signal);
        } catch { /* already gone */ }
      }
    }
  };
  const killLater = () => killTimer ??= setTimeout(() => signalAll("SIGKILL"), o.killGraceMs ?? 5000);
  const endOthers = () => {
    signalAll("SIGTERM");
    killLater();
  };
  const fail = (rank: number, rankCode: number, why: string) => {
    if (failedRank !== null) return;
    failedRank = rank;
    code = rankCode || 1;
    error = why;
    write(`[launch] rank ${rank} failed (exit code ${rankCode}); ending the other ranks`, "stderr");
    endOthers();
  };
  const interrupt = (signal: "SIGINT" | "SIGTERM") => {
    interrupts++;
    if (interrupts === 1) {
      write(
        `[launch] ${signal}: the ranks stop after the current step and save a checkpoint (again to quit at once)`,
        "stderr",
      );
      signalAll(mpi ? "SIGUSR2" : signal); // mpirun forwards SIGUSR2; it kills its ranks on SIGINT/SIGTERM
    } else {
      write(`[launch] ${signal} again: the ranks quit now`, "stderr");
      signalAll(signal);
      killLater();
    }
  };
  /** A rank that ended because it was interrupted (its clean stop, or a signal before it could stop cleanly). */
  const wasInterrupted = (s: Deno.CommandStatus) =>
    s.code === INTERRUPTED_EXIT_CODE || s.signal === "SIGINT" ||
    (interrupts > 0 && (s.signal === "SIGTERM" || s.code === 143));

  o.signal?.addEventListener("abort", () => interrupt("SIGTERM"));
  const listeners: [Deno.Signal, () => void][] = o.forwardSignals
    ? (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, () => interrupt(sig)])
    : [];
  for (const [sig, h] of listeners) Deno.addSignalListener(sig, h);

  // `detached`: the children get their own session, so a terminal's Ctrl-C reaches only the launcher.
  const spawn = (cmd: string, args: string[], env: Record<string, string>) =>
    new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped", stdin: "null", detached: true })
      .spawn();

  try {
    if (mpi) {
      // mpirun starts and ends the ranks itself; it tags lines with [jobid,rank] and fails the job if one dies.
      // Ranks learn rank and size from mpirun (OMPI_COMM_WORLD_*); no shared segment is involved.
      delete common[ENV.worldSize];
      delete common[ENV.master];
      const exports = Object.keys(common).flatMap((k) => ["-x", k]);
      const child = spawn("mpirun", [
        "--allow-run-as-root",
        "--oversubscribe",
        "--tag-output",
        "-np",
        `${n}`,
        ...exports,
        Deno.execPath(),
        ...denoArgs,
        o.script,
        ...(o.args ?? []),
      ], { ...mpiEnv(), ...common });
      children.push(child);
      const tail: string[] = [];
      const [status] = await Promise.all([
        child.status.finally(() => exited.add(0)),
        forEachLine(child.stdout, (l) => write(l, "stdout")),
        forEachLine(child.stderr, (l) => {
          write(l, "stderr");
          tail.push(l);
          if (tail.length > TAIL_LINES) tail.shift();
        }),
      ]);
      if (status.success) return { code: 0, failedRank: null, error: null, gpus: [], master };
      if (wasInterrupted(status)) {
        return { code: INTERRUPTED_EXIT_CODE, failedRank: null, error: null, gpus: [], master };
      }
      return { code: status.code || 1, failedRank: null, error: tail.join("\n"), gpus: [], master };
    }

    for (let rank = 0; rank < n; rank++) {
      const env = { ...common, [ENV.rank]: `${rank}`, [ENV.localRank]: `${rank}`, ...plan.env[rank] };
      children.push(spawn(Deno.execPath(), [...denoArgs, o.script, ...(o.args ?? [])], env));
    }
    const streams: Promise<unknown>[] = [];
    await Promise.all(children.map(async (child, rank) => {
      const prefix = `[rank ${rank}] `;
      const output = Promise.all([
        forEachLine(child.stdout, (l) => write(prefix + l, "stdout")),
        forEachLine(child.stderr, (l) => {
          const report = parseGpuReport(l);
          if (report) {
            reports.push(report);
            write(`${prefix}GPU ${report.pin} (${report.adapter})`, "stderr");
            const problem = checkGpuReports(reports, n, plan.gpuCount);
            if (problem) fail(rank, 1, problem);
            return;
          }
          write(prefix + l, "stderr");
          const tail = tails[rank];
          tail.push(l);
          if (tail.length > TAIL_LINES) tail.shift();
        }),
      ]);
      streams.push(output);
      // The exit status decides, not the end of the pipes: a leftover grandchild may hold them open.
      const status = await child.status;
      exited.add(rank);
      if (status.success) return;
      await within(output, 1000); // let the last error lines arrive
      if (wasInterrupted(status)) {
        interruptedRanks++;
        return;
      }
      const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
      fail(rank, status.code, `rank ${rank} ${how}:\n${tails[rank].join("\n")}`);
    }));
    await within(Promise.all(streams), 2000);
  } finally {
    clearTimeout(killTimer);
    for (const [sig, h] of listeners) Deno.removeSignalListener(sig, h);
  }
  try {
    Deno.removeSync(`/dev/shm/${master}`); // normally rank 0 unlinked it already
  } catch { /* gone */ }
  if (failedRank === null && interruptedRanks > 0) code = INTERRUPTED_EXIT_CODE;
  return { code, failedRank, error, gpus: reports, master };
}

/** Waits for `p` at most `ms` milliseconds. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

const encoder = new TextEncoder();
function defaultOutput(line: string, stream: "stdout" | "stderr"): void {
  (stream === "stdout" ? Deno.stdout : Deno.stderr).writeSync(encoder.encode(line + "\n"));
}

/**
 * For training commands: when `gpus > 1` and this process is not already a rank, re-runs the current script
 * under {@linkcode launch} with the same arguments and exits with the job's code; otherwise returns.
 */
export async function launchSelfIfNeeded(gpus: number, options: Partial<LaunchOptions> = {}): Promise<void> {
  if (
    gpus <= 1 || Deno.env.get(ENV.rank) !== undefined || Deno.env.get("OMPI_COMM_WORLD_SIZE") !== undefined
  ) return;
  const result = await launch({
    worldSize: gpus,
    script: Deno.mainModule,
    args: Deno.args,
    forwardSignals: true,
    ...options,
  });
  if (result.error) console.error(`[launch] ${result.error}`);
  Deno.exit(result.code);
}
