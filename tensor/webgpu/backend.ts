/** The WebGPU implementation of the backend seam. */
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
import type { DType } from "../dtype.ts";
import type { Device } from "./device.ts";
import { Runtime } from "./runtime.ts";
import { runMap } from "./map.ts";
import { runReduce } from "./reduce.ts";
import { runMatmul } from "./matmul.ts";
import { runIndexSelect, runPad, runScatterRegion, runStrided } from "./movement.ts";
import { runRandom } from "./random.ts";
import { runOptimizerStep } from "./optim.ts";
import { runConvForward } from "./conv_forward.ts";
import { runConvInputGrad } from "./conv_input_grad.ts";
import { runConvWeightGrad } from "./conv_weight_grad.ts";
import { runGroupNormApply, runGroupNormBackward, runGroupNormStats } from "./norm.ts";
import { runResample } from "./resample.ts";
import { runPool, runPoolBackward } from "./pool.ts";
import { runAttentionBackward, runAttentionForward } from "./attention.ts";
import { runNoiseMix, runSchedulerStep } from "./scheduler.ts";

const gb = (b: DeviceBuffer) => b as GPUBuffer;

/** Backend that records WGSL compute dispatches on one WebGPU device. */
export class WebGpuBackend implements Backend {
  readonly kind = "webgpu" as const;
  readonly threads = 1;
  readonly rt: Runtime;
  constructor(readonly device: Device) {
    this.rt = new Runtime(device);
  }
  get description(): string {
    return this.device.description;
  }
  get supportsF16(): boolean {
    return this.device.features.shaderF16;
  }
  get maxBindingBytes(): number {
    return this.rt.bindingLimit;
  }
  /**
   * Test hook: lowers the binding limit kernels see (null restores the device's), so the chunked paths for
   * tensors larger than one binding run on small data.
   */
  setBindingLimitForTests(bytes: number | null): void {
    this.rt.bindingLimit = bytes ?? this.device.limits.maxStorageBufferBindingSize;
  }
  alloc(bytes: number): DeviceBuffer {
    // Buffers may exceed one binding (ops bind sub-ranges), but not the device's buffer size.
    if (bytes > this.device.limits.maxBufferSize) {
      throw new Error(
        `allocation of ${bytes} bytes exceeds the device's buffer size limit (${this.device.limits.maxBufferSize} bytes)`,
      );
    }
    return this.rt.pool.acquire(bytes);
  }
  free(buf: DeviceBuffer): void {
    this.rt.pool.release(gb(buf));
  }
  upload(buf: DeviceBuffer, data: ArrayBufferView): void {
    this.rt.upload(gb(buf), data);
  }
  read(buf: DeviceBuffer, bytes: number): Promise<ArrayBuffer> {
    return this.rt.read(gb(buf), 0, bytes);
  }
  sync(): Promise<void> {
    return this.rt.sync();
  }
  flush(): void {
    this.rt.flush();
  }
  stats(): BackendStats {
    return { ...this.rt.pool.stats(), ...this.rt.stats };
  }
  resetPeak(): void {
    this.rt.pool.resetPeak();
  }
  map(
    op: MapOp,
    inputs: MapOperand[],
    out: DeviceBuffer,
    outShape: number[],
    outDtype: DType,
    s?: [number, number],
  ) {
    runMap(this.rt, op, inputs.map((x) => ({ ...x, buffer: gb(x.buffer) })), gb(out), outShape, outDtype, s);
  }
  reduce(op: ReduceOp, x: DeviceBuffer, out: DeviceBuffer, outer: number, R: number, inner: number) {
    runReduce(
      this.rt,
      op,
      gb(x),
      gb(out),
      outer,
      R,
      inner,
      (b) => this.rt.pool.acquire(b),
      (b) => this.rt.pool.release(b),
    );
  }
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, args: MatmulArgs) {
    runMatmul(this.rt, gb(a), gb(b), gb(c), args);
  }
  strided(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ) {
    runStrided(this.rt, dtype, gb(x), gb(out), shape, strides, offset);
  }
  scatterRegion(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ) {
    runScatterRegion(this.rt, dtype, gb(x), gb(out), shape, strides, offset);
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
    runPad(this.rt, dtype, gb(x), gb(out), inShape, before, after, v);
  }
  indexSelect(a: IndexSelectArgs) {
    runIndexSelect(this.rt, a.dtype, gb(a.x), gb(a.idx), gb(a.out), a.outer, a.D, a.inner, a.J, a.backward);
  }

  random(a: RandomArgs) {
    runRandom(this.rt, a.kind, gb(a.out), a.n, a.perSample, a.key, a.a, a.b);
  }

  #tmp = (bytes: number) => this.rt.pool.acquire(bytes);
  #free = (b: GPUBuffer) => this.rt.pool.release(b);
  conv(x: DeviceBuffer, w: DeviceBuffer, bias: DeviceBuffer | null, y: DeviceBuffer, g: ConvGeometry) {
    runConvForward(this.rt, gb(x), gb(w), bias && gb(bias), gb(y), g, this.#tmp, this.#free);
  }
  convInputGrad(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, g: ConvGeometry) {
    runConvInputGrad(this.rt, gb(dy), gb(w), gb(dx), g, this.#tmp, this.#free);
  }
  convWeightGrad(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, g: ConvGeometry) {
    runConvWeightGrad(this.rt, gb(x), gb(dy), gb(dw), g, this.#tmp, this.#free);
  }
  groupNormStats(x: DeviceBuffer, stats: DeviceBuffer, a: GroupNormArgs) {
    runGroupNormStats(this.rt, gb(x), gb(stats), a, this.#tmp, this.#free);
  }
  groupNormApply(
    x: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    beta: DeviceBuffer | null,
    y: DeviceBuffer,
    a: GroupNormArgs,
  ) {
    runGroupNormApply(this.rt, gb(x), gb(stats), gamma && gb(gamma), beta && gb(beta), gb(y), a);
  }
  groupNormBackward(o: GroupNormBackwardArgs, a: GroupNormArgs) {
    const opt = (b: DeviceBuffer | null) => b && gb(b);
    runGroupNormBackward(
      this.rt,
      gb(o.x),
      gb(o.dy),
      gb(o.stats),
      opt(o.gamma),
      gb(o.dx),
      opt(o.dgamma),
      opt(o.dbeta),
      a,
      this.#tmp,
      this.#free,
    );
  }

  resample(mode: ResampleMode, src: DeviceBuffer, dst: DeviceBuffer, a: ResampleArgs, backward: boolean) {
    runResample(this.rt, mode, gb(src), gb(dst), a, backward);
  }
  pool(kind: PoolKind, x: DeviceBuffer, y: DeviceBuffer, argmax: DeviceBuffer | null, g: PoolGeometry) {
    runPool(this.rt, kind, gb(x), gb(y), argmax && gb(argmax), g);
  }
  poolBackward(
    kind: PoolKind,
    dy: DeviceBuffer,
    argmax: DeviceBuffer | null,
    dx: DeviceBuffer,
    g: PoolGeometry,
  ) {
    runPoolBackward(this.rt, kind, gb(dy), argmax && gb(argmax), gb(dx), g);
  }
  attentionForward(
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
    lse: DeviceBuffer,
    a: AttentionArgs,
  ) {
    runAttentionForward(this.rt, gb(q), gb(k), gb(v), gb(o), gb(lse), a);
  }
  attentionBackward(o: AttentionBackwardArgs, a: AttentionArgs) {
    const [q, k, v, out, lse, dout, dq, dk, dv, dd] = [
      o.q,
      o.k,
      o.v,
      o.o,
      o.lse,
      o.dout,
      o.dq,
      o.dk,
      o.dv,
      o.dd,
    ]
      .map(gb);
    runAttentionBackward(this.rt, q, k, v, out, lse, dout, dq, dk, dv, dd, a);
  }

  schedulerStep(a: SchedulerStepArgs) {
    const noise = a.noise && gb(a.noise);
    runSchedulerStep(
      this.rt,
      a.spec,
      gb(a.sample),
      gb(a.modelOutput),
      noise,
      gb(a.prev),
      gb(a.pred),
      a.n,
      a.coefficients,
    );
  }

  noiseMix(a: NoiseMixArgs) {
    const [original, noise, timesteps, table, out] = [a.original, a.noise, a.timesteps, a.table, a.out].map(
      gb,
    );
    runNoiseMix(
      this.rt,
      a.op,
      original,
      noise,
      timesteps,
      table,
      out,
      a.n,
      a.perSample,
      a.timestepCount,
      a.numTrainTimesteps,
    );
  }

  optimizerStep(u: OptimizerUpdate) {
    runOptimizerStep(this.rt, u.kind, gb(u.param), gb(u.grad), u.state.map(gb), u.n, u.args);
  }
}
