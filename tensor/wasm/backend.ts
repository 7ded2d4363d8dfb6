/**
 * The WebAssembly implementation of the backend seam: tensors live in one shared WebAssembly.Memory, kernels
 * (AssemblyScript GEMM core + JavaScript loops) run in chunks over a worker pool. Ops are recorded in a queue
 * and run in order when `read()`/`sync()` (the only awaits) or `flush()` drain it, as on the GPU.
 */
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  Backend,
  BackendStats,
  ConvGeometry,
  DeviceBuffer,
  GroupNormArgs,
  GroupNormBackwardArgs,
  IndexSelectArgs,
  MapOp,
  MapOperand,
  MatmulArgs,
  NoiseMixArgs,
  OptimizerUpdate,
  PoolGeometry,
  PoolKind,
  RandomArgs,
  ReduceOp,
  ResampleArgs,
  ResampleMode,
  SchedulerStepArgs,
} from "../backend/mod.ts";
import { MAP_OP_NAMES } from "../backend/ops.ts";
import type { DType } from "../dtype.ts";
import { collapseDims, stridesOf } from "../shape.ts";
import { WasmBuffer, WasmMemory } from "./memory.ts";
import { instantiateGemm, KernelContext } from "./kernels/context.ts";
import { instantiateSimd, simdMapPlan } from "./kernels/simd.ts";
import { KERNEL_ID, type KernelName } from "./kernels/mod.ts";
import { ThreadPool } from "./pool.ts";
import { DTYPE_CODE } from "./kernels/views.ts";
import { REDUCE_CODE } from "./kernels/reduce.ts";
import { DOT_CO, DOT_R, dotScratchBytes, MR, NR, packedBlockFloats, scratchFloats } from "./kernels/gemm.ts";
import { convTables, directOffsets, type PaddedTables, paddedTables } from "./conv_tables.ts";
import { smallScratchFloats } from "./kernels/conv_small.ts";
import { ATTENTION_SCRATCH_BYTES } from "./kernels/attention.ts";
import { PROFILE_SHAPES, profileDrain, profileStep, PROFILING } from "./profile.ts";

type Step = { op: string; kernel: number; args: number[]; chunks: number; inline: boolean } | {
  op: string;
  action: () => void;
};

const wb = (b: DeviceBuffer) => b as WasmBuffer;
const ptr = (b: DeviceBuffer | null) => (b ? (b as WasmBuffer).ptr : -1);
/**
 * Work (in elements of a plain JavaScript loop, ~1 ns each) below which a step runs on the main thread alone:
 * waking the pool and waiting for its check-out costs tens of µs (more on a busy host), and the demo's 8³
 * latents make most steps smaller than that.
 */
const MIN_CHUNK = 32768;
/** Relative cost per element of the SIMD loops (kernels.wasm) against a plain JavaScript loop. */
const SIMD_COST = 0.125, SIMD_EXP_COST = 0.5;
/** The small convolutions' reach: each thread's zero-padded source copy is at most this many floats (1 MiB). */
const SMALL_SOURCE_FLOATS = 1 << 18;
/** Multiply-adds of a small convolution per unit of step work (its packing and GEMM run ~8 per ns per core). */
const SMALL_MACS_PER_UNIT = 8;
const vol = (d: number[]) => d[0] * d[1] * d[2];
/**
 * Whether the small path goes before the direct one where both apply: up to 8³ voxels, where the direct path's
 * separate steps (padding, weight packing, and for the input gradient the wᵀ copy) cost more than its faster
 * inner loop saves. Measured on the tiny UNet's 8³ level: the input gradient gained at every width; the forward
 * pass only with few weights (≤ 8192: 16→16, 3→16, 16→3; 48→16 was faster direct). The weight gradient's direct
 * dot products stay ahead.
 */
const smallFirst = (g: ConvGeometry, mode: "forward" | "inputGrad") =>
  Math.max(vol(g.inDims), vol(g.outDims)) <= 512 &&
  (mode === "inputGrad" || g.Co * g.Ci * vol(g.kernel) <= 8192);

/**
 * Output channels per block of a direct convolution: up to 120, fewer when the block's packed weights (read again
 * for every group of output rows) would pass 4 MiB, so wide inputs (512·27 taps) keep them in the caches.
 */
function directBlockRows(g: ConvGeometry): number {
  const R = g.Ci * g.kernel[0] * g.kernel[1] * g.kernel[2];
  return Math.min(120, Math.ceil(g.Co / 6) * 6, Math.floor((4 << 20) / (R * 4 * 6)) * 6);
}

/**
 * The tables of a conv geometry laid end to end, as uploaded into scratch per call: built once per (memoized)
 * tables object instead of concatenated on every call.
 */
const joined = new WeakMap<object, Int32Array>();
function joinedTables(owner: object, parts: ArrayLike<number>[]): Int32Array {
  let all = joined.get(owner);
  if (!all) {
    all = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    joined.set(owner, all);
  }
  return all;
}

/** Options of the WASM backend. */
export interface WasmBackendOptions {
  /** Threads computing, the main thread included (default: LDM_THREADS or navigator.hardwareConcurrency). */
  threads?: number;
  /** How long an idle thread polls for the next step before it sleeps, in µs (default: LDM_SPIN_US, else 50). */
  spinMicroseconds?: number;
  /** Upper bound of the memory in bytes (default and maximum: wasm32's 4 GiB; tests lower it). */
  maxMemoryBytes?: number;
  /** The pool's worker script (default: worker.ts beside this module; a bundled page passes its own build). */
  workerUrl?: URL | string;
  /**
   * Absolute URL of gemm.wasm (default: beside this module; a bundled page passes the URL it serves it at).
   * kernels.wasm is loaded from beside it.
   */
  wasmUrl?: URL | string;
}

/** The integer in environment variable `name` (from lo to hi), or undefined when unset or unreadable. */
function envInteger(name: string, lo: number, hi: number): number | undefined {
  let env: string | undefined;
  try {
    env = Deno.env.get(name);
  } catch { /* no env permission */ }
  if (env === undefined || env === "") return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    throw new Error(`${name} must be an integer from ${lo} to ${hi}, got "${env}"`);
  }
  return n;
}

/** The number of threads from LDM_THREADS, else the host's logical cores. */
export function defaultThreads(): number {
  return envInteger("LDM_THREADS", 1, 64) ?? Math.max(1, Math.min(64, navigator.hardwareConcurrency || 1));
}

/** Polling time before an idle thread sleeps, from LDM_SPIN_US (0 = sleep at once), else DEFAULT_SPIN_US. */
const DEFAULT_SPIN_US = 50;
function defaultSpin(): number {
  return envInteger("LDM_SPIN_US", 0, 100000) ?? DEFAULT_SPIN_US;
}

async function loadModule(
  where: URL | string = new URL("./gemm.wasm", import.meta.url),
): Promise<WebAssembly.Module> {
  const url = new URL(where);
  let bytes: Uint8Array<ArrayBuffer>;
  if (url.protocol === "file:") bytes = await Deno.readFile(url);
  else {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`the WASM kernels ${url}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  return await WebAssembly.compile(bytes);
}

/** Backend that computes on the CPU in WebAssembly, over a pool of threads sharing one memory. */
/** "32→16 @8×8×8 k3 s1" */
const convShape = (g: ConvGeometry) =>
  `${g.Ci}→${g.Co} @${g.inDims.join("×")} k${g.kernel.join("")} s${g.stride.join("")}`;

export class WasmBackend implements Backend {
  readonly kind = "wasm" as const;
  readonly supportsF16 = true;
  readonly maxBindingBytes = 2 ** 31;
  readonly mem: WasmMemory;
  readonly workers: ThreadPool;
  #queue: Step[] = [];
  #draining: Promise<void> | null = null;
  #failure: unknown = null;
  #counters = { dispatches: 0, submits: 0, readbacks: 0 };
  /** The geometry of the convolution being recorded, for LDM_PROFILE=2. */
  #convShape = "";

  private constructor(mem: WasmMemory, pool: ThreadPool) {
    this.mem = mem;
    this.workers = pool;
  }

  /** Compiles the kernels, maps them on a fresh shared memory and starts the workers. */
  static async create(o: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = o.threads ?? defaultThreads();
    const module = await loadModule(o.wasmUrl);
    const simdModule = await loadModule(new URL("./kernels.wasm", o.wasmUrl ?? import.meta.url));
    const mem = new WasmMemory(
      o.maxMemoryBytes === undefined ? undefined : Math.ceil(o.maxMemoryBytes / 65536),
    );
    const main = new KernelContext(
      mem.memory,
      await instantiateGemm(module, mem.memory),
      0,
      await instantiateSimd(simdModule, mem.memory),
    );
    const spin = o.spinMicroseconds ?? defaultSpin();
    const pool = new ThreadPool(threads, module, simdModule, mem.memory, main, o.workerUrl, spin);
    const b = new WasmBackend(mem, pool);
    await b.workers.warm();
    return b;
  }

  get threads(): number {
    return this.workers.threads;
  }
  get description(): string {
    return "WebAssembly SIMD128 on shared-memory workers";
  }

  alloc(bytes: number): DeviceBuffer {
    return this.mem.alloc(bytes, callerOp);
  }
  free(buf: DeviceBuffer): void {
    this.mem.free(wb(buf));
  }
  upload(buf: DeviceBuffer, data: ArrayBufferView): void {
    const copy = new Uint8Array(data.byteLength);
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const p = wb(buf).ptr;
    this.#queue.push({
      op: "upload",
      action: () => new Uint8Array(this.mem.memory.buffer, p, copy.length).set(copy),
    });
  }
  async read(buf: DeviceBuffer, bytes: number): Promise<ArrayBuffer> {
    await this.sync();
    this.#counters.readbacks++;
    return new Uint8Array(this.mem.memory.buffer, wb(buf).ptr, bytes).slice().buffer;
  }
  async sync(): Promise<void> {
    while (this.#draining || this.#queue.length > 0) {
      this.#draining ??= this.#drain();
      try {
        await this.#draining;
      } finally {
        this.#draining = null;
      }
    }
    if (this.#failure !== null) {
      const e = this.#failure;
      this.#failure = null;
      throw e;
    }
  }
  flush(): void {
    if (this.#draining || this.#queue.length === 0) return;
    this.#draining = this.#drain().finally(() => (this.#draining = null));
  }
  stats(): BackendStats {
    return { ...this.mem.stats(), pipelines: 0, compileMs: 0, ...this.#counters };
  }
  resetPeak(): void {
    this.mem.resetPeak();
  }

  /** Runs queued steps in order; the first failure drops the rest of the queue and surfaces at the next sync. */
  async #drain(): Promise<void> {
    this.#counters.submits++;
    const d0 = PROFILING ? performance.now() : 0;
    // Batches taken whole (Array.shift on a long queue moves every element left, once per step).
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      for (let i = 0; i < batch.length; i++) {
        const s = batch[i];
        const t0 = PROFILING ? performance.now() : 0;
        try {
          if ("action" in s) s.action();
          else {
            this.workers.main.refresh();
            const r = this.workers.run(s.op, s.kernel, s.args, s.chunks, s.inline);
            if (r) await r;
          }
        } catch (e) {
          this.#queue = [];
          this.#failure ??= e;
          break;
        }
        if (PROFILING) {
          profileStep(s.op, performance.now() - t0, "action" in s ? false : !s.inline && s.chunks > 1);
        }
      }
    }
    if (PROFILING) profileDrain(performance.now() - d0);
  }

  /** Records a step of `chunks` chunks; with `work` below MIN_CHUNK they all run on the main thread. */
  #step(op: string, kernel: KernelName, args: number[], chunks: number, work = Infinity): void {
    if (PROFILE_SHAPES && op.startsWith("conv")) op = `${op} ${this.#convShape}`;
    this.#counters.dispatches++;
    this.#queue.push({ op, kernel: KERNEL_ID[kernel], args, chunks, inline: work < MIN_CHUNK });
  }

  /**
   * Chunks of an n-element loop costing `cost` (relative to a plain JavaScript loop) per element: one chunk
   * below MIN_CHUNK of work, else a few per thread of at least a quarter of that.
   */
  #chunking(n: number, cost = 1): { chunk: number; chunks: number } {
    if (n * cost <= MIN_CHUNK || this.threads === 1) return { chunk: Math.max(n, 1), chunks: n > 0 ? 1 : 0 };
    const chunk = Math.max(Math.ceil(MIN_CHUNK / (4 * cost)), Math.ceil(n / (this.threads * 4)));
    return { chunk, chunks: Math.ceil(n / chunk) };
  }

  /** Scratch released at record time: in-order execution means no later op can touch it before this one ran. */
  #scratch(bytes: number, use: (p: number) => void): void {
    const b = this.mem.alloc(bytes, callerOp);
    try {
      use(b.ptr);
    } finally {
      this.mem.free(b);
    }
  }

  /** Test hook: records a step whose workers throw ("throw") or die without checking out ("die"). */
  failWorkersForTests(how: "throw" | "die"): void {
    this.#step(`test ${how}`, how === "throw" ? "testThrow" : "testDie", [], Math.max(2, this.threads * 2));
  }

  map(
    op: MapOp,
    inputs: MapOperand[],
    out: DeviceBuffer,
    outShape: number[],
    outDtype: DType,
    s?: [number, number],
  ) {
    const n = outShape.reduce((a, b) => a * b, 1);
    const full = inputs.map((x) => x.strides ?? stridesOf(outShape));
    const c = inputs.every((x) => x.strides === null)
      ? { shape: [n], strides: inputs.map(() => [1]) }
      : collapseDims(outShape, full);
    const rank = c.shape.length;
    const f = new Float32Array(s ?? [0, 0]);
    const plan = outDtype === "float32" && inputs.every((x) => x.dtype === "float32")
      ? simdMapPlan(op, c.shape, c.strides)
      : null;
    if (plan) {
      const exp = op === "exp" || op === "silu" || op === "sigmoid" || op === "siluGrad";
      const { chunk, chunks } = this.#chunking(n, exp ? SIMD_EXP_COST : SIMD_COST);
      const b = plan.binary ? ptr(inputs[plan.second].buffer) : 0;
      this.#step(`elementwise ${op}`, "mapSimd", [
        plan.binary ? 1 : 0,
        plan.code,
        plan.layout,
        ptr(out),
        ptr(inputs[plan.first].buffer),
        b,
        n,
        chunk,
        c.shape[rank - 1],
        f[0],
        f[1],
      ], chunks);
      return;
    }
    const { chunk, chunks } = this.#chunking(n);
    const args = [
      MAP_OP_NAMES.indexOf(op),
      inputs.length,
      DTYPE_CODE[outDtype],
      ptr(out),
      n,
      chunk,
      f[0],
      f[1],
    ];
    args.push(rank, ...c.shape);
    inputs.forEach((x, k) => args.push(DTYPE_CODE[x.dtype], ptr(x.buffer), ...c.strides[k]));
    this.#step(`elementwise ${op}`, "map", args, chunks);
  }
  reduce(op: ReduceOp, x: DeviceBuffer, out: DeviceBuffer, outer: number, R: number, inner: number) {
    if (op === "sum" && inner === 1) {
      // Sums of contiguous rows: runs of whole rows per chunk.
      const { per, chunks } = this.#rowChunking(outer, R);
      this.#step("reduce sum", "reduce", [REDUCE_CODE[op], ptr(x), ptr(out), outer, R, 1, 1, per], chunks);
      return;
    }
    const ib = inner === 1 ? 1 : Math.min(inner, 4096);
    const blocks = Math.ceil(inner / ib);
    // Rows of a full reduction: few outputs, so the parallelism comes from splitting them over threads.
    this.#step(
      `reduce ${op}`,
      "reduce",
      [REDUCE_CODE[op], ptr(x), ptr(out), outer, R, inner, ib, 0],
      outer * blocks,
      (outer * R * inner) / (op === "sum" ? 4 : 1),
    );
  }
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, p: MatmulArgs) {
    const KC = 256, MC = 120, NC = p.M * p.N * p.batch < 65536 ? 64 : 256;
    const per = scratchFloats(MC, NC, KC);
    const chunks = p.batch * Math.ceil(p.M / MC) * Math.ceil(p.N / NC);
    this.#scratch(per * 4 * this.threads, (sp) => {
      this.#step("matmul", "matmul", [
        ptr(a),
        ptr(b),
        ptr(c),
        p.M,
        p.N,
        p.K,
        p.batch,
        p.batchStrideA,
        p.batchStrideB,
        p.transA ? 1 : 0,
        p.transB ? 1 : 0,
        MC,
        NC,
        KC,
        sp,
        per,
      ], chunks);
    });
  }
  #region(
    op: string,
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
    scatter: boolean,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    const c = collapseDims(shape, [stridesOf(shape), strides]);
    const { chunk, chunks } = this.#chunking(n);
    this.#step(op, "region", [
      DTYPE_CODE[dtype],
      ptr(x),
      ptr(out),
      n,
      chunk,
      scatter ? 1 : 0,
      offset,
      c.shape.length,
      ...c.shape,
      ...c.strides[1],
    ], chunks);
  }
  strided(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ) {
    this.#region("strided copy", dtype, x, out, shape, strides, offset, false);
  }
  scatterRegion(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ) {
    this.#region("region copy", dtype, x, out, shape, strides, offset, true);
  }
  pad(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    inShape: number[],
    before: number[],
    after: number[],
    v: number,
  ) {
    const outShape = inShape.map((d, i) => d + before[i] + after[i]);
    const rank = inShape.length;
    const planes = outShape.slice(0, Math.max(0, rank - 2)).reduce((a, b) => a * b, 1);
    const bits = dtype === "int32"
      ? v | 0
      : dtype === "float16"
      ? new Uint16Array(new Float16Array([v]).buffer)[0]
      : new Int32Array(new Float32Array([v]).buffer)[0];
    // Chunks of whole planes (the last two dims), sized like elementwise chunks.
    const { per, chunks } = this.#rowChunking(planes, outShape.slice(-2).reduce((a, b) => a * b, 1));
    this.#step(
      "pad",
      "pad",
      [DTYPE_CODE[dtype], ptr(x), ptr(out), planes, per, bits, rank, ...outShape, ...inShape, ...before],
      chunks,
    );
  }
  indexSelect(a: IndexSelectArgs) {
    const n = a.outer * (a.backward ? a.D : a.J) * a.inner;
    const { chunk, chunks } = this.#chunking(n);
    this.#step("indexSelect", "indexSelect", [
      DTYPE_CODE[a.dtype],
      ptr(a.x),
      ptr(a.idx),
      ptr(a.out),
      a.outer,
      a.D,
      a.inner,
      a.J,
      a.backward ? 1 : 0,
      chunk,
    ], chunks);
  }
  random(a: RandomArgs) {
    // Philox-10 costs about 20 plain-loop elements per value.
    const { chunk, chunks } = this.#chunking(a.n, 20);
    const k = a.key;
    this.#step(`random ${a.kind}`, "random", [
      a.kind === "uniform" ? 0 : a.kind === "normal" ? 1 : 2,
      ptr(a.out),
      a.n,
      a.perSample,
      k.sampleOffset >>> 0,
      k.seed >>> 0,
      k.stream >>> 0,
      k.step >>> 0,
      (k.lane ?? 0) >>> 0,
      a.a,
      a.b,
      chunk,
    ], chunks);
  }
  /** Runs an implicit-GEMM convolution step with its index tables and scratch. */
  #conv(
    op: string,
    mode: "forward" | "inputGrad" | "weightGrad",
    g: ConvGeometry,
    run: (tables: number[], scratch: number, per: number) => void,
    MC: number,
    NC: number,
    KC: number,
  ) {
    const t = convTables(g, mode);
    const words = t.rowTab.length + t.tabD.length + t.tabH.length + t.tabW.length;
    const per = scratchFloats(MC, NC, KC);
    this.#scratch(words * 4 + per * 4 * this.threads, (base) => {
      const at = [base];
      for (const arr of [t.rowTab, t.tabD, t.tabH]) at.push(at.at(-1)! + arr.length * 4);
      this.upload(new WasmBuffer(base, words * 4), joinedTables(t, [t.rowTab, t.tabD, t.tabH, t.tabW]));
      run([...at, ...t.cols], base + words * 4, per);
    });
    void op;
  }
  /** Tables of the small-convolution path (#convSmall), or null where it does not apply. */
  #smallTables(g: ConvGeometry, mode: "forward" | "inputGrad"): PaddedTables | null {
    const t = paddedTables(g, mode);
    if (!t || t.offs.length === 0 || t.cols.length === 0) return null;
    return t.chans * vol(t.padded) <= SMALL_SOURCE_FLOATS ? t : null;
  }
  /**
   * Blocks of an M × N output (`others` such outputs besides) for a small convolution: one chunk where the work
   * would not repay waking the pool, else about one per thread (two when there is plenty: a preempted thread then
   * holds up less of it). M is split first, into 6-row tiles, then N into 8-column panels (measured on the tiny
   * UNet's 4³ and 2³ levels, neither order was clearly ahead; this one repeats the vector B packing, not A's).
   */
  #smallBlocks(M: number, N: number, others: number, macs: number) {
    const work = macs / SMALL_MACS_PER_UNIT, T = this.threads;
    const want = work < MIN_CHUNK ? 1 : work < 8 * T * MIN_CHUNK ? T : 2 * T;
    let mb = 1, nb = 1;
    const need = () => Math.ceil(want / (others * mb * nb));
    mb = Math.min(Math.ceil(M / MR), need());
    nb = Math.min(Math.ceil(N / NR), need());
    const MC = Math.min(120, Math.ceil(Math.ceil(M / mb) / MR) * MR);
    const NC = Math.min(256, Math.ceil(Math.ceil(N / nb) / NR) * NR);
    return { MC, NC, chunks: others * Math.ceil(M / MC) * Math.ceil(N / NC), work };
  }
  /**
   * A convolution with few output voxels (forward, or the stride-1 input gradient as the forward of dy with wᵀ
   * read in place) as one step of packed GEMM on per-thread zero-padded copies (kernels/conv_small.ts).
   * False where it does not apply.
   */
  #convSmall(
    x: DeviceBuffer,
    w: DeviceBuffer,
    bias: DeviceBuffer | null,
    y: DeviceBuffer,
    g: ConvGeometry,
    mode: "forward" | "inputGrad",
  ): boolean {
    const t = this.#smallTables(g, mode);
    if (!t) return false;
    const K3 = vol(g.kernel), R = t.offs.length, P = vol(mode === "forward" ? g.outDims : g.inDims);
    const M = mode === "forward" ? g.Co : g.Ci, KC = convKC(R);
    const { MC, NC, chunks, work } = this.#smallBlocks(M, P, g.B, g.B * M * R * P);
    const per = smallScratchFloats(t.chans * vol(t.padded), MC, NC, KC);
    const [rs, run, runStride] = mode === "forward" ? [R, R, 0] : [K3, K3, g.Ci * K3];
    const op = mode === "forward" ? "conv3d" : "conv3d input grad";
    this.#smallStep(t, per, (offs, colsAt, sp) =>
      this.#step(
        op,
        "convSmall",
        [
          ptr(x),
          ptr(w),
          ptr(bias),
          ptr(y),
          M,
          R,
          P,
          t.chans,
          ...t.src,
          ...t.padded,
          ...t.at,
          offs,
          colsAt,
          rs,
          run,
          runStride,
          MC,
          NC,
          KC,
          sp,
          per,
          g.B,
        ],
        chunks,
        work,
      ));
    return true;
  }
  /** Uploads a small convolution's tables into scratch beside `per` floats per thread, then records its step. */
  #smallStep(t: PaddedTables, per: number, record: (offs: number, cols: number, sp: number) => void): void {
    const words = t.offs.length + t.cols.length;
    this.#scratch(words * 4 + per * 4 * this.threads, (base) => {
      this.upload(new WasmBuffer(base, words * 4), joinedTables(t, [t.offs, t.cols]));
      record(base, base + t.offs.length * 4, base + words * 4);
    });
  }
  /** The weight gradient of a small convolution as one step (kernels/conv_small.ts); false where it does not apply. */
  #convWeightGradSmall(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry): boolean {
    const t = this.#smallTables(g, "forward");
    if (!t) return false;
    const K3 = vol(g.kernel), R = t.offs.length, P = vol(g.outDims), KC = convKC(P);
    const { MC, NC, chunks, work } = this.#smallBlocks(g.Co, R, 1, g.B * g.Co * R * P);
    const per = smallScratchFloats(t.chans * vol(t.padded), MC, NC, KC);
    this.#smallStep(t, per, (offs, cols, sp) =>
      this.#step(
        "conv3d weight grad",
        "convSmallWeightGrad",
        [
          ptr(x),
          ptr(dy),
          ptr(dw),
          g.Co,
          R,
          P,
          t.chans,
          ...t.src,
          ...t.padded,
          ...t.at,
          offs,
          cols,
          K3,
          MC,
          NC,
          KC,
          sp,
          per,
          g.B,
        ],
        chunks,
        work,
      ));
    return true;
  }
  conv(x: DeviceBuffer, w: DeviceBuffer, bias: DeviceBuffer | null, y: DeviceBuffer, g: ConvGeometry) {
    if (PROFILE_SHAPES) this.#convShape = convShape(g);
    if (smallFirst(g, "forward") && this.#convSmall(x, w, bias, y, g, "forward")) return;
    if (this.#directFits(g)) return this.#convDirect(x, w, bias, y, g);
    if (this.#convSmall(x, w, bias, y, g, "forward")) return;
    const K3 = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const R = g.Ci * K3,
      P = g.outDims[0] * g.outDims[1] * g.outDims[2],
      inVol = g.inDims[0] * g.inDims[1] * g.inDims[2];
    const KC = convKC(R), MC = Math.min(120, Math.ceil(g.Co / 6) * 6), NC = 256;
    this.#conv(
      "conv3d",
      "forward",
      g,
      (tables, sp, per) => {
        const chunks = g.B * Math.ceil(g.Co / MC) * Math.ceil(P / NC);
        this.#step("conv3d", "conv", [
          ptr(x),
          ptr(w),
          ptr(bias),
          ptr(y),
          g.Co,
          R,
          P,
          g.Ci * inVol,
          ...tables,
          MC,
          NC,
          KC,
          sp,
          per,
          g.B,
        ], chunks);
      },
      MC,
      NC,
      KC,
    );
  }
  convInputGrad(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, g: ConvGeometry) {
    if (PROFILE_SHAPES) this.#convShape = convShape(g);
    if (g.stride.some((s) => s > 1)) return this.#convInputGradScatter(dy, w, dx, g);
    const K3 = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const R = g.Co * K3,
      P = g.inDims[0] * g.inDims[1] * g.inDims[2],
      outVol = g.outDims[0] * g.outDims[1] * g.outDims[2];
    const KC = convKC(R), MC = Math.min(120, Math.ceil(g.Ci / 6) * 6), NC = 256;
    // Stride 1: dx is the forward convolution of dy (padded by K − 1 − pad) with wᵀ, its taps reversed.
    const flipped: ConvGeometry = {
      ...g,
      Ci: g.Co,
      Co: g.Ci,
      inDims: g.outDims,
      outDims: g.inDims,
      padBefore: g.padBefore.map((p, a) => (g.kernel[a] - 1) * g.dilation[a] - p),
    };
    const direct = this.#directFits(flipped);
    if ((!direct || smallFirst(g, "inputGrad")) && this.#convSmall(dy, w, null, dx, g, "inputGrad")) return;
    // A = wᵀ as [Ci, Co·K3]: w [Co, Ci, K3] read with strides (K3, Ci·K3, ±1); reversing the flat tap index
    // reverses all three axes, so the direct pass reads its input in ascending order like the forward.
    this.#scratch(g.Ci * R * 4, (wt) => {
      const wtBuf = new WasmBuffer(wt, g.Ci * R * 4);
      const [tapStride, tapStart] = direct ? [-1, K3 - 1] : [1, 0];
      this.#region(
        "conv3d input grad",
        "float32",
        w,
        wtBuf,
        [g.Ci, g.Co, K3],
        [
          K3,
          g.Ci * K3,
          tapStride,
        ],
        tapStart,
        false,
      );
      if (direct) return this.#convDirect(dy, wtBuf, null, dx, flipped, "conv3d input grad");
      this.#conv(
        "conv3d input grad",
        "inputGrad",
        g,
        (tables, sp, per) => {
          const chunks = g.B * Math.ceil(g.Ci / MC) * Math.ceil(P / NC);
          this.#step("conv3d input grad", "conv", [
            ptr(dy),
            wt,
            -1,
            ptr(dx),
            g.Ci,
            R,
            P,
            g.Co * outVol,
            ...tables,
            MC,
            NC,
            KC,
            sp,
            per,
            g.B,
          ], chunks);
        },
        MC,
        NC,
        KC,
      );
    });
  }
  /**
   * Whether a convolution runs direct (#convDirect): stride 1, dilation 1, no padding that would crop, rows of
   * 8 voxels or more, and one block's packed weights, read again for every output row, within the caches (4 MiB).
   */
  #directFits(g: ConvGeometry): boolean {
    if (g.stride.some((s) => s !== 1) || g.dilation.some((d) => d !== 1)) return false;
    if (directBlockRows(g) < 12 || g.outDims[2] < 8) return false;
    const after = g.outDims.map((o, a) => o + g.kernel[a] - 1 - g.inDims[a] - g.padBefore[a]);
    return [...after, ...g.padBefore].every((p) => p >= 0);
  }
  /** A stride-1 convolution direct on a zero-padded copy of x (no im2col packing); weights packed once per op. */
  #convDirect(
    x: DeviceBuffer,
    w: DeviceBuffer,
    bias: DeviceBuffer | null,
    y: DeviceBuffer,
    g: ConvGeometry,
    op = "conv3d",
  ): void {
    const [Kd, Kh, Kw] = g.kernel, R = g.Ci * Kd * Kh * Kw;
    const [Do, Ho, Wo] = g.outDims;
    const MC = directBlockRows(g);
    const padded = [Do + Kd - 1, Ho + Kh - 1, Wo + Kw - 1];
    const padVol = padded[0] * padded[1] * padded[2];
    const panels = Math.ceil(Wo / 8);
    // Slack after the copy: the last row's final panel reads up to 7 voxels past it.
    const xpBytes = (g.B * g.Ci * padVol + 64) * 4;
    const mBlocks = Math.ceil(g.Co / MC), packedBytes = mBlocks * packedBlockFloats(MC, R) * 4;
    this.#scratch(xpBytes + R * 4 + packedBytes, (xp) => {
      this.#padPlanes(op, x, xp, g.B * g.Ci, g.inDims, padded, g.padBefore);
      const offs = xp + xpBytes, packed = offs + R * 4;
      this.upload(new WasmBuffer(offs, R * 4), directOffsets(g, padded));
      this.#step(op, "convPackWeights", [ptr(w), packed, g.Co, R, MC], mBlocks * Math.ceil(MC / MR));
      const rows = Do * Ho, rpc = Math.max(1, Math.ceil(rows / Math.max(1, this.threads * 8)));
      // Output rows per A tile pass: ~8 panels, so narrow rows do not stream A from L2/L3 once per row.
      const rowsPer = Math.min(Ho, Math.max(1, Math.ceil(8 / panels)));
      const per = Math.ceil(MC / MR) * MR * rowsPer * panels * 8 + 64;
      this.#scratch(per * 4 * this.threads, (sp) => {
        const chunks = g.B * mBlocks * Math.ceil(rows / rpc);
        this.#step(op, "convDirect", [
          xp,
          packed,
          ptr(bias),
          ptr(y),
          g.Co,
          R,
          Wo,
          Ho,
          Do,
          g.Ci * padVol,
          padded[1] * padded[2],
          padded[2],
          offs,
          MC,
          rpc,
          sp,
          per,
          panels,
          Kw === 3 ? 3 : 1,
          rowsPer,
        ], chunks);
      });
    });
  }

  /** Zero-padded copy of `planes` [dims] planes of src into [padded] ones at dst, the input at `at`. */
  #padPlanes(
    op: string,
    src: DeviceBuffer,
    dst: number,
    planes: number,
    dims: number[],
    padded: number[],
    at: number[],
  ) {
    const per = Math.max(1, Math.ceil(planes / (this.threads * 4)));
    this.#step(
      op,
      "convPad",
      [ptr(src), dst, planes, per, ...dims, ...padded, ...at],
      Math.ceil(planes / per),
    );
  }

  /** Strided convolutions: dense GEMM into im2col space, then col2im (the gather form would be mostly zeros). */
  #convInputGradScatter(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, g: ConvGeometry) {
    const K3 = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const P = g.outDims[0] * g.outDims[1] * g.outDims[2], inVol = g.inDims[0] * g.inDims[1] * g.inDims[2];
    const CIB = Math.max(1, Math.floor(120 / K3)), NC = 256, KC = convKC(g.Co);
    this.#conv(
      "conv3d input grad",
      "forward",
      g,
      (tables, sp, per) => {
        const chunks = g.B * Math.ceil(g.Ci / CIB);
        this.#step(
          "conv3d input grad",
          "convInputGradScatter",
          [ptr(dy), ptr(w), ptr(dx), g.Ci, g.Co, K3, P, inVol, ...tables, CIB, NC, KC, sp, per, g.B],
          chunks,
          // Few outputs (a 4³ → 2³ downsample's gradient): not worth waking the pool.
          (g.B * g.Ci * K3 * g.Co * P) / SMALL_MACS_PER_UNIT,
        );
      },
      CIB * K3,
      NC,
      KC,
    );
  }
  convWeightGrad(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry) {
    if (PROFILE_SHAPES) this.#convShape = convShape(g);
    // Narrow rows, strides or dilation: the direct dot products would widen dy and waste lanes (or do not apply).
    const small = g.outDims[2] < 8 || [...g.stride, ...g.dilation].some((s) => s > 1);
    if (small && this.#convWeightGradSmall(x, dy, dw, g)) return;
    if (this.#convWeightGradDirect(x, dy, dw, g)) return;
    const K3 = g.kernel[0] * g.kernel[1] * g.kernel[2];
    const R = g.Ci * K3,
      P = g.outDims[0] * g.outDims[1] * g.outDims[2],
      inVol = g.inDims[0] * g.inDims[1] * g.inDims[2];
    const KC = 256, MC = Math.min(120, Math.ceil(g.Co / 6) * 6), NC = 64;
    this.#conv(
      "conv3d weight grad",
      "weightGrad",
      g,
      (tables, sp, per) => {
        const chunks = Math.ceil(g.Co / MC) * Math.ceil(R / NC);
        this.#step("conv3d weight grad", "convWeightGrad", [
          ptr(x),
          ptr(dy),
          ptr(dw),
          g.Co,
          R,
          P,
          g.Ci * inVol,
          ...tables,
          MC,
          NC,
          KC,
          sp,
          per,
          g.B,
        ], chunks);
      },
      MC,
      NC,
      KC,
    );
  }
  /**
   * Stride-1, dilation-1 weight gradient as dot products along the voxels (no packing): on a zero-padded copy of
   * x whose rows are wide enough for whole 4-voxel vectors, with dy widened to a multiple of 4 when it is not.
   */
  #convWeightGradDirect(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry): boolean {
    if (g.stride.some((s) => s !== 1) || g.dilation.some((d) => d !== 1)) return false;
    const [Kd, Kh, Kw] = g.kernel, R = g.Ci * Kd * Kh * Kw;
    const [Do, Ho, Wo] = g.outDims;
    const Wq = Math.ceil(Wo / 4) * 4;
    const padded = [Do + Kd - 1, Ho + Kh - 1, Wq + Kw - 1];
    const after = padded.map((p, a) => p - g.inDims[a] - g.padBefore[a]);
    if (after.some((p) => p < 0)) return false;
    const padVol = padded[0] * padded[1] * padded[2];
    // A 3-wide kernel runs shifted tiles (3 channels × one x row's 3 taps), which read 2 floats past the last row.
    const shift = Kw === 3;
    const xpBytes = g.B * g.Ci * padVol * 4 + (shift ? 64 : 0), dySample = g.Co * Do * Ho * Wq;
    const dyBytes = Wq === Wo ? 0 : g.B * dySample * 4;
    // Blocks of dw: whole DOT_CO × DOT_R tiles, a few per thread, lane sums small enough for L2.
    const chunksWanted = this.threads * 4;
    let MC = Math.min(64, Math.ceil(g.Co / DOT_CO) * DOT_CO),
      NC = Math.min(108, Math.ceil(R / DOT_R) * DOT_R);
    const chunks = () => Math.ceil(g.Co / MC) * Math.ceil(R / NC);
    while (chunks() < chunksWanted && MC > 8) MC = Math.ceil(MC / 2 / DOT_CO) * DOT_CO;
    while (chunks() < chunksWanted && NC > 3 * DOT_R) NC = Math.ceil(NC / 2 / DOT_R) * DOT_R;
    const per = dotScratchBytes(MC, NC, shift);
    // Output rows per block: about 256 voxels (512 for the shifted tiles, which stream less data each), so each
    // tile's lane sums are loaded once per 64 (128) vector steps.
    const rb = Math.min(Ho, Math.max(1, Math.ceil((shift ? 512 : 256) / Wq)));
    this.#scratch(xpBytes + dyBytes + R * 4 + per * this.threads, (xp) => {
      this.#padPlanes("conv3d weight grad", x, xp, g.B * g.Ci, g.inDims, padded, g.padBefore);
      let dyp = ptr(dy);
      if (dyBytes > 0) {
        dyp = xp + xpBytes;
        this.#padPlanes("conv3d weight grad", dy, dyp, g.B * g.Co, g.outDims, [Do, Ho, Wq], [0, 0, 0]);
      }
      const offs = xp + xpBytes + dyBytes;
      this.upload(new WasmBuffer(offs, R * 4), directOffsets(g, padded));
      this.#step("conv3d weight grad", "convWeightGradDirect", [
        dyp,
        dySample,
        Wq,
        xp,
        g.Ci * padVol,
        padded[1] * padded[2],
        padded[2],
        offs,
        g.B,
        Do,
        Ho,
        rb,
        g.Co,
        R,
        MC,
        NC,
        offs + R * 4,
        per,
        ptr(dw),
        shift ? 1 : 0,
      ], chunks());
    });
    return true;
  }
  /** Chunks of `count` rows of `len` elements: whole rows, sized like elementwise chunks. */
  #rowChunking(count: number, len: number): { per: number; chunks: number } {
    const per = Math.max(1, Math.floor(this.#chunking(count * len, SIMD_COST).chunk / Math.max(len, 1)));
    return { per, chunks: count * len === 0 ? 0 : Math.ceil(count / per) };
  }
  groupNormStats(x: DeviceBuffer, stats: DeviceBuffer, a: GroupNormArgs) {
    const L = (a.C / a.G) * a.S, { per, chunks } = this.#rowChunking(a.B * a.G, L);
    this.#step("groupNorm", "groupNormStats", [ptr(x), ptr(stats), L, a.eps, a.B * a.G, per], chunks);
  }
  groupNormApply(
    x: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    beta: DeviceBuffer | null,
    y: DeviceBuffer,
    a: GroupNormArgs,
  ) {
    const affine = gamma !== null && beta !== null ? 1 : 0;
    const { per, chunks } = this.#rowChunking(a.B * a.C, a.S);
    this.#step("groupNorm", "groupNormApply", [
      ptr(x),
      ptr(stats),
      ptr(gamma),
      ptr(beta),
      ptr(y),
      a.C,
      a.S,
      a.G,
      affine,
      a.B * a.C,
      per,
    ], chunks);
  }
  groupNormBackward(o: GroupNormBackwardArgs, a: GroupNormArgs) {
    const planes = a.B * a.C, affine = o.gamma !== null;
    const { per, chunks } = this.#rowChunking(planes, a.S);
    // Scratch: per-plane partial sums, per-group coefficients, and dgamma/dbeta when the caller wants neither.
    const bytes = planes * 8 + a.B * a.G * 8 + (affine ? a.C * 8 : 0);
    this.#scratch(bytes, (part) => {
      const coef = part + planes * 8, spare = coef + a.B * a.G * 8;
      const dg = o.dgamma ? ptr(o.dgamma) : spare, db = o.dbeta ? ptr(o.dbeta) : spare + a.C * 4;
      const shape = [a.C, a.S, a.G];
      this.#step("groupNorm backward", "groupNormPartial", [
        ptr(o.x),
        ptr(o.dy),
        ptr(o.stats),
        part,
        ...shape,
        planes,
        per,
      ], chunks);
      this.#step(
        "groupNorm backward",
        "groupNormCoef",
        [part, coef, ptr(o.gamma), dg, db, a.B, ...shape, affine ? 1 : 0],
        1,
      );
      this.#step(
        "groupNorm backward",
        "groupNormInputGrad",
        [
          ptr(o.x),
          ptr(o.dy),
          ptr(o.stats),
          coef,
          ptr(o.dx),
          ptr(o.gamma),
          ...shape,
          affine ? 1 : 0,
          planes,
          per,
        ],
        chunks,
      );
    });
  }
  resample(mode: ResampleMode, src: DeviceBuffer, dst: DeviceBuffer, a: ResampleArgs, backward: boolean) {
    const dims = backward ? a.inDims : a.outDims;
    const n = a.BC * dims[0] * dims[1] * dims[2];
    // Nearest backward scatters within a plane, so its chunks are whole planes.
    const { chunk, chunks } = backward && mode === "nearest" ? { chunk: 0, chunks: a.BC } : this.#chunking(n);
    this.#step(
      `resample ${mode}`,
      "resample",
      [
        mode === "trilinear" ? 1 : 0,
        backward ? 1 : 0,
        ptr(src),
        ptr(dst),
        n,
        chunk,
        ...a.inDims,
        ...a.outDims,
        ...a.scale,
      ],
      chunks,
      a.BC * (a.inDims[0] * a.inDims[1] * a.inDims[2] + a.outDims[0] * a.outDims[1] * a.outDims[2]),
    );
  }
  #pool(
    kind: PoolKind,
    backward: boolean,
    src: DeviceBuffer,
    dst: DeviceBuffer,
    arg: DeviceBuffer | null,
    g: PoolGeometry,
  ) {
    const dims = backward ? g.inDims : g.outDims;
    const n = g.BC * dims[0] * dims[1] * dims[2];
    // Max-pool backward scatters within a plane, so its chunks are whole planes.
    const byPlane = backward && kind === "max";
    const { chunk, chunks } = byPlane ? { chunk: 0, chunks: g.BC } : this.#chunking(n);
    this.#step(`${kind} pool`, "pool", [
      kind === "max" ? 1 : 0,
      backward ? 1 : 0,
      ptr(src),
      ptr(dst),
      ptr(arg),
      n,
      chunk,
      ...g.inDims,
      ...g.outDims,
      ...g.kernel,
      ...g.stride,
      ...g.pad,
      g.countIncludePad ? 1 : 0,
    ], chunks);
  }
  pool(kind: PoolKind, x: DeviceBuffer, y: DeviceBuffer, argmax: DeviceBuffer | null, g: PoolGeometry) {
    this.#pool(kind, false, x, y, argmax, g);
  }
  poolBackward(
    kind: PoolKind,
    dy: DeviceBuffer,
    argmax: DeviceBuffer | null,
    dx: DeviceBuffer,
    g: PoolGeometry,
  ) {
    this.#pool(kind, true, dy, dx, argmax, g);
  }
  /** Rows per chunk: about 8 chunks per thread, in whole blocks of 4 (the kernels' row blocks). */
  #attentionRows(a: AttentionArgs, T: number): number {
    const rows = Math.max(1, Math.ceil((a.BH * T) / (this.threads * 8)));
    return Math.min(T, Math.ceil(rows / 4) * 4);
  }
  attentionForward(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    a: AttentionArgs,
  ) {
    const rows = this.#attentionRows(a, a.Tq);
    const head = [ptr(q), ptr(k), ptr(v), a.Tq, a.Tk, a.d, a.dv, a.scale, rows, a.BH];
    this.#scratch(ATTENTION_SCRATCH_BYTES * this.threads, (sp) =>
      this.#step(
        "attention",
        "attentionForward",
        [...head, ptr(o), ptr(lse), sp],
        a.BH * Math.ceil(a.Tq / rows),
        attentionWork(a),
      ));
  }
  /**
   * Head sizes that are multiples of 4: one pass over key rows makes dK, dV and a dQ partial per key block (dd and
   * zeroed partials first, their sum last), so each block's scores are recomputed once. Others: dQ per query
   * row, then dK/dV per key row.
   */
  attentionBackward(b: AttentionBackwardArgs, a: AttentionArgs) {
    const rq = this.#attentionRows(a, a.Tq), rk = this.#attentionRows(a, a.Tk);
    const head = (rows: number) => [ptr(b.q), ptr(b.k), ptr(b.v), a.Tq, a.Tk, a.d, a.dv, a.scale, rows, a.BH];
    const qChunks = a.BH * Math.ceil(a.Tq / rq), kChunks = a.BH * Math.ceil(a.Tk / rk);
    const kv = [ptr(b.lse), ptr(b.dout), ptr(b.dd), ptr(b.dk), ptr(b.dv)];
    if (a.d % 4 || a.dv % 4) {
      this.#scratch(ATTENTION_SCRATCH_BYTES * this.threads, (sp) => {
        const q = [ptr(b.o), ptr(b.lse), ptr(b.dout), ptr(b.dq), ptr(b.dd)];
        this.#step(
          "attention backward",
          "attentionGradQ",
          [...head(rq), ...q],
          qChunks,
          2 * attentionWork(a),
        );
        this.#step(
          "attention backward",
          "attentionGradKV",
          [...head(rk), ...kv, sp, 0, 0],
          kChunks,
          2 * attentionWork(a),
        );
      });
      return;
    }
    // One dQ partial per key block of a head (not per thread: which thread takes a chunk varies from run to run,
    // and sums in that order would too); at most 2 per thread, summed in block order.
    const rkb = Math.min(a.Tk, Math.ceil(Math.max(rk, Math.ceil(a.Tk / (2 * this.threads))) / 4) * 4);
    const parts = Math.ceil(a.Tk / rkb), partBytes = a.BH * a.Tq * a.d * 4, rows = a.BH * a.Tq;
    this.#scratch(ATTENTION_SCRATCH_BYTES * this.threads + partBytes * parts, (sp) => {
      const part = sp + ATTENTION_SCRATCH_BYTES * this.threads;
      this.#step(
        "attention backward",
        "attentionDelta",
        [ptr(b.o), ptr(b.dout), ptr(b.dd), a.Tq, a.d, a.dv, rq, part, parts, partBytes],
        qChunks,
        rows * (a.dv + a.d * parts),
      );
      this.#step(
        "attention backward",
        "attentionGradKV",
        [...head(rkb), ...kv, sp, part, partBytes],
        a.BH * parts,
        3 * attentionWork(a),
      );
      this.#step(
        "attention backward",
        "attentionSumDq",
        [ptr(b.dq), a.Tq, a.d, rq, part, parts, partBytes],
        qChunks,
        rows * a.d * parts,
      );
    });
  }
  schedulerStep(a: SchedulerStepArgs) {
    if (a.spec.noise !== (a.noise !== null)) {
      throw new Error("scheduler step: noise buffer does not match the spec");
    }
    const k = a.coefficients;
    const { chunk, chunks } = this.#chunking(a.n);
    this.#step("scheduler step", "schedulerStep", [
      a.spec.form === "ddim" ? 1 : 0,
      a.spec.clip ? 1 : 0,
      a.spec.noise ? 1 : 0,
      ptr(a.sample),
      ptr(a.modelOutput),
      ptr(a.noise),
      ptr(a.prev),
      ptr(a.pred),
      a.n,
      chunk,
      k.a,
      k.b,
      k.c,
      k.d,
      k.e,
      k.f,
      k.lo,
      k.hi,
      k.p,
      k.q,
      k.s,
    ], chunks);
  }
  noiseMix(a: NoiseMixArgs) {
    const { chunk, chunks } = this.#chunking(a.n);
    this.#step(a.op, "noiseMix", [
      a.op === "velocity" ? 1 : 0,
      ptr(a.original),
      ptr(a.noise),
      ptr(a.timesteps),
      ptr(a.table),
      ptr(a.out),
      a.n,
      a.perSample,
      a.timestepCount,
      a.numTrainTimesteps,
      chunk,
    ], chunks);
  }
  optimizerStep(u: OptimizerUpdate) {
    if (u.kind === "adam" && u.state.length !== 2) throw new Error("adam step needs 2 state buffers (m, v)");
    const a = u.args;
    const { chunk, chunks } = this.#chunking(u.n);
    this.#step(`${u.kind} step`, "optimizer", [
      u.kind === "adam" ? 0 : 1,
      ptr(u.param),
      ptr(u.grad),
      ptr(u.state[0] ?? null),
      ptr(u.state[1] ?? null),
      u.state.length,
      u.n,
      chunk,
      a.lr,
      a.beta1 ?? 0,
      a.beta2 ?? 0,
      a.eps ?? 0,
      a.weightDecay,
      a.stepSize ?? 0,
      a.biasCorrection2Sqrt ?? 1,
      a.decoupled ? 1 : 0,
      a.momentum ?? 0,
      // Scalars PyTorch forms in double before the float32 op gets them.
      Math.fround(1 - (a.dampening ?? 0)),
      a.firstStep ? 1 : 0,
      a.nesterov ? 1 : 0,
      Math.fround(1 - (a.beta1 ?? 0)),
      Math.fround(1 - (a.beta2 ?? 0)),
      Math.fround(1 - a.lr * a.weightDecay),
    ], chunks);
  }
}

/** The public op that is allocating, read from the stack (for out-of-memory messages). */
function callerOp(): string {
  const stack = new Error().stack?.split("\n") ?? [];
  for (const line of stack) {
    const m = line.match(/at (?:[\w.]+\.)?(\w+) \(.*\/tensor\/ops\/\w+\.ts/);
    if (m) return m[1];
  }
  return "allocation";
}

/** Multiply-adds of one attention pass (the work that decides whether it goes to the pool). */
function attentionWork(a: AttentionArgs): number {
  return a.BH * a.Tq * a.Tk * (a.d + a.dv);
}

/** K blocks of at most 512, split evenly (864 → 2 × 432) so no block is mostly edge. */
function convKC(R: number): number {
  return Math.ceil(R / Math.ceil(R / 512));
}
