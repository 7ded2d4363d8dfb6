/**
 * The backend seam: the small set of primitives every op is built from. Ops and autograd call only this
 * interface; kernels and device memory stay inside the implementations (`webgpu/`, `wasm/`). Nothing in
 * this folder knows about either.
 */
import type { DType } from "../dtype.ts";
import type { MapOp, ReduceOp } from "./ops.ts";
import type {
  AttentionArgs,
  ConvGeometry,
  GroupNormArgs,
  MatmulArgs,
  PoolGeometry,
  PoolKind,
  ResampleArgs,
  ResampleMode,
} from "./geometry.ts";
import type { RandomKey, RandomKind } from "./random.ts";
import type {
  NoiseMixOp,
  OptimizerKind,
  OptimizerStepArgs,
  SchedulerStepCoefficients,
  SchedulerStepSpec,
} from "./fused.ts";

export type * from "./ops.ts";
export type * from "./geometry.ts";
export type * from "./random.ts";
export type * from "./fused.ts";
export { MAP_OP_NAMES } from "./ops.ts";

/** An opaque device allocation owned by the backend. */
export interface DeviceBuffer {
  readonly size: number;
}

/** An operand of an elementwise op: buffer, dtype, strides over the output shape (null = contiguous). */
export interface MapOperand {
  buffer: DeviceBuffer;
  dtype: DType;
  strides: number[] | null;
}

/** Memory counters in bytes. */
export interface MemoryStats {
  /** Bytes held by live (in-use) buffers. */
  current: number;
  /** Highest `current` since the last `resetPeak()`. */
  peak: number;
  /** Number of live buffers. */
  liveBuffers: number;
  /** Bytes sitting in the reuse pool. */
  pooled: number;
}

/** Counters a backend exposes for benchmarks and leak tests. */
export interface BackendStats extends MemoryStats {
  pipelines: number;
  compileMs: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** Index-select along one axis of x viewed as [outer, D, inner] with J int32 indices (backward: the gradient). */
export interface IndexSelectArgs {
  dtype: DType;
  x: DeviceBuffer;
  idx: DeviceBuffer;
  out: DeviceBuffer;
  outer: number;
  D: number;
  inner: number;
  J: number;
  /** Write grad[o, d, i] = Σ_{j: idx[j] = d} g[o, j, i] instead of gathering. */
  backward: boolean;
}

/** A random fill of `n` elements, `perSample` per sample; a, b are (low, high) or (mean, std). */
export interface RandomArgs {
  kind: RandomKind;
  out: DeviceBuffer;
  n: number;
  perSample: number;
  key: RandomKey;
  a: number;
  b: number;
}

/** Operands of the group-norm backward: dx, and dgamma/dbeta when gamma is given. */
export interface GroupNormBackwardArgs {
  x: DeviceBuffer;
  dy: DeviceBuffer;
  stats: DeviceBuffer;
  gamma: DeviceBuffer | null;
  dx: DeviceBuffer;
  dgamma: DeviceBuffer | null;
  dbeta: DeviceBuffer | null;
}

/** Operands of the fused attention backward; `dd` is scratch of BH·Tq floats. */
export interface AttentionBackwardArgs {
  q: DeviceBuffer;
  k: DeviceBuffer;
  v: DeviceBuffer;
  o: DeviceBuffer;
  lse: DeviceBuffer;
  dout: DeviceBuffer;
  dq: DeviceBuffer;
  dk: DeviceBuffer;
  dv: DeviceBuffer;
  dd: DeviceBuffer;
}

/** One diffusion-scheduler step over `n` float32 elements: writes `prev` and `pred` (x̂0). */
export interface SchedulerStepArgs {
  spec: SchedulerStepSpec;
  sample: DeviceBuffer;
  modelOutput: DeviceBuffer;
  noise: DeviceBuffer | null;
  prev: DeviceBuffer;
  pred: DeviceBuffer;
  n: number;
  coefficients: SchedulerStepCoefficients;
}

/**
 * add_noise / get_velocity over `n` elements, `perSample` per batch element. `timesteps` holds `timestepCount`
 * int32 values (one per batch element, or one for all); `table` holds √ᾱ then √(1−ᾱ) (numTrainTimesteps each).
 * Out-of-range timesteps give NaN (a device kernel cannot raise).
 */
export interface NoiseMixArgs {
  op: NoiseMixOp;
  original: DeviceBuffer;
  noise: DeviceBuffer;
  timesteps: DeviceBuffer;
  table: DeviceBuffer;
  out: DeviceBuffer;
  n: number;
  perSample: number;
  timestepCount: number;
  numTrainTimesteps: number;
}

/** One fused optimizer update of `n` elements in place; state is [m, v] for Adam, [buf] or [] for SGD. */
export interface OptimizerUpdate {
  kind: OptimizerKind;
  param: DeviceBuffer;
  grad: DeviceBuffer;
  state: DeviceBuffer[];
  n: number;
  args: OptimizerStepArgs;
}

/** The primitive operations. Every method records work in order; only `read` and `sync` wait for it. */
export interface Backend {
  /** "webgpu" or "wasm". */
  readonly kind: BackendKind;
  readonly description: string;
  /** Worker threads computing (1 for a GPU backend: the device schedules itself). */
  readonly threads: number;
  readonly supportsF16: boolean;
  readonly maxBindingBytes: number;
  alloc(bytes: number): DeviceBuffer;
  free(buf: DeviceBuffer): void;
  upload(buf: DeviceBuffer, data: ArrayBufferView): void;
  read(buf: DeviceBuffer, bytes: number): Promise<ArrayBuffer>;
  sync(): Promise<void>;
  flush(): void;
  stats(): BackendStats;
  resetPeak(): void;
  map(
    op: MapOp,
    inputs: MapOperand[],
    out: DeviceBuffer,
    outShape: number[],
    outDtype: DType,
    s?: [number, number],
  ): void;
  reduce(op: ReduceOp, x: DeviceBuffer, out: DeviceBuffer, outer: number, R: number, inner: number): void;
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, args: MatmulArgs): void;
  /** out (contiguous, `shape`) = x read at `offset + Σ coord·strides`: permute, slice, expand. */
  strided(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ): void;
  /** Writes the contiguous x of `shape` into out at `offset + Σ coord·strides` (concat, slice-assign). */
  scatterRegion(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ): void;
  /** Constant padding: out[c] = x[c − before] inside, else `value`. */
  pad(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    inShape: number[],
    before: number[],
    after: number[],
    value: number,
  ): void;
  indexSelect(a: IndexSelectArgs): void;
  random(a: RandomArgs): void;
  /** y = conv3d(x, w) + bias (geometry in the forward view). */
  conv(x: DeviceBuffer, w: DeviceBuffer, bias: DeviceBuffer | null, y: DeviceBuffer, g: ConvGeometry): void;
  /** dx of conv3d for upstream dy (also the forward of a transposed convolution). */
  convInputGrad(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, g: ConvGeometry): void;
  /** dw [Co, Ci, k…] of conv3d for upstream dy. */
  convWeightGrad(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry): void;
  /** Group-norm statistics: stats [B·G, 2] = (mean, 1/√(var + eps)). */
  groupNormStats(x: DeviceBuffer, stats: DeviceBuffer, a: GroupNormArgs): void;
  /** y = (x − mean)·rstd·gamma + beta (affine only when both gamma and beta are given). */
  groupNormApply(
    x: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    beta: DeviceBuffer | null,
    y: DeviceBuffer,
    a: GroupNormArgs,
  ): void;
  /** Group-norm backward: dx, and dgamma/dbeta when gamma is given. */
  groupNormBackward(buffers: GroupNormBackwardArgs, a: GroupNormArgs): void;
  /** Nearest/trilinear resampling of [BC, D, H, W] (backward: src = dy, dst = dx). */
  resample(
    mode: ResampleMode,
    src: DeviceBuffer,
    dst: DeviceBuffer,
    a: ResampleArgs,
    backward: boolean,
  ): void;
  /** Max/avg pooling of [BC, D, H, W]; max pooling writes int32 argmax per output. */
  pool(kind: PoolKind, x: DeviceBuffer, y: DeviceBuffer, argmax: DeviceBuffer | null, g: PoolGeometry): void;
  /** Pooling backward. */
  poolBackward(
    kind: PoolKind,
    dy: DeviceBuffer,
    argmax: DeviceBuffer | null,
    dx: DeviceBuffer,
    g: PoolGeometry,
  ): void;
  /** Fused attention forward: o [BH, Tq, dv] and the per-row log-sum-exp lse [BH, Tq]. */
  attentionForward(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    a: AttentionArgs,
  ): void;
  /** Fused attention backward (recomputes probabilities from lse). */
  attentionBackward(buffers: AttentionBackwardArgs, a: AttentionArgs): void;
  /** One fused diffusion-scheduler step (float32). */
  schedulerStep(a: SchedulerStepArgs): void;
  /** add_noise / get_velocity with per-batch-element coefficients gathered from an int32 timestep buffer. */
  noiseMix(a: NoiseMixArgs): void;
  /** One fused optimizer update of a parameter and its state buffers, in place. */
  optimizerStep(u: OptimizerUpdate): void;
}

/** The backends this build has. */
export const BACKEND_KINDS = ["webgpu", "wasm"] as const;

/** Name of a backend implementation. */
export type BackendKind = typeof BACKEND_KINDS[number];

let active: Backend | null = null;

/** Installs the backend ops use (done by `init()`). */
export function setBackend(b: Backend | null): void {
  active = b;
}

/** The active backend; throws if `await init()` was not called. */
export function backend(): Backend {
  if (!active) throw new Error("tensor backend not initialised: call `await init()` first");
  return active;
}

/** The active backend, or null before `init()`. */
export function activeBackend(): Backend | null {
  return active;
}
