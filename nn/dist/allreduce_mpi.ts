/**
 * {@linkcode AllReduce} over Open MPI through Deno FFI, for jobs started by `mpirun` (one machine or many):
 *
 *     mpirun --allow-run-as-root -np 2 deno run -A cli/train_autoencoder.ts ... --dist mpi
 *
 * `libmpi.so` is first loaded with libc `dlopen(RTLD_NOW | RTLD_GLOBAL)` so that the plugins Open MPI loads
 * later (transports, PMIx) resolve their references to it; then Deno binds the functions. Open MPI's handles
 * (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`) are the addresses of exported objects (`ompi_mpi_comm_world`,
 * …), and `MPI_IN_PLACE` is `(void *) 1`. Collectives run as nonblocking FFI calls on a helper thread when MPI
 * grants `MPI_THREAD_SERIALIZED` (the event loop stays free; only one call is in flight at a time), otherwise
 * synchronously. Buffers are reduced in place, bucket by bucket: a bucket that lies inside one array is passed
 * directly, small arrays are packed into a staging bucket first.
 *
 * Needs Debian `openmpi-bin` + `libopenmpi3` (Open MPI 4.1). Other MPI implementations have other ABIs.
 *
 * @module
 */
import { type AllReduce, forEachPiece, totalLength } from "./allreduce.ts";
import { DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_MS } from "./allreduce_shm.ts";

const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const MPI_THREAD_SERIALIZED = 2;
/** Names tried in order when no path is given. */
const LIBRARY_NAMES = ["libmpi.so.40", "libmpi.so"];

const MPI_SYMBOLS = {
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Error_string: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  MPI_Allreduce: { parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"], result: "i32" },
  MPI_Bcast: { parameters: ["buffer", "i32", "pointer", "i32", "pointer"], result: "i32" },
  MPI_Barrier: { parameters: ["pointer"], result: "i32" },
  allreduce_async: {
    name: "MPI_Allreduce",
    parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  bcast_async: {
    name: "MPI_Bcast",
    parameters: ["buffer", "i32", "pointer", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  barrier_async: { name: "MPI_Barrier", parameters: ["pointer"], result: "i32", nonblocking: true },
} as const;

type Mpi = Deno.DynamicLibrary<typeof MPI_SYMBOLS>["symbols"];

/** Open MPI's global handles. */
interface Handles {
  world: Deno.PointerObject;
  float: Deno.PointerObject;
  sum: Deno.PointerObject;
}

/** Options of {@linkcode MpiAllReduce.init}. */
export interface MpiAllReduceOptions {
  /** Path or soname of libmpi (default: libmpi.so.40, then libmpi.so). */
  library?: string;
  /** Staging bucket size in bytes for packed small arrays (default 4 MiB). */
  bucketBytes?: number;
  /** Longest wait in a collective before failing, ms (default 1 hour). */
  timeoutMs?: number;
}

/** Loads `path` globally through libc so that Open MPI's plugins can resolve libmpi's symbols. */
function loadGlobal(
  path: string,
): { handle: Deno.PointerObject; dlsym: (name: string) => Deno.PointerObject | null } {
  const libc = Deno.dlopen("libc.so.6", {
    dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
    dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
    dlerror: { parameters: [], result: "pointer" },
  }).symbols;
  const cstr = (s: string) => new TextEncoder().encode(s + "\0");
  const handle = libc.dlopen(cstr(path), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const err = libc.dlerror();
    throw new Error(`dlopen ${path}: ${err ? Deno.UnsafePointerView.getCString(err) : "failed"}`);
  }
  return { handle, dlsym: (name) => libc.dlsym(handle, cstr(name)) };
}

/** Open MPI implementation of {@linkcode AllReduce}. Create with {@linkcode MpiAllReduce.init}. */
export class MpiAllReduce implements AllReduce {
  /** Rank in MPI_COMM_WORLD. */
  readonly rank: number;
  /** Size of MPI_COMM_WORLD. */
  readonly worldSize: number;
  /** "mpi". */
  readonly kind = "mpi";
  /** Whether collectives run off the JS thread (MPI granted MPI_THREAD_SERIALIZED). */
  readonly nonblocking: boolean;
  #mpi: Mpi;
  #h: Handles;
  #staging: Float32Array;
  #timeoutMs: number;
  #closed = false;
  #busy: string | null = null;
  #barriers = 0;

  private constructor(
    mpi: Mpi,
    h: Handles,
    rank: number,
    worldSize: number,
    nonblocking: boolean,
    o: MpiAllReduceOptions,
  ) {
    this.#mpi = mpi;
    this.#h = h;
    this.rank = rank;
    this.worldSize = worldSize;
    this.nonblocking = nonblocking;
    this.#staging = new Float32Array((o.bucketBytes ?? DEFAULT_BUCKET_BYTES) / 4);
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** True when this process was started by Open MPI's `mpirun` (its environment variables are present). */
  static launchedByMpirun(env: { get(name: string): string | undefined } = Deno.env): boolean {
    return env.get("OMPI_COMM_WORLD_SIZE") !== undefined;
  }

  /** Loads libmpi, calls MPI_Init_thread and reads rank and size of MPI_COMM_WORLD. Once per process. */
  static init(options: MpiAllReduceOptions = {}): Promise<MpiAllReduce> {
    const names = options.library ? [options.library] : LIBRARY_NAMES;
    let loaded: ReturnType<typeof loadGlobal> | null = null, path = "";
    const errors: string[] = [];
    for (const name of names) {
      try {
        loaded = loadGlobal(name);
        path = name;
        break;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (!loaded) {
      throw new Error(
        `MPI: cannot load Open MPI (${
          errors.join("; ")
        }). Install it: apt-get install openmpi-bin libopenmpi3`,
      );
    }
    const handle = (sym: string) => {
      const p = loaded!.dlsym(sym);
      if (!p) throw new Error(`MPI: ${path} has no symbol ${sym} (is this Open MPI?)`);
      return p;
    };
    const h: Handles = {
      world: handle("ompi_mpi_comm_world"),
      float: handle("ompi_mpi_float"),
      sum: handle("ompi_mpi_op_sum"),
    };
    const mpi = Deno.dlopen(path, MPI_SYMBOLS).symbols;
    const flag = new Int32Array(1);
    mpi.MPI_Initialized(flag);
    let provided = MPI_THREAD_SERIALIZED;
    if (!flag[0]) {
      const p = new Int32Array(1);
      check(mpi, mpi.MPI_Init_thread(null, null, MPI_THREAD_SERIALIZED, p), "MPI_Init_thread");
      provided = p[0];
    }
    const rank = new Int32Array(1), size = new Int32Array(1);
    check(mpi, mpi.MPI_Comm_rank(h.world, rank), "MPI_Comm_rank");
    check(mpi, mpi.MPI_Comm_size(h.world, size), "MPI_Comm_size");
    return Promise.resolve(
      new MpiAllReduce(mpi, h, rank[0], size[0], provided >= MPI_THREAD_SERIALIZED, options),
    );
  }

  /** MPI_Allreduce(MPI_IN_PLACE, SUM) per bucket, then scaled by 1/N. */
  allReduceMean(buffers: Float32Array[]): Promise<void> {
    return this.#exclusive("allReduceMean", () => this.#allReduceMean(buffers));
  }

  async #allReduceMean(buffers: Float32Array[]): Promise<void> {
    if (this.worldSize === 1) return;
    const inv = 1 / this.worldSize;
    await this.#buckets(buffers, "allReduceMean", async (view) => {
      await this.#call(
        "allReduceMean",
        () =>
          this.nonblocking
            ? this.#mpi.allreduce_async(
              inPlace(),
              view,
              view.length,
              this.#h.float,
              this.#h.sum,
              this.#h.world,
            )
            : this.#mpi.MPI_Allreduce(
              inPlace(),
              view,
              view.length,
              this.#h.float,
              this.#h.sum,
              this.#h.world,
            ),
      );
      for (let i = 0; i < view.length; i++) view[i] *= inv;
    });
  }

  /** MPI_Bcast per bucket from `root`. */
  broadcast(buffers: Float32Array[], root = 0): Promise<void> {
    return this.#exclusive("broadcast", () => this.#broadcast(buffers, root));
  }

  async #broadcast(buffers: Float32Array[], root: number): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      throw new Error(
        `broadcast: root ${root} out of range for world size ${this.worldSize} (rank ${this.rank})`,
      );
    }
    if (this.worldSize === 1) return;
    await this.#buckets(
      buffers,
      "broadcast",
      (view) =>
        this.#call(
          "broadcast",
          () =>
            this.nonblocking
              ? this.#mpi.bcast_async(view, view.length, this.#h.float, root, this.#h.world)
              : this.#mpi.MPI_Bcast(view, view.length, this.#h.float, root, this.#h.world),
        ),
      root,
    );
  }

  /** MPI_Barrier on MPI_COMM_WORLD. */
  barrier(name = "barrier"): Promise<void> {
    return this.#exclusive(name, () => this.#barrier(name));
  }

  async #barrier(name: string): Promise<void> {
    await this.#call(
      `barrier "${name}" (#${++this.#barriers})`,
      () => this.nonblocking ? this.#mpi.barrier_async(this.#h.world) : this.#mpi.MPI_Barrier(this.#h.world),
    );
  }

  /** MPI_Finalize (after a barrier, as MPI requires all ranks to finalize together). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#exclusive("close", () => this.#barrier("close"));
    this.#closed = true;
    check(this.#mpi, this.#mpi.MPI_Finalize(), "MPI_Finalize");
  }

  /** Ends every rank of the job (MPI_Abort), e.g. after an error on this rank. */
  abort(code = 1): void {
    this.#mpi.MPI_Abort(this.#h.world, code);
  }

  /**
   * Walks the concatenated buffers bucket by bucket; `fn` gets a contiguous view: the array itself when the
   * bucket lies inside one array, else the staging buffer (packed before `fn`, unpacked after it).
   */
  async #buckets(
    buffers: Float32Array[],
    what: string,
    fn: (view: Float32Array) => Promise<void>,
    root = -1,
  ): Promise<void> {
    const total = totalLength(buffers), bucket = this.#staging.length;
    for (let start = 0; start < total;) {
      // A large array is passed directly in pieces of one bucket (measured: one 100 MB call is 3x slower than
      // 4 MiB pieces, cache effects); small neighbours are packed into the staging bucket.
      let direct: Float32Array | null = null, count = 0;
      forEachPiece(buffers, start, total - start, (b, from, to, at) => {
        if (at === 0 && to - from >= bucket / 2) {
          count = Math.min(to - from, bucket);
          direct = b.subarray(from, from + count);
        } else if (!direct && at + to - from <= bucket) count = at + to - from;
        else if (!direct && at < bucket) count = bucket;
      });
      if (direct) {
        await fn(direct);
      } else {
        const view = this.#staging.subarray(0, count);
        if (root < 0 || root === this.rank) {
          forEachPiece(buffers, start, count, (b, from, to, at) => view.set(b.subarray(from, to), at));
        }
        await fn(view);
        forEachPiece(
          buffers,
          start,
          count,
          (b, from, to, at) => b.set(view.subarray(at, at + to - from), from),
        );
      }
      start += count;
    }
    if (total === 0 && what === "allReduceMean") await this.#barrier("allReduceMean/empty");
  }

  /** Runs one MPI call with a deadline; a timeout or an MPI error names this rank and the call. */
  async #call(what: string, fn: () => number | Promise<number>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `rank ${this.rank}/${this.worldSize}: MPI ${what} timed out after ${this.#timeoutMs / 1000} s`,
            ),
          ),
        this.#timeoutMs,
      );
      Deno.unrefTimer(timer as unknown as number);
    });
    try {
      const rc = await Promise.race([Promise.resolve(fn()), timeout]);
      check(this.#mpi, rc, `rank ${this.rank}: MPI ${what}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one collective; they must not overlap (every rank must see the same sequence). */
  async #exclusive(what: string, fn: () => Promise<void>): Promise<void> {
    if (this.#closed) throw new Error(`${what}: rank ${this.rank}: MPI is finalized`);
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
}

function inPlace(): Deno.PointerObject {
  return Deno.UnsafePointer.create(1n) as Deno.PointerObject; // MPI_IN_PLACE in Open MPI
}

function check(mpi: Mpi, rc: number, what: string): void {
  if (rc === 0) return;
  const text = new Uint8Array(512), len = new Int32Array(1);
  mpi.MPI_Error_string(rc, text, len);
  throw new Error(`${what} failed: MPI error ${rc} (${new TextDecoder().decode(text.subarray(0, len[0]))})`);
}
