/**
 * The backend seam: the small set of primitives every op is built from. Ops and autograd call only this
 * interface; WGSL and GPU buffers stay inside the WebGPU implementation (`webgpu/backend.ts`).
 */
import type { DType } from "./dtype.ts";
import type { MemoryStats } from "./allocator.ts";
import type { MapOp } from "./webgpu/map.ts";
import type { ReduceOp } from "./webgpu/reduce.ts";
import type { MatmulArgs } from "./webgpu/matmul.ts";
import type { RandomKey, RandomKind } from "./webgpu/random.ts";
import type { OptimizerKind, OptimizerStepArgs } from "./webgpu/optim.ts";
import type { ConvGeometry } from "./webgpu/conv.ts";
import type { GroupNormArgs } from "./webgpu/norm.ts";
import type { ResampleArgs, ResampleMode } from "./webgpu/resample.ts";
import type { PoolGeometry, PoolKind } from "./webgpu/pool.ts";
import type { AttentionArgs } from "./webgpu/attention.ts";
import type { NoiseMixOp, SchedulerStepCoefficients, SchedulerStepSpec } from "./webgpu/scheduler.ts";

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

/** Counters a backend exposes for benchmarks and leak tests. */
export interface BackendStats extends MemoryStats {
  pipelines: number;
  compileMs: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** The primitive operations. Every method records work; only `read` and `sync` wait for the device. */
export interface Backend {
  readonly description: string;
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
  strided(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ): void;
  scatterRegion(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ): void;
  pad(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    inShape: number[],
    before: number[],
    after: number[],
    value: number,
  ): void;
  indexSelect(
    dtype: DType,
    x: DeviceBuffer,
    idx: DeviceBuffer,
    out: DeviceBuffer,
    outer: number,
    D: number,
    inner: number,
    J: number,
    backward: boolean,
  ): void;
  random(
    kind: RandomKind,
    out: DeviceBuffer,
    n: number,
    perSample: number,
    key: RandomKey,
    a: number,
    b: number,
  ): void;
  /** y = conv3d(x, w) + bias (geometry in the forward view). */
  conv(x: DeviceBuffer, w: DeviceBuffer, bias: DeviceBuffer | null, y: DeviceBuffer, g: ConvGeometry): void;
  /** dx of conv3d for upstream dy (also the forward of a transposed convolution). */
  convInputGrad(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, g: ConvGeometry): void;
  /** dw [Co, Ci, k…] of conv3d for upstream dy. */
  convWeightGrad(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry): void;
  /** Group-norm statistics: stats [B·G, 2] = (mean, 1/√(var + eps)). */
  groupNormStats(x: DeviceBuffer, stats: DeviceBuffer, a: GroupNormArgs): void;
  /** y = (x − mean)·rstd·gamma + beta (gamma/beta null: no affine). */
  groupNormApply(
    x: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    beta: DeviceBuffer | null,
    y: DeviceBuffer,
    a: GroupNormArgs,
  ): void;
  /** Group-norm backward: dx, and dgamma/dbeta when gamma is given. */
  groupNormBackward(
    x: DeviceBuffer,
    dy: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    dx: DeviceBuffer,
    dgamma: DeviceBuffer | null,
    dbeta: DeviceBuffer | null,
    a: GroupNormArgs,
  ): void;
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
  /** Fused attention backward (recomputes probabilities from lse); `dd` is scratch of BH·Tq floats. */
  attentionBackward(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    dout: DeviceBuffer,
    dq: DeviceBuffer,
    dk: DeviceBuffer,
    dv: DeviceBuffer,
    dd: DeviceBuffer,
    a: AttentionArgs,
  ): void;
  /** One fused diffusion-scheduler step (float32): sample, model output, optional noise → prev sample, x̂0. */
  schedulerStep(
    spec: SchedulerStepSpec,
    sample: DeviceBuffer,
    modelOutput: DeviceBuffer,
    noise: DeviceBuffer | null,
    prev: DeviceBuffer,
    pred: DeviceBuffer,
    n: number,
    coefficients: SchedulerStepCoefficients,
  ): void;
  /** add_noise / get_velocity with per-batch-element coefficients gathered from an int32 timestep buffer. */
  noiseMix(
    op: NoiseMixOp,
    original: DeviceBuffer,
    noise: DeviceBuffer,
    timesteps: DeviceBuffer,
    table: DeviceBuffer,
    out: DeviceBuffer,
    n: number,
    perSample: number,
    timestepCount: number,
    numTrainTimesteps: number,
  ): void;
  /** One fused optimizer update of a parameter and its state buffers, in place (Adam/AdamW: [m, v]; SGD: [buf] or []). */
  optimizerStep(
    kind: OptimizerKind,
    param: DeviceBuffer,
    grad: DeviceBuffer,
    state: DeviceBuffer[],
    n: number,
    args: OptimizerStepArgs,
  ): void;
}

let active: Backend | null = null;

/** Installs the backend ops use (done by `init()`). */
export function setBackend(b: Backend): void {
  active = b;
}

/** The active backend; throws if `await init()` was not called. */
export function backend(): Backend {
  if (!active) throw new Error("tensor backend not initialised: call `await init()` first");
  return active;
}
