/**
 * Interrupts: the training loop honours a stop signal after the step in progress (not after a queued-up
 * epoch) and resumes from its checkpoint; `-g 2` jobs stop on the launcher's SIGINT with one checkpoint and exit
 * 130, and stop on their own when the launcher is killed with -9. Every spawned process is killed in `finally`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticDataset } from "../../data/mod.ts";
import type { Batch, DataLoader } from "../../data/mod.ts";
import { type LoopHooks, type LoopPosition, runTrainingLoop } from "../../recipe/training_loop.ts";
import { StopControl } from "../../recipe/stop.ts";
import { AUTOENCODER_FILES } from "../../recipe/train_autoencoder.ts";
import { readCheckpointInfo } from "../../nn/checkpoint.ts";
import { processAlive } from "../../nn/dist/shm.ts";
import * as T from "../../tensor/mod.ts";

const CONFIG = new URL("./tiny_config.json", import.meta.url).pathname;
const LAUNCH = new URL("../../cli/launch.ts", import.meta.url).pathname;
const TRAIN_AE = new URL("../../cli/train_autoencoder.ts", import.meta.url).pathname;

/** A loader of `n` one-element batches whose values are their positions: which batches ran is visible. */
function fakeLoader(n: number): DataLoader {
  return {
    length: n,
    setEpoch() {},
    async *batches(): AsyncGenerator<Batch> {
      for (let i = 0; i < n; i++) {
        yield { data: Float32Array.of(i), shape: [1, 1, 1, 1, 1], indices: [i], affines: [] } as Batch;
      }
    },
  } as unknown as DataLoader;
}

/** Loop hooks whose step queues real device work (no readback) and records the batches it saw. */
function hooks(loader: DataLoader, seen: number[], saved: LoopPosition[], onStep?: (step: number) => void) {
  const h: LoopHooks = {
    name: "test",
    loader,
    maxEpochs: 2,
    valInterval: 1,
    logEvery: 1000, // no loss readback inside an epoch: only the loop's own bound on queued work helps
    rank: 1, // no progress lines
    log: () => {},
    trainStep: (batch, _epoch, step) => {
      seen.push(batch.data[0]);
      onStep?.(step);
      const loss = T.scope(() => {
        let x = T.randn([192, 192], { seed: 1, stream: "test", step });
        for (let i = 0; i < 6; i++) x = T.tanh(T.matmul(x, x));
        return T.mean(x);
      });
      return Promise.resolve({ loss });
    },
    onLosses: (_rows, means) => means,
    validate: () => Promise.resolve(0),
    save: (which, p) => {
      if (which === "last") saved.push({ ...p });
      return Promise.resolve();
    },
  };
  return h;
}

Deno.test("training loop: a stop request (SIGTERM) mid-epoch stops after the step in progress; resuming runs exactly the rest", async () => {
  await T.init();
  const n = 12, signalAt = 2;
  const seen: number[] = [], saved: LoopPosition[] = [];
  const start: LoopPosition = { epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100 };
  // The stop request a SIGTERM makes (recipe/stop.ts), made directly: a real signal to this process would also
  // reach the training loops of other test files that `deno test --parallel` runs in the same process. Real
  // signals are sent to real processes in the launcher tests below.
  const stop = new StopControl();
  const r = await runTrainingLoop(start, {
    ...hooks(fakeLoader(n), seen, saved, (step) => {
      if (step === signalAt) setTimeout(() => stop.request("SIGTERM"), 0); // a macrotask, as a signal handler
    }),
    stop,
  });
  assert.ok(r.interrupted);
  // The signal arrives during step 2 (0-based); the loop may already have queued step 3, never more.
  assert.ok(
    r.position.step >= signalAt + 1 && r.position.step <= signalAt + 2,
    `stopped after ${r.position.step} steps`,
  );
  assert.equal(saved.length, 1, "one checkpoint");
  assert.deepEqual(saved[0], {
    epoch: 0,
    step: r.position.step,
    batchesIntoEpoch: r.position.step,
    bestValLoss: 100,
  });

  // Resume from that checkpoint: the rest of epoch 0, then all of epoch 1, nothing twice.
  const seenAfter: number[] = [], savedAfter: LoopPosition[] = [];
  const r2 = await runTrainingLoop(saved[0], hooks(fakeLoader(n), seenAfter, savedAfter));
  assert.ok(!r2.interrupted);
  const k = saved[0].batchesIntoEpoch;
  assert.deepEqual(seenAfter, [
    ...Array.from({ length: n - k }, (_, i) => k + i),
    ...Array.from({ length: n }, (_, i) => i),
  ]);
  assert.equal(r2.position.step, 2 * n);
  assert.deepEqual(savedAfter.at(-1), { epoch: 2, step: 2 * n, batchesIntoEpoch: 0, bestValLoss: 0 });
});

Deno.test("training loop: ranks stop only on the agreed vote, not on their own request", async () => {
  await T.init();
  const seen: number[] = [], saved: LoopPosition[] = [];
  const stop = new StopControl(2);
  const h = hooks(fakeLoader(6), seen, saved, (step) => {
    if (step === 1) stop.request("test"); // asked locally: a rank must keep going until the vote says so
    if (step === 3) stop.agree(0.5); // the all-reduced vote of this step: stop after it
  });
  const r = await runTrainingLoop({ epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100 }, {
    ...h,
    stop,
  });
  assert.ok(r.interrupted && stop.honoured);
  assert.equal(r.position.step, 4);
  assert.equal(saved.length, 1);
});

Deno.test("training loop: ranks settle the vote at epoch boundaries: a request during validation costs no extra step", async () => {
  await T.init();
  const seen: number[] = [], saved: LoopPosition[] = [];
  let collectives = 0;
  const stop = new StopControl(2, (vote) => {
    collectives++;
    return Promise.resolve(vote / 2); // the partner votes 0
  });
  const h = hooks(fakeLoader(3), seen, saved);
  const r = await runTrainingLoop({ epoch: 0, step: 0, batchesIntoEpoch: 0, bestValLoss: 100 }, {
    ...h,
    stop,
    validate: () => {
      stop.request("SIGINT");
      return Promise.resolve(1);
    },
  });
  assert.ok(r.interrupted && stop.honoured);
  assert.equal(collectives, 2, "one tiny all-reduce per epoch start");
  assert.deepEqual(seen, [0, 1, 2], "no step of epoch 1");
  assert.deepEqual(
    saved,
    [{ epoch: 1, step: 3, batchesIntoEpoch: 0, bestValLoss: 1 }],
    "the epoch's checkpoint only",
  );
});

// ---- 2-rank jobs through the launcher (subprocesses) ----

/** Pids of the direct children of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e.name));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Pids of every process below `pid` (children, grandchildren, …). */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const queue = [pid]; queue.length;) {
    const kids = childrenOf(queue.shift()!);
    out.push(...kids);
    queue.push(...kids);
  }
  return out;
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

/** A `-g 2` autoencoder job on a tiny synthetic dataset (shared memory, or `mpi`), with its output collected. */
class Job {
  readonly child: Deno.ChildProcess;
  readonly modelDir: string;
  text = "";
  ranks: number[] = [];
  #done: Promise<void>;

  readonly mpi: boolean;

  constructor(dir: string, dist: "shm" | "mpi" = "shm") {
    this.mpi = dist === "mpi";
    this.modelDir = join(dir, "models");
    const env = join(dir, "env.json");
    Deno.writeTextFileSync(
      env,
      JSON.stringify({
        data_base_dir: join(dir, "data"),
        model_dir: this.modelDir,
        tfevent_path: join(dir, "tb"),
        resume_ckpt: true,
      }),
    );
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        LAUNCH,
        "-g",
        "2",
        "--dist",
        dist,
        TRAIN_AE,
        "-c",
        CONFIG,
        "-e",
        env,
        "--epochs",
        "200",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) this.text += chunk;
    };
    this.#done = Promise.all([collect(this.child.stdout), collect(this.child.stderr)]).then(() => {});
  }

  /** Waits for the end of rank 0's first validation (training is running on both ranks), then notes the ranks. */
  async started(): Promise<void> {
    const rank0 = this.mpi
      ? /\[1,0\]<stdout>:autoencoder epoch 1: val loss/
      : /\[rank 0\] autoencoder epoch 1: val loss/;
    const ok = await waitUntil(() => rank0.test(this.text), 240_000);
    assert.ok(ok, `the job did not get through epoch 1:\n${this.text}`);
    // The ranks (and under MPI mpirun, their parent).
    this.ranks = descendantsOf(this.child.pid);
    assert.equal(this.ranks.length, this.mpi ? 3 : 2, `below launcher ${this.child.pid}: ${this.ranks}`);
  }

  /** Output, once both pipes are closed (at most `ms`). */
  async output(ms = 30_000): Promise<string> {
    await Promise.race([this.#done, new Promise((r) => setTimeout(r, ms))]);
    return this.text;
  }

  /** Kills whatever is left (ranks first, also those not noted yet, then the launcher) and waits for it. */
  async cleanup(): Promise<void> {
    const ranks = new Set([...this.ranks, ...descendantsOf(this.child.pid)]);
    for (const pid of [...ranks, this.child.pid]) {
      try {
        if (processAlive(pid)) Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await this.child.status;
    await this.output(5000);
  }
}

/** The RANK a process was started with (from /proc/PID/environ). */
function rankOf(pid: number): number {
  const env = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
  return Number(env.find((e) => e.startsWith("RANK="))!.slice(5));
}

/**
 * The job's output without the notices of the host's graphics stack: where Mesa's libEGL exists but no driver
 * does, every process that probes for a GPU prints "libEGL warning: … failed to open swrast". Not ours to judge.
 */
function ownOutput(text: string): string {
  return text.split("\n").filter((line) => !/libEGL warning:/.test(line)).join("\n");
}

async function tinyDataset(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ldm-interrupt-" });
  await writeSyntheticDataset(join(dir, "data"), {
    numTraining: 6,
    shape: [32, 32, 32],
    spacing: 4,
    seed: 3,
  });
  return dir;
}

Deno.test("launch -g 2: SIGINT to the launcher stops both ranks together, one checkpoint, exit 130, nothing left", async () => {
  const dir = await tinyDataset();
  const job = new Job(dir);
  try {
    await job.started();
    const before = (await readCheckpointInfo(join(job.modelDir, AUTOENCODER_FILES.last)))?.step ?? 0;
    job.child.kill("SIGINT");
    const status = await job.child.status;
    const text = await job.output();
    assert.equal(status.code, 130, text);
    // After the step in progress, or at the epoch boundary if the vote settled there (the epoch's checkpoint).
    const stops = [
      ...text.matchAll(
        /\[rank 0\] interrupted \(SIGINT\): (?:checkpoint written after step (\d+)|the checkpoint of epoch \d+ \(step (\d+)\))/g,
      ),
    ];
    assert.equal(stops.length, 1, text);
    assert.doesNotMatch(ownOutput(text), /failed|error/i);
    const info = (await readCheckpointInfo(join(job.modelDir, AUTOENCODER_FILES.last)))!;
    assert.ok(info.step >= before, `${info.step} < ${before}`);
    assert.equal(Number(stops[0][1] ?? stops[0][2]), info.step, "the checkpoint is where the ranks stopped");
    assert.ok(await waitUntil(() => job.ranks.every((p) => !processAlive(p)), 5000), "a rank is still alive");
  } finally {
    await job.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch -g 2: SIGINT to rank 1 alone stops rank 0 too, through the vote; rank 0 writes the checkpoint", async () => {
  const dir = await tinyDataset();
  const job = new Job(dir);
  try {
    await job.started();
    const rank1 = job.ranks.find((p) => rankOf(p) === 1)!;
    Deno.kill(rank1, "SIGINT");
    const status = await job.child.status;
    const text = await job.output();
    assert.equal(status.code, 130, text);
    const stops = [
      ...text.matchAll(
        /\[rank 0\] interrupted \(another rank asked to stop\): .*(?:after step (\d+)|\(step (\d+)\))/g,
      ),
    ];
    assert.equal(stops.length, 1, text);
    const info = (await readCheckpointInfo(join(job.modelDir, AUTOENCODER_FILES.last)))!;
    assert.equal(Number(stops[0][1] ?? stops[0][2]), info.step, text);
    assert.doesNotMatch(ownOutput(text), /failed|error/i);
  } finally {
    await job.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch -g 2: after kill -9 of the launcher the ranks checkpoint and exit within 10 s", async () => {
  const dir = await tinyDataset();
  const job = new Job(dir);
  try {
    await job.started();
    const path = join(job.modelDir, AUTOENCODER_FILES.last);
    const before = (await readCheckpointInfo(path))?.step ?? 0;
    job.child.kill("SIGKILL");
    const killedAt = Date.now();
    await job.child.status;
    // Noticed within 10 s; then the step in progress and the checkpoint (about a second here), plus margin.
    const gone = await waitUntil(() => job.ranks.every((p) => !processAlive(p)), 20_000);
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(gone, `ranks still alive ${seconds} s after the launcher was killed`);
    const info = (await readCheckpointInfo(path))!;
    assert.ok(info.step >= before);
    assert.ok((await Deno.stat(path)).mtime!.getTime() >= killedAt - 50, "the stop wrote a checkpoint");
  } finally {
    await job.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

const hasMpirun = (() => {
  try {
    return new Deno.Command("mpirun", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "launch -g 2 --dist mpi: SIGINT to the launcher reaches the ranks through mpirun; one checkpoint, exit 130",
  ignore: !hasMpirun,
  fn: async () => {
    const dir = await tinyDataset();
    const job = new Job(dir, "mpi");
    try {
      await job.started();
      job.child.kill("SIGINT");
      const status = await job.child.status;
      const text = await job.output();
      assert.equal(status.code, 130, text);
      const stops = [
        ...text.matchAll(
          /\[1,0\]<stdout>:interrupted \(SIGINT via mpirun\): .*(?:after step (\d+)|\(step (\d+)\))/g,
        ),
      ];
      assert.equal(stops.length, 1, text);
      const info = (await readCheckpointInfo(join(job.modelDir, AUTOENCODER_FILES.last)))!;
      assert.equal(Number(stops[0][1] ?? stops[0][2]), info.step, text);
      assert.ok(
        await waitUntil(() => job.ranks.every((p) => !processAlive(p)), 5000),
        "a process is still alive",
      );
    } finally {
      await job.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
