/**
 * All-reduce over a POSIX shared-memory segment for the processes of one machine (what `-g N` uses).
 *
 * Segment layout: a 4 KiB control header (barrier words, config check, per-rank pid and call records), then
 * N input slots of one bucket each, then one output bucket. `allReduceMean` streams the concatenated
 * buffers through it bucket by bucket (4 MiB by default), reduce-scatter style:
 *   1. each rank copies its part of the bucket into its own slot;          barrier "in"
 *   2. rank r sums slice r (1/N of the bucket) over all slots into output;  barrier "reduced"
 *   3. every rank copies the whole output bucket back into its buffers.
 * Step 1 of the next bucket may start right after the second barrier: the slots are no longer read, and the
 * output is only rewritten after the next "in" barrier, which every rank reaches after its copy-out.
 *
 * The barrier is a generation (sense-reversing) barrier on futex words: the last rank to arrive resets the
 * counter and bumps the generation; the others spin briefly, then sleep on the generation word with a
 * nonblocking FFI futex call (the event loop stays free). Every wait has a deadline, checks an abort flag set
 * by failing ranks and whether peer processes are still alive, and fails with an error that names this rank,
 * the barrier and the ranks that did not arrive.
 *
 * @module
 */
import { type AllReduce, forEachPiece, totalLength } from "./allreduce.ts";
import { processAlive, SharedSegment } from "./shm.ts";

/** Options of {@linkcode ShmAllReduce.open}. */
export interface ShmAllReduceOptions {
  /** This process's rank. */
  rank: number;
  /** Number of processes. */
  worldSize: number;
  /** Segment name shared by all ranks (the launcher's MASTER variable). */
  name: string;
  /** Bucket size in bytes (default 4 MiB); every rank must pass the same value. */
  bucketBytes?: number;
  /** Longest wait in any barrier before failing, ms (default 1 hour: rank 0 may be checkpointing). */
  timeoutMs?: number;
  /** Busy-wait this long before sleeping in a barrier, ms (default 0.5 with a core per rank, else 0.02). */
  spinMs?: number;
}

/** Default bucket size: 4 MiB (measured fastest on the 2-core CI machine: 3 × 4 MiB stay in its 32 MiB L3). */
export const DEFAULT_BUCKET_BYTES: number = 4 << 20;
/** Default barrier timeout: one hour. */
export const DEFAULT_TIMEOUT_MS: number = 3_600_000;
/** Largest world size the control header has room for. */
export const MAX_WORLD_SIZE: number = 64;

const HEADER_BYTES = 4096;
// Int32 indices into the header; hot words sit on their own 64-byte lines.
const GEN = 0; // barrier generation (futex word)
const COUNT = 16; // ranks arrived at the current barrier
const ABORT = 32; // 1 + rank of the first rank that failed, 0 while healthy
const CFG_WORLD = 48; // world size, set by the first rank (config check)
const CFG_BUCKET = 49; // bucket bytes, set by the first rank
const PID = 64; // PID + r: process id of rank r
const ARRIVED = 128; // ARRIVED + r: number of the last barrier rank r arrived at
const CALL_F64 = 128; // Float64 index: CALL_F64 + 2r = op code of rank r's current call, + 1 = its length
const OP_ALLREDUCE = 1;
const OP_BROADCAST = 2;

/** Shared-memory implementation of {@linkcode AllReduce}. Create with {@linkcode ShmAllReduce.open}. */
export class ShmAllReduce implements AllReduce {
  /** This process's rank. */
  readonly rank: number;
  /** Number of processes. */
  readonly worldSize: number;
  /** "shm". */
  readonly kind = "shm";
  /** Bucket size in float32 elements. */
  readonly bucketElements: number;
  #segment: SharedSegment;
  #ctl: Int32Array;
  #calls: Float64Array;
  #slots: Float32Array[];
  #output: Float32Array;
  #timeoutMs: number;
  #spinMs: number;
  #barriers = 0;
  #closed = false;
  #busy: string | null = null;

  private constructor(o: Required<ShmAllReduceOptions>, segment: SharedSegment) {
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.bucketElements = o.bucketBytes / 4;
    this.#segment = segment;
    this.#timeoutMs = o.timeoutMs;
    this.#spinMs = o.spinMs;
    this.#ctl = new Int32Array(segment.buffer, 0, HEADER_BYTES / 4);
    this.#calls = new Float64Array(segment.buffer, 0, HEADER_BYTES / 8);
    this.#slots = Array.from(
      { length: o.worldSize },
      (_, r) => new Float32Array(segment.buffer, HEADER_BYTES + r * o.bucketBytes, this.bucketElements),
    );
    this.#output = new Float32Array(
      segment.buffer,
      HEADER_BYTES + o.worldSize * o.bucketBytes,
      this.bucketElements,
    );
  }

  /** Bytes of the segment for a world size and bucket size. */
  static segmentBytes(worldSize: number, bucketBytes: number = DEFAULT_BUCKET_BYTES): number {
    return HEADER_BYTES + (worldSize + 1) * bucketBytes;
  }

  /**
   * Maps the segment (creating it if this rank is first), checks that every rank agrees on world size and
   * bucket size, and waits for all ranks to join. Rank 0 then unlinks the name, so nothing is left in
   * /dev/shm whatever happens later.
   */
  static async open(options: ShmAllReduceOptions): Promise<ShmAllReduce> {
    const o: Required<ShmAllReduceOptions> = {
      rank: options.rank,
      worldSize: options.worldSize,
      name: options.name,
      bucketBytes: options.bucketBytes ?? DEFAULT_BUCKET_BYTES,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      spinMs: options.spinMs ?? (navigator.hardwareConcurrency >= options.worldSize ? 0.5 : 0.02),
    };
    const { rank, worldSize, bucketBytes } = o;
    if (!Number.isInteger(worldSize) || worldSize < 1 || worldSize > MAX_WORLD_SIZE) {
      throw new Error(`shm all-reduce: world size ${worldSize} must be an integer in [1, ${MAX_WORLD_SIZE}]`);
    }
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new Error(`shm all-reduce: rank ${rank} out of range for world size ${worldSize}`);
    }
    if (
      !Number.isInteger(bucketBytes) || bucketBytes < 1024 || bucketBytes % 64 !== 0 || bucketBytes > 2 ** 30
    ) {
      throw new Error(
        `shm all-reduce: bucket size ${bucketBytes} must be a multiple of 64 in [1 KiB, 1 GiB]`,
      );
    }
    const segment = SharedSegment.open(o.name, ShmAllReduce.segmentBytes(worldSize, bucketBytes));
    const self = new ShmAllReduce(o, segment);
    const ctl = self.#ctl;
    const world = Atomics.compareExchange(ctl, CFG_WORLD, 0, worldSize) || worldSize;
    const bucket = Atomics.compareExchange(ctl, CFG_BUCKET, 0, bucketBytes) || bucketBytes;
    if (world !== worldSize || bucket !== bucketBytes) {
      segment.close();
      throw new Error(
        `shm all-reduce: rank ${rank} opened "${segment.name}" with world size ${worldSize} and bucket ` +
          `${bucketBytes} B, but another rank used world size ${world} and bucket ${bucket} B`,
      );
    }
    Atomics.store(ctl, PID + rank, Deno.pid);
    try {
      await self.#wait("init");
    } catch (e) {
      segment.close();
      throw e;
    }
    if (rank === 0) SharedSegment.unlink(segment.name);
    return self;
  }

  /** Generation barrier with a deadline; see the module comment. */
  barrier(name = "barrier"): Promise<void> {
    return this.#exclusive(name, () => this.#wait(name));
  }

  async #wait(name: string): Promise<void> {
    this.#checkAbort(name);
    const ctl = this.#ctl, n = this.worldSize;
    const seq = ++this.#barriers;
    Atomics.store(ctl, ARRIVED + this.rank, seq);
    const gen = Atomics.load(ctl, GEN);
    if (Atomics.add(ctl, COUNT, 1) === n - 1) {
      Atomics.store(ctl, COUNT, 0);
      Atomics.add(ctl, GEN, 1);
      this.#segment.wake(GEN * 4);
      return;
    }
    const t0 = performance.now();
    for (let i = 1; Atomics.load(ctl, GEN) === gen; i++) {
      if ((i & 255) === 0 && performance.now() - t0 > this.#spinMs) break;
    }
    const deadline = t0 + this.#timeoutMs;
    let lastPeerCheck = t0;
    while (Atomics.load(ctl, GEN) === gen) {
      this.#checkAbort(name);
      const now = performance.now();
      if (now >= deadline) this.#fail(name, seq, `timed out after ${(this.#timeoutMs / 1000).toFixed(1)} s`);
      if (now - lastPeerCheck >= 1000) {
        lastPeerCheck = now;
        this.#checkPeers(name, seq);
      }
      await this.#segment.waitAsync(GEN * 4, gen, Math.min(deadline - now, 1000));
    }
  }

  /** Mean over ranks, in place, bucket by bucket (see the module comment). */
  allReduceMean(buffers: Float32Array[]): Promise<void> {
    return this.#exclusive("allReduceMean", () => this.#allReduceMean(buffers));
  }

  async #allReduceMean(buffers: Float32Array[]): Promise<void> {
    const total = totalLength(buffers);
    this.#announce(OP_ALLREDUCE, total);
    if (this.worldSize === 1) return;
    const n = this.worldSize, inv = 1 / n, slot = this.#slots[this.rank], out = this.#output;
    if (total === 0) {
      await this.#wait("allReduceMean/in");
      this.#checkCalls("allReduceMean");
      return;
    }
    for (let start = 0, first = true; start < total; start += this.bucketElements, first = false) {
      const count = Math.min(this.bucketElements, total - start);
      forEachPiece(buffers, start, count, (b, from, to, at) => slot.set(b.subarray(from, to), at));
      await this.#wait("allReduceMean/in");
      if (first) this.#checkCalls("allReduceMean");
      // Slices are multiples of 16 elements (64 B) so that neighbouring ranks never write the same cache line.
      const slice = Math.ceil(count / n / 16) * 16;
      const lo = Math.min(count, this.rank * slice), hi = Math.min(count, lo + slice);
      reduceMean(this.#slots, out, lo, hi, inv);
      await this.#wait("allReduceMean/reduced");
      forEachPiece(buffers, start, count, (b, from, to, at) => b.set(out.subarray(at, at + to - from), from));
    }
  }

  /** Root's values to every rank, in place, bucket by bucket through the root's slot. */
  broadcast(buffers: Float32Array[], root = 0): Promise<void> {
    return this.#exclusive("broadcast", () => this.#broadcast(buffers, root));
  }

  async #broadcast(buffers: Float32Array[], root: number): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      throw new Error(
        `broadcast: root ${root} out of range for world size ${this.worldSize} (rank ${this.rank})`,
      );
    }
    const total = totalLength(buffers);
    this.#announce(OP_BROADCAST + 4 * root, total); // the root is part of the call: ranks must agree on it
    if (this.worldSize === 1) return;
    const slot = this.#slots[root];
    let start = 0, first = true;
    do {
      const count = Math.min(this.bucketElements, total - start);
      if (this.rank === root) {
        forEachPiece(buffers, start, count, (b, from, to, at) => slot.set(b.subarray(from, to), at));
      }
      await this.#wait("broadcast/written");
      if (first) this.#checkCalls("broadcast");
      if (this.rank !== root) {
        forEachPiece(
          buffers,
          start,
          count,
          (b, from, to, at) => b.set(slot.subarray(at, at + to - from), from),
        );
      }
      // The root's slot is rewritten by the next bucket or the next all-reduce: wait until everyone has read it.
      await this.#wait("broadcast/read");
      start += this.bucketElements;
      first = false;
    } while (start < total);
  }

  /** Unmaps the segment. Does not synchronise: call `barrier()` first if peers may still need this rank. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#segment.close();
    }
    return Promise.resolve();
  }

  /** Marks the job as failed so that peers stop waiting; used on errors and timeouts. */
  abort(): void {
    if (this.#closed) return;
    Atomics.compareExchange(this.#ctl, ABORT, 0, this.rank + 1);
    this.#segment.wake(GEN * 4);
  }

  /** Runs one collective; they must not overlap (every rank must see the same sequence). */
  async #exclusive(what: string, fn: () => Promise<void>): Promise<void> {
    if (this.#closed) throw new Error(`${what}: rank ${this.rank}: the shm all-reduce is closed`);
    if (this.#busy) {
      throw new Error(
        `${what}: rank ${this.rank}: called while ${this.#busy} is still running (await each collective)`,
      );
    }
    this.#busy = what;
    try {
      await fn();
    } finally {
      this.#busy = null;
    }
  }

  #announce(op: number, length: number): void {
    this.#calls[CALL_F64 + 2 * this.rank] = op;
    this.#calls[CALL_F64 + 2 * this.rank + 1] = length;
  }

  /** After the first barrier of a call: every rank must be in the same collective with the same length. */
  #checkCalls(what: string): void {
    const mine = this.#calls[CALL_F64 + 2 * this.rank], length = this.#calls[CALL_F64 + 2 * this.rank + 1];
    const bad: string[] = [];
    for (let r = 0; r < this.worldSize; r++) {
      const op = this.#calls[CALL_F64 + 2 * r], len = this.#calls[CALL_F64 + 2 * r + 1];
      if (op !== mine || len !== length) {
        bad.push(`rank ${r}: ${describeCall(op)} of ${len}`);
      }
    }
    if (bad.length > 0) {
      this.abort();
      throw new Error(
        `${what}: rank ${this.rank} called ${describeCall(mine)} with ${length} elements but ${
          bad.join(", ")
        } ` +
          `(every rank must make the same collective calls with the same total length)`,
      );
    }
  }

  #checkAbort(name: string): void {
    const who = Atomics.load(this.#ctl, ABORT);
    if (who !== 0) {
      throw new Error(`rank ${this.rank}: barrier "${name}" abandoned because rank ${who - 1} failed`);
    }
  }

  #checkPeers(name: string, seq: number): void {
    for (let r = 0; r < this.worldSize; r++) {
      const pid = Atomics.load(this.#ctl, PID + r);
      if (r !== this.rank && pid !== 0 && !processAlive(pid)) {
        this.#fail(name, seq, `rank ${r} (pid ${pid}) has exited`);
      }
    }
  }

  #fail(name: string, seq: number, why: string): never {
    const missing: number[] = [];
    for (let r = 0; r < this.worldSize; r++) if (Atomics.load(this.#ctl, ARRIVED + r) < seq) missing.push(r);
    this.abort();
    throw new Error(
      `rank ${this.rank}/${this.worldSize}: barrier "${name}" (#${seq}) ${why}; ` +
        `rank(s) not arrived: ${missing.length ? missing.join(", ") : "none"}`,
    );
  }
}

/** A call record's op code in words. */
function describeCall(op: number): string {
  return op === OP_ALLREDUCE ? "allReduceMean" : `broadcast from root ${(op - OP_BROADCAST) / 4}`;
}

/** out[lo..hi) = mean over slots of slot[lo..hi). */
function reduceMean(slots: Float32Array[], out: Float32Array, lo: number, hi: number, inv: number): void {
  if (slots.length === 2) {
    const a = slots[0], b = slots[1];
    for (let i = lo; i < hi; i++) out[i] = (a[i] + b[i]) * inv;
    return;
  }
  const a = slots[0];
  for (let i = lo; i < hi; i++) out[i] = a[i];
  for (let k = 1; k < slots.length; k++) {
    const b = slots[k];
    for (let i = lo; i < hi; i++) out[i] += b[i];
  }
  for (let i = lo; i < hi; i++) out[i] *= inv;
}
