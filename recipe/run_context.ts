/**
 * What the training commands share: the dataset files, batch upload, logging (progress + TensorBoard,
 * rank 0 only), loss bookkeeping with one readback per logging interval, NaN guard (interrupts: `recipe/stop.ts`).
 */
import { join } from "pathe";
import { decathlonDatalist, prepareDecathlon } from "../data/mod.ts";
import type { Batch } from "../data/mod.ts";
import * as T from "../tensor/mod.ts";
import { TfEventWriter } from "./tfevents.ts";
import { referenceSlicePngs } from "./reference_slices.ts";

/** Training and validation image files of the Decathlon task under `dataBaseDir` (downloaded on request). */
export async function datasetFiles(
  dataBaseDir: string,
  download: boolean,
  log: (s: string) => void = console.log,
): Promise<{ taskDir: string; train: string[]; val: string[] }> {
  let lastPct = -1;
  const taskDir = await prepareDecathlon(dataBaseDir, {
    download,
    onProgress: (p) => {
      const pct = p.total ? Math.floor((100 * p.received) / p.total) : -1;
      if (pct !== lastPct && pct % 5 === 0) {
        log(`download: ${pct}% (${(p.received / 2 ** 20).toFixed(0)} MiB)`);
      }
      lastPct = pct;
    },
  });
  const train = (await decathlonDatalist(taskDir, "training")).map((d) => d.image);
  const val = (await decathlonDatalist(taskDir, "validation")).map((d) => d.image);
  if (train.length === 0) {
    throw new Error(`dataset: no training images listed in ${join(taskDir, "dataset.json")}`);
  }
  return { taskDir, train, val };
}

/** Uploads a loader batch as a [B, C, X, Y, Z] float32 tensor. */
export function batchTensor(b: Batch): T.Tensor {
  return T.tensor(b.data, b.shape);
}

/** Scalars and images to TensorBoard (rank 0 only; a no-op elsewhere or without a path). */
export class RunLog {
  readonly writer: TfEventWriter | null;
  constructor(dir: string | null, readonly rank = 0) {
    this.writer = dir && rank === 0 ? new TfEventWriter(dir) : null;
  }
  /** Logs a scalar. */
  scalar(tag: string, value: number, step: number): void {
    this.writer?.addScalar(tag, value, step);
  }
  /** Logs the centre slices of a [X, Y, Z] volume as the reference does: `<tag>_0`, `<tag>_1`, `<tag>_2`. */
  slices(tag: string, data: Float32Array, shape: [number, number, number], step: number): void {
    if (!this.writer) return;
    referenceSlicePngs(data, shape).forEach((img, axis) => {
      this.writer?.addImage(`${tag}_${axis}`, img.png, img.height, img.width, step, 1);
    });
  }
  /** Flushes and closes the event file. */
  close(): void {
    this.writer?.close();
  }
}

/**
 * Keeps named device scalars of recent steps and reads them back together (one sync) when asked; checks
 * every value is finite and names the step and term otherwise.
 */
export class LossBook {
  #pending: { step: number; terms: Record<string, T.Tensor> }[] = [];
  /** Records one step's terms (the book takes ownership and disposes them). */
  add(step: number, terms: Record<string, T.Tensor | null>): void {
    const kept: Record<string, T.Tensor> = {};
    for (const [k, v] of Object.entries(terms)) if (v) kept[k] = v;
    this.#pending.push({ step, terms: kept });
  }
  /** Reads everything recorded since the last call: per-step values and per-term means. */
  async read(): Promise<
    { rows: { step: number; values: Record<string, number> }[]; means: Record<string, number> }
  > {
    const rows: { step: number; values: Record<string, number> }[] = [];
    const flat = this.#pending.flatMap((p) => Object.values(p.terms).map((t) => T.reshape(t, [1])));
    const host = flat.length ? await T.concat(flat, 0).data() : new Float32Array(0);
    let k = 0;
    for (const p of this.#pending) {
      const values: Record<string, number> = {};
      for (const name of Object.keys(p.terms)) values[name] = host[k++];
      rows.push({ step: p.step, values });
      for (const t of Object.values(p.terms)) t.dispose();
    }
    for (const t of flat) t.dispose();
    this.#pending = [];
    const sums: Record<string, { s: number; n: number }> = {};
    for (const r of rows) {
      for (const [name, v] of Object.entries(r.values)) {
        if (!Number.isFinite(v)) {
          throw new NonFiniteLossError(
            `non-finite loss at step ${r.step}: ${name} = ${v} (terms: ${JSON.stringify(r.values)}); ` +
              "training stopped, the last good checkpoint is kept",
          );
        }
        sums[name] ??= { s: 0, n: 0 };
        sums[name].s += v;
        sums[name].n++;
      }
    }
    return { rows, means: Object.fromEntries(Object.entries(sums).map(([k2, v]) => [k2, v.s / v.n])) };
  }
}

/** A NaN or Inf loss: training stops without overwriting the last good checkpoint. */
export class NonFiniteLossError extends Error {}

/** Makes sure a folder exists and is writable, with a clear error otherwise. */
export async function ensureWritableDir(dir: string, what: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = join(dir, `.write-test-${Deno.pid}`);
    await Deno.writeFile(probe, new Uint8Array(1));
    await Deno.remove(probe);
  } catch (e) {
    throw new Error(`${what} '${dir}' is not writable: ${(e as Error).message}`);
  }
}
