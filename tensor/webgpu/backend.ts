/** The WebGPU implementation of the backend seam. */
import type { Backend, BackendStats, DeviceBuffer, MapOperand } from "../backend.ts";
import type { DType } from "../dtype.ts";
import type { Device } from "../device.ts";
import { Runtime } from "./runtime.ts";
import { type MapOp, runMap } from "./map.ts";
import { type ReduceOp, runReduce } from "./reduce.ts";
import { type MatmulArgs, runMatmul } from "./matmul.ts";
import { runIndexSelect, runPad, runScatterRegion, runStrided } from "./movement.ts";
import { type RandomKey, type RandomKind, runRandom } from "./random.ts";
import { type OptimizerKind, type OptimizerStepArgs, runOptimizerStep } from "./optim.ts";
import { type ConvGeometry, runConvForward, runConvInputGrad, runConvWeightGrad } from "./conv.ts";
import { type GroupNormArgs, runGroupNormApply, runGroupNormBackward, runGroupNormStats } from "./norm.ts";
import { type ResampleArgs, type ResampleMode, runResample } from "./resample.ts";
import { type PoolGeometry, type PoolKind, runPool, runPoolBackward } from "./pool.ts";
import { type AttentionArgs, runAttentionBackward, runAttentionForward } from "./attention.ts";
import {
  type NoiseMixOp,
  runNoiseMix,
  runSchedulerStep,
  type SchedulerStepCoefficients,
  type SchedulerStepSpec,
} from "./scheduler.ts";

const gb = (b: DeviceBuffer) => b as GPUBuffer;

/** Backend that records WGSL compute dispatches on one WebGPU device. */
export class WebGpuBackend implements Backend {
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
  ) {
    runIndexSelect(this.rt, dtype, gb(x), gb(idx), gb(out), outer, D, inner, J, backward);
  }
  random(
    kind: RandomKind,
    out: DeviceBuffer,
    n: number,
    perSample: number,
    key: RandomKey,
    a: number,
    b: number,
  ) {
    runRandom(this.rt, kind, gb(out), n, perSample, key, a, b);
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
  groupNormBackward(
    x: DeviceBuffer,
    dy: DeviceBuffer,
    stats: DeviceBuffer,
    gamma: DeviceBuffer | null,
    dx: DeviceBuffer,
    dgamma: DeviceBuffer | null,
    dbeta: DeviceBuffer | null,
    a: GroupNormArgs,
  ) {
    runGroupNormBackward(
      this.rt,
      gb(x),
      gb(dy),
      gb(stats),
      gamma && gb(gamma),
      gb(dx),
      dgamma && gb(dgamma),
      dbeta && gb(dbeta),
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
  ) {
    runAttentionBackward(
      this.rt,
      gb(q),
      gb(k),
      gb(v),
      gb(o),
      gb(lse),
      gb(dout),
      gb(dq),
      gb(dk),
      gb(dv),
      gb(dd),
      a,
    );
  }
  schedulerStep(
    spec: SchedulerStepSpec,
    sample: DeviceBuffer,
    modelOutput: DeviceBuffer,
    noise: DeviceBuffer | null,
    prev: DeviceBuffer,
    pred: DeviceBuffer,
    n: number,
    k: SchedulerStepCoefficients,
  ) {
    runSchedulerStep(
      this.rt,
      spec,
      gb(sample),
      gb(modelOutput),
      noise && gb(noise),
      gb(prev),
      gb(pred),
      n,
      k,
    );
  }
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
  ) {
    runNoiseMix(
      this.rt,
      op,
      gb(original),
      gb(noise),
      gb(timesteps),
      gb(table),
      gb(out),
      n,
      perSample,
      timestepCount,
      numTrainTimesteps,
    );
  }
  optimizerStep(
    kind: OptimizerKind,
    param: DeviceBuffer,
    grad: DeviceBuffer,
    state: DeviceBuffer[],
    n: number,
    args: OptimizerStepArgs,
  ) {
    runOptimizerStep(this.rt, kind, gb(param), gb(grad), state.map(gb), n, args);
  }
}
