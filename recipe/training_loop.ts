/**
 * The epoch loop both training commands share: resume position (epoch, step, batches into the epoch),
 * per-epoch loader reseeding, progress lines, loss readback once per logging interval (NaN guard included),
 * validation with best-checkpoint tracking, atomic "last" checkpoints, and a clean stop (Ctrl-C, SIGTERM, the
 * launcher's death; agreed by every rank, see `recipe/stop.ts`) after the step in progress that saves where it
 * stopped.
 */
import type { DataLoader } from "../data/mod.ts";
import type { AllReduce } from "../nn/dist/allreduce.ts";
import type { EnvironmentConfig, TrainConfig } from "./config.ts";
import type { Batch } from "../data/mod.ts";
import { Progress, RunEta } from "./progress.ts";
import { datasetFiles, ensureWritableDir, LossBook } from "./run_context.ts";
import { listenForInterrupts, StopControl } from "./stop.ts";
import { join } from "pathe";
import * as T from "../tensor/mod.ts";
import { removeStaleTempFiles } from "../nn/serialization/atomic.ts";
import { type CheckpointParts, saveCheckpoint } from "../nn/checkpoint.ts";

/** Options every training command takes besides its own. */
export interface TrainingRunOptions {
  config: TrainConfig;
  env: EnvironmentConfig;
  downloadData?: boolean;
  /** Override the config's epoch count. */
  maxEpochs?: number;
  /** Seed of everything random (reference: set_determinism(42)). */
  seed?: number;
  /** Steps between loss readbacks (default 10). */
  logEvery?: number;
  rank?: number;
  worldSize?: number;
  /** The process group (cross-rank means of validation losses and the scale factor). */
  comm?: AllReduce | null;
  /** Gradient hook between backward and the optimizer step (multi-process averaging). */
  gradHook?: (params: T.Tensor[]) => Promise<void>;
  /** Stop requests and the ranks' agreement (default: a single process's own, fed by Ctrl-C/SIGTERM). */
  stop?: StopControl;
  log?: (s: string) => void;
}

/** What a finished (or interrupted) training run reports. */
export interface TrainingRunResult {
  epochsDone: number;
  steps: number;
  bestValLoss: number;
  interrupted: boolean;
  lastTrainLoss: number;
}

/** What every training run sets up first: defaults filled in, the device, a writable model_dir, the data. */
export interface RunSetup {
  log: (s: string) => void;
  rank: number;
  worldSize: number;
  seed: number;
  files: { taskDir: string; train: string[]; val: string[] };
  /** Folder of the preprocessed-volume cache. */
  cacheDir: string;
}

/** Fills the defaults, creates the device, checks model_dir, prepares (or downloads) the dataset. */
export async function setupRun(o: TrainingRunOptions): Promise<RunSetup> {
  const log = o.log ?? console.log;
  log(T.backendSummary(await T.init()));
  await ensureWritableDir(o.env.modelDir, "model_dir");
  // Checkpoint writes interrupted by a crash or kill -9 leave full-size temp files behind: clear them.
  if ((o.rank ?? 0) === 0) {
    for (const p of await removeStaleTempFiles(o.env.modelDir)) {
      log(`removed ${p} (left by an interrupted write)`);
    }
  }
  const files = await datasetFiles(o.env.dataBaseDir, !!o.downloadData, log);
  return {
    log,
    rank: o.rank ?? 0,
    worldSize: o.worldSize ?? 1,
    seed: o.seed ?? 42,
    files,
    cacheDir: join(o.env.modelDir, "cache"),
  };
}

/** Where a run stands; saved in checkpoints and restored on resume. */
export interface LoopPosition {
  epoch: number;
  step: number;
  /** Batches of `epoch` already done (a checkpoint written by an interrupt mid-epoch). */
  batchesIntoEpoch: number;
  bestValLoss: number;
}

/** What a command plugs into the loop. */
export interface LoopHooks {
  /** Label of progress lines ("autoencoder", "diffusion"). */
  name: string;
  loader: DataLoader;
  maxEpochs: number;
  valInterval: number;
  logEvery: number;
  /** Rank 0 prints progress. */
  rank: number;
  log: (s: string) => void;
  /** Called at every epoch start (lr schedules, crop reseeding). */
  beforeEpoch?: (epoch: number) => void;
  /** One optimisation step; returns named device scalars (the loop disposes them). */
  trainStep: (batch: Batch, epoch: number, step: number) => Promise<Record<string, T.Tensor | null>>;
  /** Per logging interval: the read-back rows (for TensorBoard); returns the terms shown in the progress line. */
  onLosses: (
    rows: { step: number; values: Record<string, number> }[],
    means: Record<string, number>,
  ) => Record<string, number>;
  /** Validation metric of the epoch (lower is better). */
  validate: (epoch: number) => Promise<number>;
  /** Called after each epoch (previews). */
  afterEpoch?: (epoch: number) => Promise<void>;
  /** Writes a checkpoint: "last" every epoch and on interrupt, "best" on a new best validation metric. */
  save: (which: "last" | "best", position: LoopPosition) => Promise<void>;
  /** Stop requests (default: this process's own, fed by Ctrl-C/SIGTERM while the loop runs). */
  stop?: StopControl;
}

/** How the loop ended. */
export interface LoopResult {
  position: LoopPosition;
  interrupted: boolean;
  /** Mean of the first loss term over the last logging interval. */
  lastTrainLoss: number;
}

/** Runs epochs from `start` to `hooks.maxEpochs` (see the module doc). */
export async function runTrainingLoop(start: LoopPosition, hooks: LoopHooks): Promise<LoopResult> {
  const pos = { ...start };
  const stop = hooks.stop ?? new StopControl();
  const unlisten = listenForInterrupts(stop, hooks.log);
  const book = new LossBook();
  let lastTrainLoss = NaN, interrupted = false;
  // Whole-run ETA beside the per-epoch bar: every epoch left × the loader's steps per epoch.
  const stepsPerEpoch = hooks.loader.length;
  const runEta = new RunEta(
    Math.max(0, (hooks.maxEpochs - pos.epoch) * stepsPerEpoch - pos.batchesIntoEpoch),
  );
  const runStartStep = pos.step;
  // The device work of the previous step: waiting for it keeps the host at most one step ahead, so a stop
  // request (handled by the event loop) lands within a step instead of after a whole queued-up epoch.
  let inFlight: Promise<void> | null = null;
  try {
    for (; pos.epoch < hooks.maxEpochs; pos.epoch++) {
      await stop.settle();
      if (stop.shouldStop) {
        // Asked during validation or previews: the checkpoint of the finished epoch is already written.
        // Epochs in messages count from 1, as in the progress lines: `pos.epoch` epochs are complete.
        hooks.log(
          `interrupted (${stopReason(stop)}): the checkpoint of epoch ${pos.epoch} (step ${pos.step}) is ` +
            `up to date; ${RESUME}`,
        );
        stop.honour();
        interrupted = true;
        break;
      }
      hooks.beforeEpoch?.(pos.epoch);
      hooks.loader.setEpoch(pos.epoch);
      const total = hooks.loader.length;
      const progress = hooks.rank === 0
        ? new Progress({
          total,
          label: `${hooks.name} epoch ${pos.epoch + 1}/${hooks.maxEpochs}`,
          suffix: () => runEta.text(pos.step - runStartStep),
        })
        : null;
      let b = 0;
      for await (const batch of hooks.loader.batches()) {
        // Resuming mid-epoch: the same shuffled order; skipped batches still consume their crop draws.
        if (b < pos.batchesIntoEpoch) {
          b++;
          continue;
        }
        const terms = await hooks.trainStep(batch, pos.epoch, pos.step);
        pos.step++;
        b++;
        book.add(pos.step, terms);
        const queued = T.backend().sync();
        queued.catch(() => {}); // awaited next step (or superseded by the loss readback)
        if (inFlight) await inFlight;
        inFlight = queued;
        // A backend whose sync settles without a macrotask (WASM) would otherwise starve the signal handlers
        // and the launcher watch until the epoch ends.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (pos.step % hooks.logEvery === 0 || b === total) {
          const { rows, means } = await book.read();
          lastTrainLoss = Object.values(means)[0] ?? NaN;
          progress?.update(b, hooks.onLosses(rows, means));
        } else {
          // Between readbacks: the step count moves (slow steps would otherwise leave the line silent).
          progress?.update(b);
        }
        if (stop.shouldStop) break;
      }
      progress?.done();
      if (stop.shouldStop) {
        await book.read();
        const complete = b >= total;
        pos.batchesIntoEpoch = complete ? 0 : b;
        if (complete) pos.epoch++;
        await hooks.save("last", pos);
        stop.honour();
        const n = pos.batchesIntoEpoch;
        const where = n > 0
          ? `${n} batch${n === 1 ? "" : "es"} into epoch ${pos.epoch + 1}`
          : `end of epoch ${pos.epoch}`;
        const why = stopReason(stop);
        hooks.log(`interrupted (${why}): checkpoint written after step ${pos.step} (${where}); ${RESUME}`);
        interrupted = true;
        break;
      }
      pos.batchesIntoEpoch = 0;
      const done = { ...pos, epoch: pos.epoch + 1 };
      if (pos.epoch % hooks.valInterval === 0) {
        const val = await hooks.validate(pos.epoch);
        hooks.log(
          `${hooks.name} epoch ${pos.epoch + 1}: val loss ${val.toFixed(5)} (best ${
            pos.bestValLoss.toFixed(5)
          })`,
        );
        if (val < pos.bestValLoss) {
          pos.bestValLoss = done.bestValLoss = val;
          await hooks.save("best", done);
        }
      }
      await hooks.afterEpoch?.(pos.epoch);
      await hooks.save("last", done);
    }
  } finally {
    unlisten();
  }
  return { position: pos, interrupted, lastTrainLoss };
}

const RESUME = "run again with resume_ckpt to continue";

/** Why the loop stops: this process's own reason, or (on the other ranks) the vote. */
function stopReason(stop: StopControl): string {
  return stop.reason ?? "another rank asked to stop";
}

/** The loop position stored in a checkpoint's info. */
export function positionFrom(
  info: { epoch: number; step: number; extra?: Record<string, unknown> },
  defaultBest: number,
): LoopPosition {
  return {
    epoch: info.epoch,
    step: info.step,
    batchesIntoEpoch: Number(info.extra?.batchesIntoEpoch ?? 0),
    bestValLoss: Number(info.extra?.bestValLoss ?? defaultBest),
  };
}

/**
 * A stage's `save` hook: rank 0 writes `last`/`best` atomically with the loop position (epoch, step, best
 * validation loss, batches into the epoch) followed by the stage's own `extra()`; other ranks write nothing.
 */
export function saveLoopCheckpoint(
  rank: number,
  paths: { last: string; best: string },
  parts: CheckpointParts,
  kind: string,
  configHash: string,
  extra: () => Record<string, unknown>,
): LoopHooks["save"] {
  return (which, p) =>
    rank === 0
      ? saveCheckpoint(paths[which], parts, {
        kind,
        configHash,
        epoch: p.epoch,
        step: p.step,
        extra: { bestValLoss: p.bestValLoss, batchesIntoEpoch: p.batchesIntoEpoch, ...extra() },
      })
      : Promise.resolve();
}

/** The part of a stage's result that comes from its loop. */
export function loopSummary(r: LoopResult): TrainingRunResult {
  return {
    epochsDone: r.position.epoch,
    steps: r.position.step,
    bestValLoss: r.position.bestValLoss,
    interrupted: r.interrupted,
    lastTrainLoss: r.lastTrainLoss,
  };
}
