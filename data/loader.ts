/**
 * Batches of preprocessed patches: the deterministic prefix of the transform chain runs once per file (memory
 * and/or disk cache), the random rest per fetch; per-epoch shuffling and DDP sharding follow PyTorch's
 * DistributedSampler; batches are assembled ahead of the consumer (async prefetch).
 */
import { VolumeCache } from "./cache.ts";
import { torchRandperm } from "./mt19937.ts";
import { applySteps, loadAndPreprocess } from "./preprocess.ts";
import { specOf } from "./transforms/registry.ts";
import { splitAtFirstRandom, type Transform } from "./transforms/transform.ts";
import type { Volume } from "./volume.ts";

/** Options of {@link distributedIndices} (PyTorch DistributedSampler arguments). */
export interface SamplerOptions {
  /** This process' rank in [0, worldSize). */
  rank?: number;
  /** Number of processes. */
  worldSize?: number;
  /** Shuffle with seed + epoch (default true). */
  shuffle?: boolean;
  /** Base seed (default 0). */
  seed?: number;
  /** Epoch (added to the seed). */
  epoch?: number;
  /** Drop the tail instead of padding. */
  dropLast?: boolean;
}

/**
 * The dataset indices one rank visits in one epoch, with PyTorch `DistributedSampler` semantics: permutation
 * `randperm(n)` from a generator seeded with `seed + epoch` (our MT19937 port of PyTorch's CPU randperm, see
 * `torchRandperm`), padded to a multiple of `worldSize` by repeating from the start (or truncated with
 * `dropLast`), then every `worldSize`-th index starting at `rank`.
 */
export function distributedIndices(n: number, options: SamplerOptions = {}): number[] {
  const { rank = 0, worldSize = 1, shuffle = true, seed = 0, epoch = 0, dropLast = false } = options;
  if (!(Number.isInteger(worldSize) && worldSize >= 1)) {
    throw new Error(`sampler: worldSize must be >= 1, got ${worldSize}`);
  }
  if (!(Number.isInteger(rank) && rank >= 0 && rank < worldSize)) {
    throw new Error(`sampler: rank ${rank} must be in [0, ${worldSize - 1}]`);
  }
  let indices = shuffle ? torchRandperm(n, seed + epoch) : Array.from({ length: n }, (_, i) => i);
  const numSamples = dropLast && n % worldSize !== 0 ? Math.floor(n / worldSize) : Math.ceil(n / worldSize);
  const totalSize = numSamples * worldSize;
  if (!dropLast) {
    const pad = totalSize - indices.length;
    if (pad > 0 && indices.length > 0) {
      const reps: number[] = [];
      while (reps.length < pad) reps.push(...indices);
      indices = indices.concat(reps.slice(0, pad));
    }
  } else indices = indices.slice(0, totalSize);
  const out: number[] = [];
  for (let i = rank; i < totalSize; i += worldSize) out.push(indices[i]);
  return out;
}

/** A batch: channel-first patches stacked to `[B, C, X, Y, Z]` (C-order), with the dataset indices used. */
export interface Batch {
  /** Stacked patches, C-order over `shape`. */
  data: Float32Array;
  /** `[B, C, X, Y, Z]`. */
  shape: [number, number, number, number, number];
  /** Dataset index of each patch. */
  indices: number[];
  /** Affine of each patch. */
  affines: number[][][];
}

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  /** Image files (NIfTI), in dataset order. */
  files: string[];
  /** The whole chain; its deterministic prefix (up to the first random step) is cached. */
  transforms: Transform[];
  /** Patches per batch. */
  batchSize: number;
  /** Shuffle every epoch (seed + epoch), default true. */
  shuffle?: boolean;
  /** Base seed of the per-epoch shuffle (default 0). */
  seed?: number;
  /** This process' rank (default 0). */
  rank?: number;
  /** Number of processes (default 1). */
  worldSize?: number;
  /** Drop the incomplete tail instead of padding/short batches. */
  dropLast?: boolean;
  /** Folder of the on-disk cache (none when omitted). */
  cacheDir?: string;
  /** Keep preprocessed volumes in memory after the first pass (like CacheDataset cache_rate=1), default true. */
  memoryCache?: boolean;
  /** Batches assembled ahead of the consumer, default 2. */
  prefetch?: number;
}

/** Loads, preprocesses, caches and batches a dataset (see {@link DataLoaderOptions}). */
export class DataLoader {
  /** The cached (deterministic) prefix and the per-fetch (random) rest of the chain. */
  readonly deterministic: Transform[];
  /** The per-fetch rest of the chain (from the first random step). */
  readonly randomSteps: Transform[];
  private readonly memory = new Map<number, Volume>();
  private readonly disk: VolumeCache | null;
  private epoch = 0;

  /** Validates the options and splits the chain at its first random step. */
  constructor(readonly options: DataLoaderOptions) {
    if (!(options.batchSize >= 1)) {
      throw new Error(`loader: batchSize must be >= 1, got ${options.batchSize}`);
    }
    const { deterministic, random } = splitAtFirstRandom(options.transforms);
    this.deterministic = deterministic;
    this.randomSteps = random;
    this.disk = options.cacheDir ? new VolumeCache(options.cacheDir) : null;
  }

  /** The disk cache (null without `cacheDir`). */
  get cache(): VolumeCache | null {
    return this.disk;
  }

  /** Sets the epoch used for shuffling (DistributedSampler.set_epoch). */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  /** Dataset indices this rank visits in the current epoch. */
  indices(): number[] {
    const o = this.options;
    return distributedIndices(o.files.length, {
      rank: o.rank,
      worldSize: o.worldSize,
      shuffle: o.shuffle ?? true,
      seed: o.seed ?? 0,
      epoch: this.epoch,
      dropLast: o.dropLast,
    });
  }

  /** Number of batches per epoch on this rank (the last may be smaller unless dropLast). */
  get length(): number {
    const n = this.indices().length;
    return this.options.dropLast
      ? Math.floor(n / this.options.batchSize)
      : Math.ceil(n / this.options.batchSize);
  }

  /** The preprocessed (deterministic-prefix) volume of item `i`, from memory, disk or computed. */
  async preprocessed(i: number): Promise<Volume> {
    const hit = this.memory.get(i);
    if (hit) return hit;
    const file = this.options.files[i];
    const compute = () => loadAndPreprocess(file, this.deterministic);
    let v: Volume;
    try {
      v = this.disk ? await this.disk.getOrCompute(file, this.deterministic, compute) : await compute();
    } catch (e) {
      throw itemError(i, file, (e as Error).message);
    }
    if (this.options.memoryCache ?? true) this.memory.set(i, v);
    return v;
  }

  /**
   * Preprocesses every item once (fills the caches). With `workers > 1` and a disk cache, the files are
   * preprocessed in that many Web Workers in parallel (each writes the disk cache; this thread reads it later).
   */
  async warmup(
    options: { workers?: number; onItem?: (done: number, total: number) => void } = {},
  ): Promise<void> {
    const n = this.options.files.length;
    const workers = Math.min(options.workers ?? 1, n);
    let done = 0;
    if (workers <= 1 || !this.disk) {
      for (let i = 0; i < n; i++) {
        await this.preprocessed(i);
        options.onItem?.(++done, n);
      }
      return;
    }
    const steps = this.deterministic.map(specOf);
    const cacheDir = this.disk.dir;
    let next = 0;
    let failed = false;
    const url = new URL("./preprocess_worker.ts", import.meta.url).href;
    const runWorker = async () => {
      const w = new Worker(url, { type: "module" });
      try {
        while (next < n && !failed) {
          const i = next++;
          const file = this.options.files[i];
          const reply = await new Promise<{ ok: boolean; error?: string }>((resolve, reject) => {
            w.onmessage = (ev) => resolve(ev.data);
            w.onerror = (ev) => {
              ev.preventDefault();
              reject(new Error(ev.message));
            };
            w.postMessage({ id: i, file, steps, cacheDir });
          });
          if (!reply.ok) {
            failed = true;
            throw itemError(i, file, reply.error ?? "failed");
          }
          options.onItem?.(++done, n);
        }
      } finally {
        w.terminate();
      }
    };
    // Wait for every worker (none is left writing) before reporting the first failure.
    const results = await Promise.allSettled(Array.from({ length: workers }, runWorker));
    const rejected = results.find((r) => r.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
  }

  /** One sample: the cached volume through the random steps (each call consumes their random streams). */
  async sample(i: number): Promise<Volume> {
    const v = await this.preprocessed(i);
    if (!this.randomSteps.length) return v;
    try {
      return applySteps(this.options.files[i], this.randomSteps, v);
    } catch (e) {
      throw itemError(i, this.options.files[i], (e as Error).message);
    }
  }

  /** Builds one batch from dataset indices (samples fetched in order). */
  private async assemble(ids: number[]): Promise<Batch> {
    const vols: Volume[] = [];
    for (const i of ids) vols.push(await this.sample(i));
    const shape = vols[0].shape;
    for (let k = 1; k < vols.length; k++) {
      if (vols[k].shape.some((s, a) => s !== shape[a])) {
        throw new Error(
          `loader: cannot batch item ${ids[k]} of shape [${vols[k].shape}] with item ${
            ids[0]
          } of shape [${shape}] (add a crop)`,
        );
      }
    }
    const per = vols[0].data.length;
    const data = new Float32Array(per * vols.length);
    vols.forEach((v, k) => data.set(v.data, k * per));
    return { data, shape: [vols.length, ...shape], indices: ids, affines: vols.map((v) => v.affine) };
  }

  /** Yields the batches of the current epoch (then advances nothing: call setEpoch), assembling `prefetch` ahead. */
  async *batches(): AsyncGenerator<Batch> {
    const order = this.indices();
    const bs = this.options.batchSize;
    const groups: number[][] = [];
    for (let s = 0; s < order.length; s += bs) {
      const g = order.slice(s, s + bs);
      if (g.length < bs && this.options.dropLast) break;
      groups.push(g);
    }
    const ahead = Math.max(1, this.options.prefetch ?? 2);
    // Batches are assembled strictly in order (a chain of promises) so random streams are consumed in fetch order.
    const pending: Promise<Batch>[] = [];
    let last: Promise<unknown> = Promise.resolve();
    let next = 0;
    const schedule = () => {
      const g = groups[next++];
      const p = last.then(() => this.assemble(g));
      last = p.catch(() => {});
      pending.push(p);
    };
    while (next < groups.length && pending.length < ahead) schedule();
    while (pending.length) {
      const b = await pending.shift()!;
      if (next < groups.length) schedule();
      yield b;
    }
  }
}

/** The error of one dataset item; the file is named once (most messages from below already name it). */
function itemError(i: number, file: string, message: string): Error {
  return new Error(
    message.includes(file) ? `loader: item ${i}: ${message}` : `loader: item ${i} ('${file}'): ${message}`,
  );
}
